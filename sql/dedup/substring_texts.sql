-- The texts exact-substring dedup reads: the target documents still kept (dedup_alive),
-- their current text (an earlier mode's rewrite, dedup_rewritten, wins), and the unit one
-- suffix array spans: the docs shard (doc_order >> 32: source rank and shard) or the scope.
SELECT d.doc_order, d.doc_id,
       CASE WHEN $per_shard THEN (d.doc_order >> 32)::VARCHAR ELSE d.scope_key::VARCHAR END AS unit,
       coalesce(r.text, d.text, '') AS text
FROM dedup_docs d
JOIN dedup_alive a ON a.doc_order = d.doc_order
LEFT JOIN dedup_rewritten r ON r.doc_order = d.doc_order
WHERE NOT d.is_reference
ORDER BY unit, d.doc_order
