"""A per-dataset n-gram sketch (Data Portraits, Marone & Van Durme, 2023): a Bloom filter
over hashed word n-grams of the dataset's text, a few % of its size, that answers "was
this text in the dataset?" for any text, without the dataset.

Choices (documented in docs/membership.md):
- n-grams: N_WORDS = 8 lower-cased `\\w+` words. Data Portraits stores 50-character
  strides; 8 English words are ~45 characters, and words make the sketch independent of
  whitespace and punctuation changes.
- Indexing tiles each document with non-overlapping 8-grams (stride 8, plus the last 8
  words so the tail is covered): one item per ~45 characters, so at the default 1% false
  positive rate the filter is ~2-3% of the text's bytes. A query tests every window
  (stride 1), so it finds the tiles wherever it starts.
- Sizing: the standard formulas, m = -n ln p / (ln 2)^2 bits and k = round((m / n) ln 2)
  hashes for n items at false-positive rate p; the k positions are h1 + i * h2 mod m
  (Kirsch & Mitzenmacher) from one 128-bit xxh3 hash of the n-gram.
- Answer: `coverage`, the share of the query's words inside a window found in the
  sketch, and the fraction of its windows found. A member's tiles cover it (coverage ~1
  up to a partial tile at each end); a non-member's windows are found only by false
  positives, each covering at most 8 words, so its expected coverage is <= 8p (0.08 at
  p = 0.01). `member` is coverage >= MEMBER_THRESHOLD (0.5); queries shorter than
  3 x 8 words get no answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import xxhash

from tasks.core.workspace import write_json_atomic

N_WORDS = 8
FP_RATE = 0.01
MEMBER_THRESHOLD = 0.5
MIN_QUERY_WORDS = 3 * N_WORDS
SKETCH_FILE, SKETCH_META = "sketch.bloom", "sketch.json"
_WORD = re.compile(r"\w+")
_MASK64 = (1 << 64) - 1


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _hashes(grams: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(h1, h2) uint64 halves of each n-gram's xxh3-128 (h2 odd, so its multiples cycle)."""
    h = [xxhash.xxh3_128_intdigest(g) for g in grams]
    h1 = np.fromiter((x & _MASK64 for x in h), np.uint64, len(h))
    h2 = np.fromiter(((x >> 64) | 1 for x in h), np.uint64, len(h))
    return h1, h2


def tiles(ws: list[str], n: int = N_WORDS) -> list[str]:
    """The n-grams a document is indexed by: non-overlapping, plus its last n words."""
    if len(ws) < n:
        return [" ".join(ws)] if ws else []
    out = [" ".join(ws[i : i + n]) for i in range(0, len(ws) - n + 1, n)]
    if (len(ws) - n) % n:
        out.append(" ".join(ws[-n:]))
    return out


@dataclass(frozen=True)
class SketchMeta:
    n_words: int
    items: int  # n-grams inserted (with repeats across documents)
    bits: int  # m
    hashes: int  # k
    fp_rate: float  # the target p the filter was sized for
    fp_rate_expected: float  # (1 - e^(-k items / m))^k for the actual m, k
    bytes: int
    text_bytes: int  # UTF-8 bytes of the dataset's text, each document once
    share_of_text: float  # bytes / text_bytes
    threshold: float = MEMBER_THRESHOLD


