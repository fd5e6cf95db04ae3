-- Documents and tokens of one dataset ($files: quoted part-file paths): real tokens from
-- $tokens (doc_id, tokens) where counted, else characters x repeats / $chars_per_token.
SELECT count(*) AS documents,
       coalesce(sum(coalesce(k.tokens, length(t.text) * coalesce(t."repeat", 1) / $chars_per_token)), 0) AS tokens
FROM read_parquet([$files], union_by_name = true) t
LEFT JOIN $tokens k USING (doc_id)
