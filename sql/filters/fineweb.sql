-- FineWeb quality rules (Penedo et al. 2024), as datatrove 0.10.1 FineWebQualityFilter.
-- short lines are lines of <= 30 characters (datatrove's short_line_length). Format: see gopher_quality.sql.
-- param: line_punct_thr float 0.12
-- param: short_line_thr float 0.67
-- param: char_duplicates_ratio float 0.01
-- param: new_line_ratio float 0.3
-- rule: empty
fineweb_lines > 0
-- rule: line_punct_ratio
fineweb_punct_lines_frac >= $line_punct_thr
-- rule: short_line_ratio
fineweb_short_lines_frac <= $short_line_thr
-- rule: char_dup_ratio
fineweb_dup_line_char_frac <= $char_duplicates_ratio
-- rule: list_ratio
fineweb_newline_word_ratio <= $new_line_ratio
