-- Candidate near-duplicate pairs from the LSH buckets of one hash partition
-- ($lo <= band_hash <= $hi; the whole uint64 range for a local run). Documents
-- sharing a (band, band_hash) bucket in one scope are linked to the bucket's first
-- document: a star, linear in the bucket size, which connected components close.
-- Every target is also linked to the first reference document of its bucket.
WITH part AS (
    SELECT doc_order, scope_key, is_reference, band, band_hash
    FROM dedup_bands
    WHERE band_hash BETWEEN $lo AND $hi
), buckets AS (
    SELECT scope_key, band, band_hash, min(doc_order) AS rep
    FROM part WHERE NOT is_reference
    GROUP BY ALL HAVING count(*) > 1
), ref_buckets AS (
    SELECT band, band_hash, min(doc_order) AS rep
    FROM part WHERE is_reference
    GROUP BY ALL
)
SELECT p.doc_order AS a, b.rep AS b
FROM part p JOIN buckets b USING (scope_key, band, band_hash)
WHERE NOT p.is_reference AND p.doc_order <> b.rep
UNION
SELECT p.doc_order AS a, r.rep AS b
FROM part p JOIN ref_buckets r USING (band, band_hash)
WHERE NOT p.is_reference
