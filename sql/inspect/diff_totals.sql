-- Documents and estimated tokens of one dataset ($files: quoted part-file paths).
SELECT count(*) AS documents, coalesce(sum(length(text) * coalesce("repeat", 1)), 0) / $chars_per_token AS tokens
FROM read_parquet([$files], union_by_name = true)
