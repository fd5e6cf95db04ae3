-- The language step's allowed-language predicate. $codes: quoted ISO codes, validated by LanguageSpec.
language IN ($codes)
