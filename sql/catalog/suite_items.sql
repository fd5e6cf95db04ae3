-- Per-item scores of every completed arm run of one suite (the paired bootstrap's input).
SELECT r.arm, r.seed, i.task, i.item, i.metric, i.value, i.weight
FROM arm_runs r
JOIN eval_items i USING (eval_key)
WHERE r.suite = $suite AND r.status = 'completed'
ORDER BY r.arm, r.seed, i.task, i.metric, i.item;
