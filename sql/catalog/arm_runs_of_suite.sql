SELECT arm, seed, status, error, dataset_key, model_key, eval_key, curve_path, recipe_hash
FROM arm_runs
WHERE suite = $suite
ORDER BY arm, seed;
