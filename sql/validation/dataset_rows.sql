-- Row frame of the dataset contract: ids counted over all rows (exact) within a phase
-- (a final phase may repeat a main-phase document; phase is NULL without phases), each
-- row joined to the documents of its own source (in_source, language).
WITH d AS (
    SELECT doc_id, source, phase, coalesce(length(text), 0) AS text_chars, "repeat", eval_overlap,
           count(*) OVER (PARTITION BY doc_id, phase) AS doc_id_occurrences
    FROM dataset
), s AS (
    SELECT doc_id, source, any_value(language) AS language FROM source_docs GROUP BY doc_id, source
)
SELECT d.*, s.doc_id IS NOT NULL AS in_source, s.language
FROM d LEFT JOIN s ON d.doc_id = s.doc_id AND d.source = s.source
WHERE d.doc_id_occurrences > 1 OR s.doc_id IS NULL OR d.eval_overlap > 0
   OR hash(coalesce(d.doc_id, '')) % 1000000 < $keep_per_million
