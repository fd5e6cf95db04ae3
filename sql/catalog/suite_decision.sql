-- The declared decision of one suite (NULL row set when the suite never ran through flows.ablation).
SELECT decision, seeds, arms
FROM suites
WHERE suite = $suite;
