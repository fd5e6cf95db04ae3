-- A rewrite dedup mode (substring) applied: its cut texts ($view: doc_id, text, emptied)
-- in place of the relation's ($src), the documents it left too short dropped.
SELECT o.* EXCLUDE (text), coalesce(r.text, o.text) AS text
FROM $src o LEFT JOIN $view r USING (doc_id)
WHERE NOT coalesce(r.emptied, false)
