-- Documents of $left whose doc_id is not in $right (signals vs docs accounting).
SELECT count(*) FROM $left ANTI JOIN $right USING (doc_id)
