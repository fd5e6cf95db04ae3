-- Totals of the kept documents (repeat counts a document that many times).
SELECT count(*) AS documents, coalesce(sum(k."repeat"), 0) AS documents_with_repeats,
       coalesce(sum(s.n_chars * k."repeat"), 0) AS characters
FROM $ids k JOIN signals s USING (doc_id)
