-- Per-rule removals in one scan. {first_fail}: the 1-based index of the first rule a
-- document fails in the recipe's order (0 = kept); {alone}: one count per rule of
-- the documents that rule fails on its own. {source}: the signals relation.
SELECT {first_fail} AS first_fail, count(*) AS documents, {alone}
FROM {source}
GROUP BY ALL
ORDER BY first_fail
