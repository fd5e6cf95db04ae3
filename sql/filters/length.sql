-- Document length bounds (characters and words). Format: see gopher_quality.sql.
-- param: min_chars int 200
-- param: max_chars int 1000000
-- param: min_words int 50
-- rule: too_short_chars
n_chars >= $min_chars
-- rule: too_long_chars
n_chars <= $max_chars
-- rule: too_few_words
n_words >= $min_words
