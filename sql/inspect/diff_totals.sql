-- Documents and estimated tokens of one dataset ({files}: a list literal of part files).
SELECT count(*) AS documents, coalesce(sum(length(text) * coalesce("repeat", 1)), 0) / {chars_per_token} AS tokens
FROM read_parquet({files}, union_by_name = true)
