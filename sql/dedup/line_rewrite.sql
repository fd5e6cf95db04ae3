-- Documents rewritten without their boilerplate lines (only those that change), with
-- what was removed: lines and the fraction of characters; `emptied` when nothing is left.
WITH parts AS (
    SELECT doc_order, doc_id, scope_key,
           unnest(dedup_split_lines(text, $paragraphs)) AS line,
           generate_subscripts(dedup_split_lines(text, $paragraphs), 1) AS i
    FROM dedup_docs WHERE NOT is_reference
), marked AS (
    SELECT p.*, r.h IS NOT NULL AS removed
    FROM parts p LEFT JOIN dedup_line_removals r
      ON p.scope_key = r.scope_key AND hash(dedup_norm_line(p.line)) = r.h
)
SELECT doc_id, doc_order,
       coalesce(string_agg(line, CASE WHEN $paragraphs THEN chr(10) || chr(10) ELSE chr(10) END ORDER BY i)
                FILTER (WHERE NOT removed), '') AS text,
       bool_and(removed OR trim(line) = '') AS emptied,
       count(*) FILTER (WHERE removed)::INTEGER AS lines_removed,
       count(*)::INTEGER AS lines_total,
       coalesce(sum(length(line)) FILTER (WHERE removed), 0)::DOUBLE
           / greatest(sum(length(line)), 1) AS removed_frac
FROM marked
GROUP BY doc_id, doc_order
HAVING bool_or(removed)
