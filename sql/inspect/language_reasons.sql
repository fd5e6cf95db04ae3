-- Why the language step removed each document of $ids it removed: not an allowed
-- language first ($allowed: a predicate), else a language-ID score below the minimum.
-- $keep is the step's keep-predicate.
SELECT doc_id,
       CASE WHEN NOT coalesce($allowed, FALSE) THEN 'language.allowed' ELSE 'language.min_score' END AS reason
FROM signals SEMI JOIN $ids USING (doc_id)
WHERE NOT ($keep)
