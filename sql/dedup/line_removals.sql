-- CCNet-style boilerplate: line (or paragraph) hashes that occur more than
-- $max_count times in one scope. Blank lines never count.
SELECT scope_key, hash(dedup_norm_line(line)) AS h, count(*) AS n
FROM (
    SELECT scope_key, unnest(dedup_split_lines(text, $paragraphs)) AS line
    FROM dedup_docs WHERE NOT is_reference
)
WHERE dedup_norm_line(line) <> ''
GROUP BY ALL
HAVING count(*) > $max_count
