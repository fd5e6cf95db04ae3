-- Real token counts per document with the suite tokenizer (tasks/train/doc_tokens.py).
-- {files}: a DuckDB list literal of counts.parquet files, one per source.
CREATE OR REPLACE VIEW doc_tokens AS SELECT doc_id, n_tokens FROM read_parquet({files})
