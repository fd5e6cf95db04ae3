-- Characters per source, counted with repeats (the realised mixture).
SELECT source, sum(length(text) * coalesce("repeat", 1)) AS chars
FROM dataset
GROUP BY source
ORDER BY source
