-- Language-ID confidence (the recipe's `language.allowed` list picks the languages).
-- datatrove's LanguageFilter keeps a language score strictly above its threshold (default 0.65). Format: see gopher_quality.sql.
-- param: min_score float 0.65
-- rule: language_score
language_score > $min_score
