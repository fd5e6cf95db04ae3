"""The signals table: its columns, the version that names its folder, and its contract.

Undefined values: every fraction or ratio whose denominator is zero (empty document,
no words, no lines) is 0.0, and so is the mean word length of a document without
words; no signal column is null except `language`/`language_score` when the
documents carry none, the URL features when there is no URL, and `signals_error`
(set only for a document whose signals failed: it then carries an empty text's signals).
"""

from __future__ import annotations

import math

import pyarrow as pa

# Bump when a definition changes: it is part of the signals folder name and cache key.
SIGNALS_VERSION = "v2"  # v2: language fallback is lid.176 (tasks.ingest.langid)
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

# Signal columns: name -> Arrow type. The order is the file's column order.
SIGNAL_FIELDS: list[tuple[str, pa.DataType]] = [
    ("doc_id", pa.string()),
    ("source", pa.string()),
    # lengths and shape
    ("n_chars", pa.int64()),
    ("n_bytes", pa.int64()),
    ("n_lines", pa.int32()),  # len(text.splitlines())
    ("n_words", pa.int32()),  # datatrove words (spaCy tokens, whitespace dropped)
    # language and URL
    ("language", pa.string()),  # from ingest; lid.176 where ingest gave none
    ("language_score", pa.float32()),
    ("domain", pa.string()),  # host, lower-case, without port and leading "www."
    ("tld", pa.string()),  # last label of the host
    ("url_length", pa.int32()),
    # Gopher quality
    ("gopher_n_words", pa.int32()),  # words with a non-punctuation character
    ("gopher_mean_word_length", pa.float64()),  # over those words
    ("gopher_hash_word_ratio", pa.float64()),  # count("#") / n_words (can exceed 1)
    ("gopher_ellipsis_word_ratio", pa.float64()),  # (count("...") + count("…")) / n_words
    ("gopher_bullet_lines_frac", pa.float64()),  # lines starting with • or - (after lstrip)
    ("gopher_ellipsis_lines_frac", pa.float64()),  # lines ending with ... or … (after rstrip)
    ("gopher_alpha_words_frac", pa.float64()),  # words with an alphabetic character
    ("gopher_stop_words", pa.int8()),  # distinct stop words present (0..8)
    # Gopher repetition
    ("rep_dup_para_frac", pa.float64()),
    ("rep_dup_para_char_frac", pa.float64()),
    ("rep_dup_line_frac", pa.float64()),
    ("rep_dup_line_char_frac", pa.float64()),
    *[(f"rep_top_{n}_gram_char_frac", pa.float64()) for n in TOP_NGRAMS],
    *[(f"rep_dup_{n}_gram_char_frac", pa.float64()) for n in DUP_NGRAMS],
    # C4 (line policy of C4QualityFilter defaults, evaluated over every line)
    ("c4_lines", pa.int32()),
    ("c4_lines_kept", pa.int32()),
    ("c4_kept_chars", pa.int64()),  # length of the text C4 would keep
    ("c4_lines_dropped_frac", pa.float64()),
    ("c4_lines_too_long_word", pa.int32()),
    ("c4_lines_no_terminal_punct", pa.int32()),
    ("c4_lines_too_few_words", pa.int32()),
    ("c4_lines_javascript", pa.int32()),
    ("c4_lines_policy", pa.int32()),
    ("c4_sentences", pa.int32()),  # sentences in the kept lines
    ("c4_lorem_ipsum", pa.bool_()),  # a candidate line says "lorem ipsum"
    ("c4_curly_bracket", pa.bool_()),  # a candidate line has "{"
    # FineWeb
    ("fineweb_lines", pa.int32()),  # non-blank lines of text.split("\n")
    ("fineweb_punct_lines_frac", pa.float64()),
    ("fineweb_short_lines_frac", pa.float64()),
    ("fineweb_dup_line_char_frac", pa.float64()),
    ("fineweb_newline_word_ratio", pa.float64()),  # count("\n") / n_words (can exceed 1)
    # A document whose signals could not be computed gets the signals of an empty text
    # (so every quality filter drops it) and the error here; null otherwise.
    ("signals_error", pa.string()),
]
SIGNALS_SCHEMA = pa.schema(SIGNAL_FIELDS)

# datatrove's top n-gram "character fraction" counts overlapping occurrences
# (count x n-gram length / document length), so a text like "ha ha ha ..." exceeds 1.
UNBOUNDED_FRACS = {f"rep_top_{n}_gram_char_frac" for n in TOP_NGRAMS}
_NULLABLE = {"language", "language_score", "domain", "tld", "url_length", "signals_error", "doc_id", "source"}


def check_signals(table: pa.Table, where: str = "signals") -> None:
    """The signals contract: fractions in [0, 1], ratios >= 0, no nulls where none are
    defined. A violation is a bug in this module, so it stops the shard loudly."""
    import pyarrow.compute as pc

    for name in table.column_names:
        column = table.column(name)
        if name not in _NULLABLE and column.null_count:
            raise ValueError(f"{where}: signal {name} has {column.null_count} nulls")
        if pa.types.is_floating(column.type) and name not in _NULLABLE and len(column):
            lo, hi = pc.min(column).as_py(), pc.max(column).as_py()
            if (
                lo < 0
                or (name.endswith("_frac") and name not in UNBOUNDED_FRACS and hi > 1)
                or any(map(math.isnan, (lo, hi)))
            ):
                raise ValueError(f"{where}: signal {name} out of range [{lo}, {hi}]")
