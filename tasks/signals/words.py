"""The signals' per-word property cache: length, non-symbol, has-alpha, stop word and two
polynomial character hashes of each distinct word, keyed by spaCy ORTH hash, computed
once per word string and kept across documents (tasks/signals/computer.py reads it).

The duplicate-n-gram rules compare n-grams by their concatenation through these hashes
(two 31-bit primes; a false match has probability ~2^-62 per pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

P1, P2, BASE = 2147483647, 2147483629, 1_000_003


class PowerTable:
    """B^k and B^-k modulo a prime, grown on demand (doubling, numpy)."""

    def __init__(self, p: int):
        self.p = p
        self.inv_base = pow(BASE, p - 2, p)
        self.pow = np.ones(1, dtype=np.int64)
        self.inv = np.ones(1, dtype=np.int64)

    def ensure(self, n: int) -> None:
        while len(self.pow) < n:
            k = len(self.pow)
            step, istep = pow(BASE, k, self.p), pow(self.inv_base, k, self.p)
            self.pow = np.concatenate([self.pow, self.pow * step % self.p])
            self.inv = np.concatenate([self.inv, self.inv * istep % self.p])


@dataclass
class WordProps:
    length: np.ndarray  # int64
    non_symbol: np.ndarray  # bool
    alpha: np.ndarray  # bool
    stop: np.ndarray  # int8, index into STOP_WORDS or -1
    hash1: np.ndarray  # int64, polynomial hash mod P1
    hash2: np.ndarray  # int64, mod P2


class WordCache:
    """Per-word properties, one row per distinct word seen (rows in `arrays`, by ORTH hash);
    `SignalComputer` resets it past `LIMIT` words."""

    LIMIT = 2_000_000

    def __init__(self, punct_set: frozenset[str], stop_index: dict[str, int]):
        self._punct_set = punct_set
        self._stop_index = stop_index
        self.reset()

    def reset(self) -> None:
        self._index: dict[int, int] = {}
        self.size = 0
        self.arrays = self._allocate(1 << 14)

    @staticmethod
    def _allocate(capacity: int) -> WordProps:
        return WordProps(
            np.zeros(capacity, np.int64),
            np.zeros(capacity, bool),
            np.zeros(capacity, bool),
            np.zeros(capacity, np.int8),
            np.zeros(capacity, np.int64),
            np.zeros(capacity, np.int64),
        )

    def _word_props(self, word: str) -> tuple[int, bool, bool, int, int, int]:
        h1 = h2 = 0
        for ch in word:
            o = ord(ch)
            h1 = (h1 * BASE + o) % P1
            h2 = (h2 * BASE + o) % P2
        return (
            len(word),
            any(ch not in self._punct_set for ch in word),
            any(ch.isalpha() for ch in word),
            self._stop_index.get(word, -1),
            h1,
            h2,
        )

    def lookup(self, orths: np.ndarray, strings: Any) -> tuple[np.ndarray, np.ndarray]:
        """(inverse ids of the doc's words 0..U-1, cache rows of the U distinct words); new
        words are read from `strings` (the tokenizer's spaCy StringStore) by ORTH hash."""
        uniq, inverse = np.unique(orths, return_inverse=True)
        index = self._index
        rows = [index.get(o, -1) for o in uniq.tolist()]
        missing = [i for i, r in enumerate(rows) if r < 0]
        if missing:
            a = self.arrays
            need = self.size + len(missing)
            if need > len(a.length):
                grown = self._allocate(max(need, 2 * len(a.length)))
                for name in ("length", "non_symbol", "alpha", "stop", "hash1", "hash2"):
                    getattr(grown, name)[: self.size] = getattr(a, name)[: self.size]
                self.arrays = a = grown
            new_rows = np.arange(self.size, need)
            props = [self._word_props(strings[int(uniq[i])]) for i in missing]
            cols = list(zip(*props))
            a.length[new_rows], a.non_symbol[new_rows], a.alpha[new_rows] = cols[0], cols[1], cols[2]
            a.stop[new_rows], a.hash1[new_rows], a.hash2[new_rows] = cols[3], cols[4], cols[5]
            for i, r in zip(missing, new_rows.tolist()):
                index[int(uniq[i])] = r
                rows[i] = r
            self.size = need
        return inverse.astype(np.int64).reshape(-1), np.asarray(rows, dtype=np.int64)
