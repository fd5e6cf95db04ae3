-- URL duplicates: the same normalised URL in one scope; a document without a URL is
-- its own cluster. Reference documents are matched like in exact_clusters.sql.
WITH keyed AS (
    SELECT doc_order, scope_key, is_reference,
           coalesce(dedup_norm_url(url, $strip_query), 'doc:' || doc_order::VARCHAR) AS u
    FROM dedup_docs
), ref AS (
    SELECT DISTINCT u FROM keyed WHERE is_reference
)
SELECT k.doc_order,
       min(k.doc_order) OVER w AS cluster_order,
       count(*) OVER w AS cluster_size,
       k.u IN (SELECT u FROM ref) AS ref_match
FROM keyed k
WHERE NOT k.is_reference
WINDOW w AS (PARTITION BY k.scope_key, k.u)
