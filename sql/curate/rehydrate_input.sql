-- Rehydration's input: the documents dedup kept with their MinHash cluster size (over the
-- whole dedup pool) and the quality score ($quality: a signals column, or NULL).
SELECT i.doc_id, i.minhash_cluster_size AS cluster_size, $quality AS quality
FROM $ids i JOIN signals s USING (doc_id)
ORDER BY i.doc_id
