-- A seeded sample of the documents a curate step kept but cut text out of (_rewritten:
-- doc_id, reason and the step's detail columns, e.g. the removed spans). Per reason, the
-- $n documents first in hash(doc_id, $seed) order, as sample_removed.sql draws removals.
WITH ranked AS (
    SELECT *,
           count(*) OVER (PARTITION BY reason) AS removed_for_reason,
           row_number() OVER (PARTITION BY reason ORDER BY hash(doc_id || ':' || $seed), doc_id) AS sample_rank
    FROM _rewritten
)
SELECT * FROM ranked WHERE sample_rank <= $n ORDER BY reason, sample_rank
