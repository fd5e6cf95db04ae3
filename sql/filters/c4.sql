-- C4 document rules (Raffel et al. 2020), as datatrove 0.10.1 C4QualityFilter with its
-- defaults. The line policy (drop lines without terminal punctuation, with < 3 words,
-- a word > 1000 characters, "javascript", or policy/cookie phrases) is fixed in the
-- signals (c4_* columns); these rules act on what it leaves. Format: see gopher_quality.sql.
-- param: min_num_sentences int 5
-- rule: lorem_ipsum
NOT c4_lorem_ipsum
-- rule: curly_bracket
NOT c4_curly_bracket
-- rule: too_few_sentences
c4_sentences >= $min_num_sentences
