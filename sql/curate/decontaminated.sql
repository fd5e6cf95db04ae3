-- The ids that decontamination kept (_clean), with their columns; a masked text
-- (mode: mask) replaces the current one.
CREATE OR REPLACE TEMP TABLE {out} AS
SELECT i.* REPLACE (coalesce(c.text_rewritten, i.text_rewritten) AS text_rewritten)
FROM {ids} i JOIN (SELECT doc_id, {rewritten} AS text_rewritten FROM _clean) c USING (doc_id)
