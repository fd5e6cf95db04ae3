-- Candidates for selection: the surviving ids with what scorers and the mixer read
-- (n_tokens: real tokens of the suite tokenizer, null where unknown or the text was rewritten).
SELECT i.*, d.source, d.domain, d.url, d.text, s.n_chars,
       CASE WHEN i.text_rewritten IS NULL THEN t.n_tokens END AS n_tokens
FROM $ids i JOIN docs d USING (doc_id) JOIN signals s USING (doc_id) LEFT JOIN doc_tokens t USING (doc_id)
