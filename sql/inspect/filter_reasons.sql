-- Why the filter step removed each document of {ids} it removed: the first rule it fails
-- in the recipe's order ({first_fail}: a CASE naming the rule). {keep}: every rule true.
SELECT doc_id, {first_fail} AS reason
FROM signals SEMI JOIN {ids} USING (doc_id)
WHERE NOT ({keep})
