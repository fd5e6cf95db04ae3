"""The eval suite's n-gram index: normalisation, n-gram hashing, the index and its cache.

Text is normalised the same way on both sides (lowercase, Unicode punctuation and
symbols deleted, split on whitespace). Every eval item contributes all its word
n-grams (n = 13 by default, as in GPT-3, DCLM and lm-eval's decontamination); an
item shorter than n but at least `min_item_words` long contributes itself whole, so
short ARC questions are caught too; shorter items cannot be matched and are counted.

The index is a sorted numpy array of 64-bit n-gram hashes, built once per eval suite
and cached in the workspace under the eval items' content hash. Words are hashed once
per distinct word (Arrow dictionary encoding), and every n-gram hash of a batch comes
from one prefix sum over the polynomial hash (O(1) per position for any n), then
`np.searchsorted` against the index (`ngram_matches`). No pairwise scan, no Python loop
over n-grams. Scanning and removal are tasks/decontam/decontaminate.py.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tasks.core.hashing import hash_json, short
from tasks.core.workspace import Workspace

CODE_VERSION = "decontam-v1"
PUNCT_REGEX = r"[\p{P}\p{S}]"  # RE2 (Arrow) Unicode classes: punctuation, symbols
EVAL_ITEMS_SCHEMA = pa.schema([("task", pa.string()), ("item_id", pa.string()), ("text", pa.string())])

_MASK64 = (1 << 64) - 1
_BASE = 0x9E3779B97F4A7C15  # odd, so invertible mod 2^64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LEN_SALT = np.uint64(0xD6E8FEB86659FD93)


# ---------------------------------------------------------------- normalisation


@lru_cache(maxsize=1)
def delete_table() -> dict[int, None]:
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] in "PS"}


def normalize_words(text: str) -> list[str]:
    """Python form of the normalisation (one text): lowercase, punctuation/symbols
    deleted, whitespace split. The batch path (`_words_arrow`) does the same in Arrow."""
    return text.lower().translate(delete_table()).split()


def _words_arrow(texts: pa.Array) -> pa.ListArray:
    texts = pc.fill_null(texts, "")
    lowered = pc.utf8_lower(texts)
    stripped = pc.replace_substring_regex(lowered, pattern=PUNCT_REGEX, replacement="")
    return pc.utf8_split_whitespace(stripped)


def hash_words(words: Iterable[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(w.encode("utf-8", "surrogatepass")) for w in words), dtype=np.uint64)


def batch_word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(flat word hashes, offsets) for a batch of texts; hashes each distinct word once."""
    lists = _words_arrow(texts)
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    # Arrow's whitespace split leaves empty strings at the ends of a text: drop them.
    flat = lists.flatten()
    parents = pc.list_parent_indices(lists).to_numpy()
    keep = pc.not_equal(flat, "")
    flat = flat.filter(keep)
    parents = parents[keep.to_numpy(zero_copy_only=False)]
    offsets = np.zeros(len(lists) + 1, np.int64)
    np.cumsum(np.bincount(parents, minlength=len(lists)), out=offsets[1:])
    if len(flat) == 0:
        return np.zeros(0, np.uint64), offsets
    encoded = pc.dictionary_encode(flat)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    vocab = hash_words(encoded.dictionary.to_pylist())
    return vocab[encoded.indices.to_numpy()], offsets


# ---------------------------------------------------------------- n-gram hashes

