-- Per document of $ids: its source, URL domain and language and, per rule, whether the
-- document fails it ($fails: one fragments/rule_fails.sql per rule, NULL counts as failing).
SELECT k.doc_id, s.source, s.domain, s.language, $fails
FROM $ids k JOIN signals s USING (doc_id)
ORDER BY k.doc_id
