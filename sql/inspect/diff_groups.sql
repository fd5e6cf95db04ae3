-- Documents and tokens of $table per value of $column (source, domain or language).
SELECT $column AS value, count(*) AS documents, sum(tokens) AS tokens
FROM $table GROUP BY ALL ORDER BY tokens DESC, value LIMIT $limit
