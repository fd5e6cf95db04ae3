-- The documents of $ids with their characters (the token estimate without a tokenizer).
SELECT k.doc_id, s.n_chars
FROM $ids k JOIN signals s USING (doc_id)
ORDER BY k.doc_id
