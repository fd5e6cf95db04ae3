-- Per-rule removals in one scan. first_fail: the 1-based index of the first rule a
-- document fails in the recipe's order (0 = kept); $first_fail_whens: one
-- fragments/rule_first_fail.sql per rule; $alone: one fragments/rule_removed_alone.sql
-- per rule (the documents that rule fails on its own). $source: the signals relation.
SELECT CASE $first_fail_whens ELSE 0 END AS first_fail, count(*) AS documents, $alone
FROM $source
GROUP BY ALL
ORDER BY first_fail
