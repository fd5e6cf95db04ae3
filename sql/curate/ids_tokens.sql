-- The ids with their real token counts (null where a step rewrote the text: recounted in
-- Python), in a fixed pseudo-random order (hash of doc_id) for the greedy budget fill.
SELECT i.doc_id, i."repeat",
       CASE WHEN i.text_rewritten IS NULL THEN t.n_tokens END AS n_tokens, i.text_rewritten
FROM $ids i LEFT JOIN doc_tokens t USING (doc_id)
ORDER BY hash(i.doc_id), i.doc_id
