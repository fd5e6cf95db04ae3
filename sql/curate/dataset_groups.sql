-- Kept documents and characters per value of $column (language, domain or source).
SELECT coalesce(s.$column, '(none)') AS value, count(*) AS documents, sum(s.n_chars * k."repeat") AS characters
FROM $ids k JOIN signals s USING (doc_id)
GROUP BY ALL ORDER BY documents DESC, value
