-- The suites an arm ran in, latest first, with its dataset.
SELECT suite, dataset_key, finished_at
FROM arm_runs
WHERE arm = $arm AND status = 'completed' AND dataset_key IS NOT NULL
ORDER BY finished_at DESC;
