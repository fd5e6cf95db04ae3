-- Gopher repetition rules (Rae et al. 2021, table A1), as datatrove 0.10.1 GopherRepetitionFilter.
-- Format: see gopher_quality.sql.
-- param: dup_line_frac float 0.3
-- param: dup_para_frac float 0.3
-- param: dup_line_char_frac float 0.2
-- param: dup_para_char_frac float 0.2
-- param: top_2_gram_frac float 0.2
-- param: top_3_gram_frac float 0.18
-- param: top_4_gram_frac float 0.16
-- param: dup_5_gram_frac float 0.15
-- param: dup_6_gram_frac float 0.14
-- param: dup_7_gram_frac float 0.13
-- param: dup_8_gram_frac float 0.12
-- param: dup_9_gram_frac float 0.11
-- param: dup_10_gram_frac float 0.10
-- rule: empty
n_chars > 0
-- rule: dup_para_frac
rep_dup_para_frac <= $dup_para_frac
-- rule: dup_para_char_frac
rep_dup_para_char_frac <= $dup_para_char_frac
-- rule: dup_line_frac
rep_dup_line_frac <= $dup_line_frac
-- rule: dup_line_char_frac
rep_dup_line_char_frac <= $dup_line_char_frac
-- rule: top_2_gram
rep_top_2_gram_char_frac <= $top_2_gram_frac
-- rule: top_3_gram
rep_top_3_gram_char_frac <= $top_3_gram_frac
-- rule: top_4_gram
rep_top_4_gram_char_frac <= $top_4_gram_frac
-- rule: duplicated_5_n_grams
rep_dup_5_gram_char_frac <= $dup_5_gram_frac
-- rule: duplicated_6_n_grams
rep_dup_6_gram_char_frac <= $dup_6_gram_frac
-- rule: duplicated_7_n_grams
rep_dup_7_gram_char_frac <= $dup_7_gram_frac
-- rule: duplicated_8_n_grams
rep_dup_8_gram_char_frac <= $dup_8_gram_frac
-- rule: duplicated_9_n_grams
rep_dup_9_gram_char_frac <= $dup_9_gram_frac
-- rule: duplicated_10_n_grams
rep_dup_10_gram_char_frac <= $dup_10_gram_frac
