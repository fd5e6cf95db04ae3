-- All sources' documents as one view. {files}: a DuckDB list literal of docs Parquet files.
CREATE OR REPLACE VIEW docs AS SELECT * FROM read_parquet({files}, union_by_name = true)
