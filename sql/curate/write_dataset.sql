-- The dataset file: the kept documents' text (rewritten by line-level dedup where it was)
-- and whatever the steps attached (repeat, phase, cluster sizes, scores), in a stable order.
COPY (
    SELECT d.doc_id, d.source, d.url, coalesce(k.text_rewritten, d.text) AS text,
           k."repeat"::INTEGER AS "repeat", k.* EXCLUDE (doc_id, "repeat", text_rewritten)
    FROM $ids k JOIN docs d USING (doc_id)
    ORDER BY d.source, d.doc_id
) TO $path (FORMAT parquet, COMPRESSION zstd)
