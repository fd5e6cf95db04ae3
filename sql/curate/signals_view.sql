-- All sources' signals as one view. {files}: a DuckDB list literal of signal Parquet files.
CREATE OR REPLACE VIEW signals AS SELECT * FROM read_parquet({files}, union_by_name = true)
