-- Row frame of the documents contract: one row per document, the text replaced by its
-- lengths. doc_id_occurrences is counted over every row, so uniqueness stays exact
-- when the frame is sampled (rows with a repeated id are always kept).
WITH counted AS (
    SELECT doc_id, source, nullif(url, '') AS url, language, language_score, n_chars, n_bytes,
           coalesce(length(text), 0) AS text_chars,
           -- 1 when the text has a visible character (an anchored regex stops at the first one)
           CASE WHEN text IS NULL OR regexp_matches(text, '^[\s\p{Z}]*$') THEN 0 ELSE 1 END AS text_visible,
           count(*) OVER (PARTITION BY doc_id) AS doc_id_occurrences
    FROM docs
)
SELECT *, n_chars - text_chars AS n_chars_error
FROM counted
WHERE doc_id_occurrences > 1 OR text_visible = 0
   OR hash(coalesce(doc_id, '')) % 1000000 < $keep_per_million
