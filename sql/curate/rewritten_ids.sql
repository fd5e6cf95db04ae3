-- The surviving ids whose text an earlier step changed (line-level dedup): a cached scan
-- of the source's original text does not hold for them, so decontamination rescans them.
-- (Line dedup sets text_rewritten on every document it keeps, changed or not.)
SELECT i.doc_id FROM $ids i JOIN docs d USING (doc_id)
WHERE i.text_rewritten IS NOT NULL AND i.text_rewritten IS DISTINCT FROM d.text
