-- The dataset file: the kept documents' text in a stable order.
COPY (
    SELECT d.doc_id, d.source, d.url, d.text, k."repeat"::INTEGER AS "repeat", k.* EXCLUDE (doc_id, "repeat")
    FROM {ids} k JOIN docs d USING (doc_id)
    ORDER BY d.source, d.doc_id
) TO {path} (FORMAT parquet, COMPRESSION zstd)
