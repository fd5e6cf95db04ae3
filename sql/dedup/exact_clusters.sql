-- Exact duplicates: the same normalised text (md5) in one scope. Reference documents
-- (an earlier dataset) form their own scope; a target matching one is flagged.
WITH keyed AS (
    SELECT doc_order, scope_key, is_reference,
           md5_number(dedup_norm_text(text, $lower_case, $digits, $punctuation, $whitespace)) AS h
    FROM dedup_docs
), ref AS (
    SELECT DISTINCT h FROM keyed WHERE is_reference
)
SELECT k.doc_order,
       min(k.doc_order) OVER w AS cluster_order,
       count(*) OVER w AS cluster_size,
       k.h IN (SELECT h FROM ref) AS ref_match
FROM keyed k
WHERE NOT k.is_reference
WINDOW w AS (PARTITION BY k.scope_key, k.h)
