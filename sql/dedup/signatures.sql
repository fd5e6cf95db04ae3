-- Signatures of the documents in candidate pairs (global order), for verification.
SELECT (f.source_rank::BIGINT << 48) | s.doc_order AS doc_order, s.signature
FROM dedup_sigs_raw s
JOIN dedup_sig_files f ON s.filename = f.path
WHERE ((f.source_rank::BIGINT << 48) | s.doc_order) IN (SELECT doc_order FROM dedup_nodes)
