-- Documents that C4's line cleaning would mostly empty: a cap on the fraction of lines
-- C4 drops and a floor on the characters it keeps. Format: see gopher_quality.sql.
-- param: max_dropped_lines_frac float 0.9
-- param: min_kept_chars int 200
-- rule: c4_mostly_dropped
c4_lines_dropped_frac <= $max_dropped_lines_frac
-- rule: c4_little_kept
c4_kept_chars >= $min_kept_chars
