-- The ids that decontamination kept (_clean), with their columns; a masked text
-- (mode: mask; NULL otherwise) replaces the current one.
CREATE OR REPLACE TEMP TABLE $out AS
SELECT i.* REPLACE (coalesce(c.text_rewritten, i.text_rewritten) AS text_rewritten)
FROM $ids i JOIN (SELECT doc_id, text_rewritten FROM _clean) c USING (doc_id)
