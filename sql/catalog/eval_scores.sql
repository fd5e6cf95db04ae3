-- The headline scores of every evaluation of one model ($1 = model_key), newest first.
SELECT eval_key, model_key, item_limit, full_suite, n_items, mean_centered_acc, mean_bpb, seconds, finished_at
FROM eval_runs
WHERE model_key = $1
ORDER BY finished_at DESC;
