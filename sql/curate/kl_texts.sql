-- Every candidate's text and whether the dataset kept it (for the KL reduction).
SELECT d.text, (k.doc_id IS NOT NULL) AS kept
FROM $candidates c JOIN docs d USING (doc_id) LEFT JOIN $ids k USING (doc_id)
ORDER BY c.doc_id
