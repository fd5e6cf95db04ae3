-- The language step's score predicate. $min_score: a numeric literal.
language_score >= $min_score
