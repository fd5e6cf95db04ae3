-- All sources' documents as one view. $files: the quoted, comma-separated docs Parquet files.
CREATE OR REPLACE VIEW docs AS SELECT * FROM read_parquet([$files], union_by_name = true)
