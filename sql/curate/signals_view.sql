-- All sources' signals as one view. $files: the quoted, comma-separated signal Parquet files.
CREATE OR REPLACE VIEW signals AS SELECT * FROM read_parquet([$files], union_by_name = true)
