-- Every arm name the catalog knows, with the suites it ran in (for error messages).
SELECT arm, list(DISTINCT suite ORDER BY suite) AS suites FROM arm_runs GROUP BY arm ORDER BY arm;
