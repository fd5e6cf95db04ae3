-- A dataset's documents with the token counts curate stored per source document
-- (tasks/train/doc_tokens.py): n_tokens where the dataset's text is the source's, else null
-- with the text to encode (a curate step rewrote it, or its source has no stored counts).
-- In the dataset files' row order. $dataset: the dataset's part files; $docs: its sources'
-- shard files; $counts: their counts.parquet files (doc_id, n_tokens).
WITH k AS (
    SELECT doc_id, text, "repeat", filename, file_row_number
    FROM read_parquet([$dataset], union_by_name = true, filename = true, file_row_number = true)
),
s AS (  -- a doc_id held twice (two sources, two counts) is left to be encoded
    SELECT d.doc_id, any_value(d.text) AS text, any_value(c.n_tokens) AS n_tokens
    FROM read_parquet([$docs], union_by_name = true) d
    JOIN read_parquet([$counts]) c USING (doc_id)
    WHERE d.doc_id IN (SELECT doc_id FROM k)
    GROUP BY d.doc_id
    HAVING count(*) = 1
)
SELECT k.doc_id, k."repeat",
       CASE WHEN s.doc_id IS NOT NULL AND k.text IS NOT DISTINCT FROM s.text THEN s.n_tokens END AS n_tokens,
       CASE WHEN s.doc_id IS NULL OR k.text IS DISTINCT FROM s.text THEN k.text END AS text
FROM k LEFT JOIN s USING (doc_id)
ORDER BY k.filename, k.file_row_number
