-- What one step removed from the pool: the ids of $before that are not in $after.
SELECT doc_id FROM $before
EXCEPT
SELECT doc_id FROM $after
