-- The language step's score predicate (strictly above, as datatrove's LanguageFilter). $min_score: a numeric literal.
language_score > $min_score
