-- Gopher quality rules (Rae et al. 2021, appendix A.1), as datatrove 0.10.1 GopherQualityFilter.
-- Format (all files in sql/filters/): `-- param: NAME TYPE DEFAULT` declares a threshold
-- (TYPE int|float|bool; defaults are datatrove's); each `-- rule: NAME` starts one
-- keep-predicate over signal columns, with thresholds written `$NAME`. A document is
-- kept when every rule is true; a rule whose threshold is set to null is switched off.
-- param: min_doc_words int 50
-- param: max_doc_words int 100000
-- param: min_avg_word_length float 3
-- param: max_avg_word_length float 10
-- param: max_symbol_word_ratio float 0.1
-- param: max_bullet_lines_ratio float 0.9
-- param: max_ellipsis_lines_ratio float 0.3
-- param: max_non_alpha_words_ratio float 0.8
-- param: min_stop_words int 2
-- rule: gopher_short_doc
gopher_n_words >= $min_doc_words
-- rule: gopher_long_doc
gopher_n_words <= $max_doc_words
-- rule: gopher_below_avg_threshold
gopher_mean_word_length >= $min_avg_word_length
-- rule: gopher_above_avg_threshold
gopher_mean_word_length <= $max_avg_word_length
-- rule: gopher_too_many_hashes
gopher_hash_word_ratio <= $max_symbol_word_ratio
-- rule: gopher_too_many_ellipsis
gopher_ellipsis_word_ratio <= $max_symbol_word_ratio
-- rule: gopher_too_many_bullets
gopher_bullet_lines_frac <= $max_bullet_lines_ratio
-- rule: gopher_too_many_end_ellipsis
gopher_ellipsis_lines_frac <= $max_ellipsis_lines_ratio
-- rule: gopher_below_alpha_threshold
gopher_alpha_words_frac >= $max_non_alpha_words_ratio
-- rule: gopher_enough_stop_words
gopher_stop_words >= $min_stop_words
