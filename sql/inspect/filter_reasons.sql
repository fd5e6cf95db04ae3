-- Why the filter step removed each document of $ids it removed: the first rule it fails
-- in the recipe's order ($first_fail_whens: one curate/fragments/rule_first_fail.sql per
-- rule, naming the rule's key). $keep: every rule true.
SELECT doc_id, CASE $first_fail_whens ELSE NULL END AS reason
FROM signals SEMI JOIN $ids USING (doc_id)
WHERE NOT ($keep)
