-- The dataset each arm of a suite trained on (one row per arm: its latest completed seed).
SELECT arm, any_value(dataset_key ORDER BY finished_at DESC) AS dataset_key, any_value(recipe ORDER BY finished_at DESC) AS recipe
FROM arm_runs
WHERE suite = $suite AND status = 'completed' AND dataset_key IS NOT NULL
GROUP BY arm
ORDER BY arm;
