-- Real token counts per document with the suite tokenizer (tasks/train/doc_tokens.py).
-- $files: the quoted, comma-separated counts.parquet files, one per source.
CREATE OR REPLACE VIEW doc_tokens AS SELECT doc_id, n_tokens FROM read_parquet([$files])
