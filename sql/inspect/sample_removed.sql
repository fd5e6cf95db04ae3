-- A seeded sample of what one curate step removed: the ids in $before and not in $after,
-- each with its reason from _explained (the step's own, where it knows one; else
-- $default_reason) and whatever the step attached. Per reason, the $n documents first in
-- hash(doc_id, $seed) order: the same documents on every rerun, independent of file order.
WITH removed AS (
    SELECT b.doc_id FROM $before b ANTI JOIN $after a USING (doc_id)
), why AS (
    SELECT r.doc_id, coalesce(e.reason, $default_reason) AS reason, e.* EXCLUDE (doc_id, reason)
    FROM removed r LEFT JOIN _explained e USING (doc_id)
), ranked AS (
    SELECT *,
           count(*) OVER (PARTITION BY reason) AS removed_for_reason,
           row_number() OVER (PARTITION BY reason ORDER BY hash(doc_id || ':' || $seed), doc_id) AS sample_rank
    FROM why
)
SELECT * FROM ranked WHERE sample_rank <= $n ORDER BY reason, sample_rank
