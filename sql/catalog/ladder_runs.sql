-- A ladder rung's completed arms ($suite = `<suite>.<preset>`) with their compute:
-- parameters, tokens trained, training and evaluation seconds.
SELECT r.arm, r.seed, t.n_params, t.tokens_trained, t.epochs, t.device,
       t.seconds AS train_seconds, e.seconds AS eval_seconds
FROM arm_runs r
LEFT JOIN train_runs t ON t.model_dir LIKE '%/' || r.model_key
LEFT JOIN eval_runs e ON e.eval_key = r.eval_key
WHERE r.suite = $suite AND r.status = 'completed'
ORDER BY r.arm, r.seed;
