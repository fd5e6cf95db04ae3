-- Every number of every completed arm run of one ladder rung ($suite = `<suite>.<preset>`),
-- per seed: the leaderboard view averages the seeds, the ladder's noise ceiling needs them apart.
SELECT m.arm, m.seed, m.metric, m.value
FROM arm_metrics m
JOIN arm_runs r USING (suite, arm, seed)
WHERE m.suite = $suite AND r.status = 'completed'
ORDER BY m.arm, m.seed, m.metric;