_POWERS: list[np.ndarray] = [np.ones(1, np.uint64), np.ones(1, np.uint64)]


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^t and BASE^-t for t < n (mod 2^64), computed once and grown as needed."""
    if len(_POWERS[0]) < n:
        size = max(n, 2 * len(_POWERS[0]))
        with np.errstate(over="ignore"):
            for i, base in enumerate((_BASE, _BASE_INV)):
                table = np.empty(size, np.uint64)
                table[0] = 1
                table[1:] = np.cumprod(np.full(size - 1, base, dtype=np.uint64))
                _POWERS[i] = table
    return _POWERS[0][:n], _POWERS[1][:n]


class Prefix:
    """Prefix sums of the polynomial hash over a flat word array: the hash of any
    k words starting at i is (S[i+k] - S[i]) * BASE^-i, all mod 2^64."""

    def __init__(self, word_hashes: np.ndarray, offsets: np.ndarray):
        n = len(word_hashes)
        self.n_words = n
        self.offsets = offsets
        pw, self.inv = _powers(n)
        with np.errstate(over="ignore"):
            self.S = np.concatenate([[np.uint64(0)], np.cumsum(word_hashes * pw, dtype=np.uint64)])
        lengths = np.diff(offsets)
        self.doc_end = np.repeat(offsets[1:], lengths)  # end offset of each word's doc
        self.doc_of_word = np.repeat(np.arange(len(lengths)), lengths)

    def window(self, k: int) -> np.ndarray:
        """Hash of the k words starting at every position 0 .. n_words-k (slices, no gathers)."""
        m = self.n_words - k + 1
        if m <= 0:
            return np.zeros(0, np.uint64)
        with np.errstate(over="ignore"):
            return (self.S[k : k + m] - self.S[:m]) * self.inv[:m] + np.uint64(k) * _LEN_SALT

    def inside(self, k: int) -> np.ndarray:
        """Which window starts keep all k words inside one document."""
        m = max(self.n_words - k + 1, 0)
        return self.doc_end[:m] >= np.arange(m) + k

    def hash_at(self, starts: np.ndarray, k: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (self.S[starts + k] - self.S[starts]) * self.inv[starts] + np.uint64(k) * _LEN_SALT


def ngram_matches(prefix: Prefix, index: NgramIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start word, length, index position) of every match: each n-gram, then each whole
    short item. Short items are found through their first `min_item_words` words (one
    pass over a small sorted array), and only those candidates are hashed at full length."""
    starts, lengths, positions = [], [], []
    h = prefix.window(index.n)
    if len(h):
        pos = index.lookup(h)
        hit = np.flatnonzero((pos >= 0) & prefix.inside(index.n))
        starts.append(hit)
        lengths.append(np.full(len(hit), index.n))
        positions.append(pos[hit])
    if len(index.short_prefixes):
        m0 = index.min_item_words
        h = prefix.window(m0)
        if len(h):
            cand = np.flatnonzero((index.lookup_short_prefix(h) >= 0) & prefix.inside(m0))
            for k in index.short_lengths.tolist():
                st = cand[cand + k <= prefix.doc_end[cand]]
                pos = index.lookup(prefix.hash_at(st, k))
                ok = pos >= 0
                starts.append(st[ok])
                lengths.append(np.full(int(ok.sum()), k))
                positions.append(pos[ok])
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts), np.concatenate(lengths), np.concatenate(positions)


# ---------------------------------------------------------------- the index


@dataclass
class NgramIndex:
    n: int
    min_item_words: int
    hashes: np.ndarray  # sorted unique uint64
    owner: np.ndarray  # int32: index into items of one item holding each hash
    short_lengths: np.ndarray  # distinct lengths < n of whole-item entries
    short_prefixes: np.ndarray  # sorted hashes of those items' first min_item_words words
    tasks: np.ndarray  # object arrays, one row per eval item
    item_ids: np.ndarray
    items_indexed: int
    items_too_short: int
    content_hash: str

    def save(self, path: Path) -> None:
        np.savez(
            path,
            hashes=self.hashes,
            owner=self.owner,
            short_lengths=self.short_lengths,
            short_prefixes=self.short_prefixes,
            tasks=self.tasks.astype(str),
            item_ids=self.item_ids.astype(str),
            meta=np.array(
                json.dumps(
                    {
                        "n": self.n,
                        "min_item_words": self.min_item_words,
                        "items_indexed": self.items_indexed,
                        "items_too_short": self.items_too_short,
                        "content_hash": self.content_hash,
                    }
                )
            ),
        )

    @classmethod
    def load(cls, path: Path) -> NgramIndex:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return cls(
            meta["n"],
            meta["min_item_words"],
            z["hashes"],
            z["owner"],
            z["short_lengths"],
            z["short_prefixes"],
            z["tasks"].astype(object),
            z["item_ids"].astype(object),
            meta["items_indexed"],
            meta["items_too_short"],
            meta["content_hash"],
        )

    def __post_init__(self) -> None:
        self._bloom = _Bloom(self.hashes)
        self._short_bloom = _Bloom(self.short_prefixes)

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """Positions in `hashes` of each query hash, -1 where absent."""
        return self._bloom.lookup(self.hashes, h)

    def lookup_short_prefix(self, h: np.ndarray) -> np.ndarray:
        return self._short_bloom.lookup(self.short_prefixes, h)