class NgramSketch:
    """A Bloom filter over word n-grams: `add` documents, `contains` n-grams, `query` texts."""

    def __init__(self, bits: int, hashes: int, n_words: int = N_WORDS, data: np.ndarray | None = None):
        self.m, self.k, self.n_words = int(bits), int(hashes), n_words
        self.data = data if data is not None else np.zeros((self.m + 7) // 8, np.uint8)

    @classmethod
    def sized(cls, items: int, fp_rate: float = FP_RATE, n_words: int = N_WORDS) -> NgramSketch:
        n = max(1, items)
        m = max(8, math.ceil(-n * math.log(fp_rate) / math.log(2) ** 2))
        return cls(m, max(1, round(m / n * math.log(2))), n_words)

    def _positions(self, grams: list[str]) -> np.ndarray:
        h1, h2 = _hashes(grams)
        i = np.arange(self.k, dtype=np.uint64)
        with np.errstate(over="ignore"):  # arithmetic mod 2^64 is the point
            return (h1[:, None] + i[None, :] * h2[:, None]) % np.uint64(self.m)

    def add(self, grams: list[str]) -> None:
        if grams:
            pos = self._positions(grams).ravel()
            np.bitwise_or.at(
                self.data, (pos >> np.uint64(3)).astype(np.int64), (1 << (pos & np.uint64(7))).astype(np.uint8)
            )

    def contains(self, grams: list[str]) -> np.ndarray:
        if not grams:
            return np.zeros(0, bool)
        pos = self._positions(grams)
        bit = (self.data[(pos >> np.uint64(3)).astype(np.int64)] >> (pos & np.uint64(7)).astype(np.uint8)) & 1
        return np.asarray(bit.all(axis=1), dtype=bool)

    def query(self, text: str, threshold: float = MEMBER_THRESHOLD) -> dict[str, Any]:
        """coverage (share of words inside a found window), ngrams_present, member."""
        ws, n = words(text), self.n_words
        if len(ws) < MIN_QUERY_WORDS:
            return {"words": len(ws), "ngrams": 0, "ngrams_present": None, "coverage": None, "member": None}
        hit = self.contains([" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)])
        covered = np.zeros(len(ws) + 1, np.int64)
        starts = np.flatnonzero(hit)
        np.add.at(covered, starts, 1)
        np.add.at(covered, starts + n, -1)
        coverage = float((np.cumsum(covered)[: len(ws)] > 0).mean())
        return {
            "words": len(ws),
            "ngrams": int(len(hit)),
            "ngrams_present": float(hit.mean()),
            "coverage": coverage,
            "member": coverage >= threshold,
        }

    def expected_fp_rate(self, items: int) -> float:
        return (1.0 - math.exp(-self.k * items / self.m)) ** self.k


def build_sketch(texts: Iterable[str], items: int, fp_rate: float = FP_RATE) -> NgramSketch:
    sketch = NgramSketch.sized(items, fp_rate)
    for t in texts:
        sketch.add(tiles(words(t or "")))
    return sketch


def write_sketch(dataset_dir: Path, fp_rate: float = FP_RATE) -> SketchMeta:
    """The sketch of `dataset_dir`'s part files, written beside them; returns its facts."""
    parts = sorted(Path(dataset_dir).glob("part-*.parquet"))
    texts = [t or "" for p in parts for t in pq.read_table(p, columns=["text"]).column("text").to_pylist()]
    grams = [tiles(words(t)) for t in texts]
    items = sum(len(g) for g in grams)
    sketch = NgramSketch.sized(items, fp_rate)
    for g in grams:
        sketch.add(g)
    text_bytes = sum(len(t.encode()) for t in texts)
    meta = SketchMeta(
        n_words=sketch.n_words,
        items=items,
        bits=sketch.m,
        hashes=sketch.k,
        fp_rate=fp_rate,
        fp_rate_expected=sketch.expected_fp_rate(items),
        bytes=int(sketch.data.nbytes),
        text_bytes=text_bytes,
        share_of_text=sketch.data.nbytes / max(1, text_bytes),
    )
    tmp = Path(dataset_dir) / f".{SKETCH_FILE}.tmp"
    sketch.data.tofile(tmp)
    tmp.replace(Path(dataset_dir) / SKETCH_FILE)
    write_json_atomic(Path(dataset_dir) / SKETCH_META, asdict(meta))
    return meta


def read_sketch(dataset_dir: Path) -> tuple[NgramSketch, SketchMeta]:
    meta = SketchMeta(**json.loads((Path(dataset_dir) / SKETCH_META).read_text()))
    data = np.fromfile(Path(dataset_dir) / SKETCH_FILE, dtype=np.uint8)
    return NgramSketch(meta.bits, meta.hashes, meta.n_words, data), meta


def sketch_of(dataset_dir: Path) -> tuple[NgramSketch, SketchMeta]:
    """The dataset's sketch, written first when a dataset curated before sketches lacks it."""
    if not (Path(dataset_dir) / SKETCH_META).exists():
        write_sketch(dataset_dir)
    return read_sketch(dataset_dir)
