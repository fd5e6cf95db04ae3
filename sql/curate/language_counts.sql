-- The language step's removals over the candidates $ids: not an allowed language
-- ($allowed: a predicate), then a language-ID score below $min_score.
SELECT count(*) AS documents,
       count_if(NOT coalesce($allowed, FALSE)) AS removed_language,
       count_if(NOT coalesce(language_score >= $min_score, FALSE)) AS removed_score_alone,
       count_if(coalesce($allowed, FALSE) AND NOT coalesce(language_score >= $min_score, FALSE)) AS removed_score
FROM signals SEMI JOIN $ids USING (doc_id)
