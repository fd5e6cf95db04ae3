-- Texts of the documents in candidate pairs, for exact-Jaccard verification.
SELECT doc_order, text FROM dedup_docs WHERE doc_order IN (SELECT doc_order FROM dedup_nodes)
