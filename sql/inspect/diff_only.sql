-- The documents of one dataset ($this: quoted part-file paths) that the other ($other)
-- does not hold, with source, domain, language and tokens: real tokens from $tokens
-- (doc_id, tokens: encoded text + EOS, times repeats) where counted, else characters of the
-- text as trained, times its repeats, / $chars_per_token.
CREATE OR REPLACE TEMP TABLE $out AS
SELECT t.doc_id, t.source, t.url, t.text,
       coalesce(s.domain, '(none)') AS domain, coalesce(s.language, '(none)') AS language,
       coalesce(k.tokens, length(t.text) * coalesce(t."repeat", 1) / $chars_per_token) AS tokens
FROM (SELECT * FROM read_parquet([$this], union_by_name = true)
      WHERE doc_id NOT IN (SELECT doc_id FROM read_parquet([$other], union_by_name = true))) t
LEFT JOIN signals s USING (doc_id)
LEFT JOIN $tokens k USING (doc_id)
