-- Language and domain of every document of both datasets' sources. $files: quoted
-- signal Parquet paths (tasks.core.sqlfiles.string_list).
CREATE OR REPLACE VIEW signals AS
SELECT doc_id, domain, language FROM read_parquet([$files], union_by_name = true)
