-- Dedup's input: the surviving ids with their current text (line-level dedup reads it).
SELECT i.* EXCLUDE (text_rewritten), coalesce(i.text_rewritten, d.text) AS text
FROM $ids i JOIN docs d USING (doc_id)
