"""The straightforward decontaminator (Python sets of word tuples): the oracle the tests
and the peer bench/validation.py compare the hashed scan (tasks/decontam/decontaminate.py) with.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from tasks.decontam.index import normalize_words


def reference_index(items: pa.Table, n: int = 13, min_item_words: int = 8) -> tuple[set, set]:
    """The straightforward index: Python sets of word-tuple n-grams (and whole short items)."""
    grams: set[tuple[str, ...]] = set()
    shorts: set[tuple[str, ...]] = set()
    for text in items["text"].to_pylist():
        w = normalize_words(text or "")
        if len(w) >= n:
            grams.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
        elif len(w) >= min_item_words:
            shorts.add(tuple(w))
    return grams, shorts


def reference_scan(texts: Sequence[str], index: tuple[set, set], n: int = 13) -> list[int]:
    """Indexes of the texts that share an n-gram (or a whole short item) with the index."""
    grams, shorts = index
    short_lengths = sorted({len(s) for s in shorts})
    hits = []
    for d, text in enumerate(texts):
        w = normalize_words(text or "")
        if any(tuple(w[i : i + n]) in grams for i in range(len(w) - n + 1)) or any(
            tuple(w[i : i + k]) in shorts for k in short_lengths for i in range(len(w) - k + 1)
        ):
            hits.append(d)
    return hits


def reference_contaminated(texts: Sequence[str], items: pa.Table, n: int = 13, min_item_words: int = 8) -> list[int]:
    """The straightforward decontaminator (Python sets of word tuples), the baseline that
    bench/validation.py and the tests compare `scan_table` with."""
    return reference_scan(texts, reference_index(items, n, min_item_words), n)
