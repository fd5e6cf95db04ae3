-- The contract runs recorded for some validated keys (the arm flow checks its own ran).
SELECT suite, key, success, n_expectations, finished_at
FROM validation_runs
WHERE list_contains($keys, key)
ORDER BY finished_at
