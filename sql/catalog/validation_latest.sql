-- The latest contract run per suite and key, with its failed and warned expectations.
SELECT r.suite, r.key, r.success, r.n_rows, r.n_failed, r.n_warned, r.data_docs, r.finished_at,
       list(v.expectation ORDER BY v.expectation) FILTER (WHERE NOT v.success) AS not_met
FROM validation_runs r
LEFT JOIN validation_results v USING (run_id)
WHERE r.finished_at = (SELECT max(finished_at) FROM validation_runs x WHERE x.suite = r.suite AND x.key = r.key)
GROUP BY ALL
ORDER BY r.finished_at DESC
