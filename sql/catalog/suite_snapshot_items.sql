-- Per-item scores of every evaluation snapshot (the last steps of training) of every
-- completed arm run of one suite: the checkpoint-noise input of tasks/report/decide.py.
SELECT r.arm, r.seed, s.step, s.task, s.item, s.metric, s.value, s.weight
FROM arm_runs r
JOIN eval_snapshot_items s USING (eval_key)
WHERE r.suite = $suite AND r.status = 'completed'
ORDER BY r.arm, r.seed, s.step, s.task, s.metric, s.item;
