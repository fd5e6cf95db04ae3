-- The target documents (not the earlier dataset) with the columns keep policies use.
SELECT doc_order, doc_id, source, n_chars, crawl_date, quality
FROM dedup_docs WHERE NOT is_reference ORDER BY doc_order