class _Bloom:
    """A one-hash Bloom filter (64 bits per entry, ~1.5% false positives) in front of a
    binary search over the sorted hashes: almost every query costs one bit read."""

    def __init__(self, hashes: np.ndarray):
        n_bits = 1 << max(10, min(34, int(len(hashes) * 64 - 1).bit_length()))
        self.shift = np.uint64(64 - (n_bits.bit_length() - 1))
        bits = np.zeros(n_bits // 8, np.uint8)
        slots = hashes >> self.shift
        np.bitwise_or.at(
            bits, (slots >> np.uint64(3)).view(np.int64), (np.uint8(1) << (slots & np.uint64(7)).astype(np.uint8))
        )
        self.bits = bits

    def lookup(self, sorted_hashes: np.ndarray, h: np.ndarray) -> np.ndarray:
        out = np.full(len(h), -1, np.int64)
        if len(sorted_hashes) == 0 or len(h) == 0:
            return out
        slots = (h >> self.shift).view(np.int64)
        maybe = np.flatnonzero((self.bits[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1)
        if len(maybe) == 0:
            return out
        cand = h[maybe]
        pos = np.minimum(np.searchsorted(sorted_hashes, cand), len(sorted_hashes) - 1)
        found = sorted_hashes[pos] == cand
        out[maybe[found]] = pos[found]
        return out


def eval_items_hash(items: pa.Table) -> str:
    """Content hash of an eval suite (order-independent over items)."""
    _check_items(items)
    keys = pc.binary_join_element_wise(items["task"], items["item_id"], items["text"], "\x00")
    row_hashes = sorted(xxhash.xxh3_64_intdigest(k.encode()) for k in keys.to_pylist())
    return xxhash.xxh3_128_hexdigest(np.array(row_hashes, dtype=np.uint64).tobytes())


def _check_items(items: pa.Table) -> None:
    missing = [c for c in ("task", "item_id", "text") if c not in items.column_names]
    if missing:
        raise ValueError(
            f"eval items table lacks column(s) {missing}; expected (task, item_id, text), got {items.column_names}"
        )


def build_index(items: pa.Table, n: int = 13, min_item_words: int = 8, content_hash: str | None = None) -> NgramIndex:
    """The n-gram index of a table of eval items (task, item_id, text)."""
    _check_items(items)
    texts = items["text"].combine_chunks()
    words, offsets = batch_word_hashes(texts)
    prefix = Prefix(words, offsets)
    lengths = np.diff(offsets)
    h = prefix.window(n)
    starts = np.flatnonzero(prefix.inside(n))
    parts_h, parts_o = [h[starts]], [prefix.doc_of_word[starts]]
    short_mask = (lengths < n) & (lengths >= min_item_words)
    short_lengths = np.unique(lengths[short_mask])
    short_prefixes = np.unique(prefix.hash_at(offsets[:-1][short_mask], min_item_words))
    for k in short_lengths:
        docs = np.flatnonzero(lengths == k)
        parts_h.append(prefix.hash_at(offsets[docs], int(k)))
        parts_o.append(docs)
    all_h = np.concatenate(parts_h) if parts_h else np.zeros(0, np.uint64)
    all_o = np.concatenate(parts_o).astype(np.int32) if parts_o else np.zeros(0, np.int32)
    uniq, first = np.unique(all_h, return_index=True)
    return NgramIndex(
        n=n,
        min_item_words=min_item_words,
        hashes=uniq,
        owner=all_o[first],
        short_lengths=short_lengths.astype(np.int64),
        short_prefixes=short_prefixes,
        tasks=np.array(items["task"].to_pylist(), dtype=object),
        item_ids=np.array(items["item_id"].to_pylist(), dtype=object),
        items_indexed=int(((lengths >= n) | short_mask).sum()),
        items_too_short=int((lengths < min_item_words).sum()),
        content_hash=content_hash or eval_items_hash(items),
    )


def cached_index_path(
    workspace: Workspace, items: pa.Table, n: int = 13, min_item_words: int = 8, content: str | None = None
) -> Path:
    """Build the index once per eval suite into `<ws>/validation/ngram-index-<key>/index.npz`
    (key: the items' content hash, n, min_item_words, code version); return its path.
    `content`: the items' `eval_items_hash`, when the caller has it already."""
    content = content or eval_items_hash(items)
    key = "ngram-index-" + short(hash_json({"items": content, "n": n, "min": min_item_words, "code": CODE_VERSION}))
    folder = workspace.stage_dir("validation", key)
    path = folder / "index.npz"
    if workspace.is_done("validation", key) and path.exists():
        return path
    with workspace.claim("validation", key) as claim:
        if not claim.todo and path.exists():
            return path
        index = build_index(items, n, min_item_words, content_hash=content)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".index.tmp.npz"
        index.save(tmp)
        tmp.replace(path)
        workspace.mark_done(
            "validation",
            key,
            {
                "items": int(len(index.tasks)),
                "ngrams": int(len(index.hashes)),
                "n": n,
                "items_too_short": index.items_too_short,
            },
        )
    return path


def cached_index(workspace: Workspace, items: pa.Table, n: int = 13, min_item_words: int = 8) -> NgramIndex:
    """The eval suite's index, built once and then loaded from the workspace."""
    return NgramIndex.load(cached_index_path(workspace, items, n, min_item_words))


# ---------------------------------------------------------------- eval items


def default_eval_items() -> pa.Table:
    """Every item of the eval suite, from the one source the harness evaluates too
    (`tasks.evaluate.eval_data.eval_items`: all benchmarks and held-out LM texts of
    tasks/evaluate/registry.py), so decontamination covers every task that is evaluated."""
    from tasks.evaluate.eval_data import eval_items

    return eval_items()
