-- LSH band hashes of every input with the global document order of dedup_docs.
CREATE OR REPLACE TEMP VIEW dedup_bands AS
SELECT (f.source_rank::BIGINT << 48) | b.doc_order AS doc_order,
       f.scope_key, f.is_reference, b.band, b.band_hash
FROM dedup_bands_raw b
JOIN dedup_band_files f ON b.filename = f.path
