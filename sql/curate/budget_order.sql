-- Token budget without a mixture: the candidates in a fixed pseudo-random order (hash of
-- doc_id) with their estimated tokens (characters / $chars_per_token, times repeats).
SELECT i.doc_id, s.n_chars * i."repeat" / $chars_per_token AS doc_tokens
FROM $ids i JOIN signals s USING (doc_id)
ORDER BY hash(i.doc_id), i.doc_id
