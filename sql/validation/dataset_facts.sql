-- Whole-dataset facts: rows, distinct texts (exact duplicates after dedup) and
-- characters counted with their repeats (for the token estimate).
SELECT count(*) AS n_rows,
       count(DISTINCT hash(text)) AS distinct_texts,
       coalesce(sum(length(text) * coalesce("repeat", 1)), 0) AS chars_with_repeats
FROM dataset
