-- docs_view.sql's join to the registered per-document quality scores (keep policy `quality`).
LEFT JOIN dedup_quality q ON q.doc_id = d.doc_id
