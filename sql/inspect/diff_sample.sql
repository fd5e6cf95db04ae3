-- A seeded sample of $table: the $n documents first in hash(doc_id, $seed) order.
SELECT doc_id, source, url, domain, language, tokens, left(text, $max_chars) AS text
FROM $table ORDER BY hash(doc_id || ':' || $seed), doc_id LIMIT $n
