-- Every input document once, with its global first-seen order (input rank << 48 |
-- shard << 32 | row; the minhash stage numbers rows the same way) and its scope.
-- $url / $crawl_date / $n_chars are columns of d, or NULL casts when an input lacks them;
-- $quality and $quality_join: the quality score and fragments/quality_join.sql, or NULL and nothing.
CREATE OR REPLACE TEMP VIEW dedup_docs AS
SELECT d.doc_id, f.source, f.is_reference, f.scope_key,
       (f.source_rank::BIGINT << 48) | (f.shard_index::BIGINT << 32) | d.file_row_number::BIGINT AS doc_order,
       $url AS url, $crawl_date AS crawl_date, coalesce($n_chars, length(d.text))::BIGINT AS n_chars,
       $quality AS quality, d.text
FROM dedup_raw d
JOIN dedup_files f ON d.filename = f.path
$quality_join
