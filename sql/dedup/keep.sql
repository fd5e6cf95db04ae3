-- One kept document per cluster among the documents still alive, by the recipe's
-- policy ($order_by, a whitelisted ORDER BY). A cluster that holds a document of
-- an earlier dataset (ref_match) keeps none. Documents without a cluster are kept.
SELECT doc_order,
       cluster_order IS NULL
       OR (NOT coalesce(ref_match, false)
           AND row_number() OVER (PARTITION BY cluster_order ORDER BY $order_by) = 1) AS keep
FROM dedup_alive
