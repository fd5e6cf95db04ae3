-- Token budget without a mixture: keep documents in a fixed pseudo-random order
-- (hash of doc_id) while the estimated tokens (characters / {chars_per_token}) stay within {budget}.
CREATE OR REPLACE TEMP TABLE {out} AS
WITH ordered AS (
    SELECT i.*, sum(s.n_chars * i."repeat") OVER (ORDER BY hash(i.doc_id), i.doc_id ROWS UNBOUNDED PRECEDING)
           / {chars_per_token} AS tokens_so_far,
           s.n_chars * i."repeat" / {chars_per_token} AS doc_tokens
    FROM {ids} i JOIN signals s USING (doc_id)
)
SELECT * EXCLUDE (tokens_so_far, doc_tokens) FROM ordered WHERE tokens_so_far <= {budget}
