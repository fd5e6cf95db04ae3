-- Language and domain of every document of both datasets' sources. {files}: a DuckDB
-- list literal of signal Parquet files.
CREATE OR REPLACE VIEW signals AS
SELECT doc_id, domain, language FROM read_parquet({files}, union_by_name = true)
