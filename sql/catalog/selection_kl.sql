-- Every recipe's selection with its DSIR KL reduction, best first.
SELECT recipe, method, seed, n_candidates, n_selected, tokens_selected, tokens_planned, kl_reduction
FROM selection_runs
ORDER BY kl_reduction DESC NULLS LAST, recipe;
