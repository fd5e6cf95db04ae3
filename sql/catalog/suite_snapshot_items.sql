-- Per-item held-out scores of every evaluation snapshot (and the final model) of every
-- completed arm run of one suite: training noise from checkpoint-to-checkpoint spread.
SELECT r.arm, r.seed, s.step, s.task, s.item, s.metric, s.value, s.weight
FROM arm_runs r
JOIN eval_snapshot_items s USING (eval_key)
WHERE r.suite = $suite AND r.status = 'completed'
ORDER BY r.arm, r.seed, s.step, s.task, s.metric, s.item;
