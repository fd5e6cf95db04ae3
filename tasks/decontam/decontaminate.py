"""Decontamination: n-gram overlap between training documents and eval items.

Text is normalised the same way on both sides (lowercase, Unicode punctuation and
symbols deleted, split on whitespace). Every eval item contributes all its word
n-grams (n = 13 by default, as in GPT-3, DCLM and lm-eval's decontamination); an
item shorter than n but at least `min_item_words` long contributes itself whole, so
short ARC questions are caught too; shorter items cannot be matched and are counted.

The index is a sorted numpy array of 64-bit n-gram hashes, built once per eval suite
and cached in the workspace under the eval items' content hash. Documents are
scanned in Arrow batches: words are hashed once per distinct word (Arrow dictionary
encoding), and every n-gram hash of a batch comes from one prefix sum over the
polynomial hash (O(1) per position for any n), then `np.searchsorted` against the
index. No pairwise scan, no Python loop over n-grams.

A contaminated document is removed or has its overlapping spans masked, per recipe
(`DecontaminationSpec`, tasks/decontam/spec.py); both are counted.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tasks.core.hashing import hash_json, short
from tasks.core.workspace import Workspace
from tasks.decontam.spec import DecontaminationSpec

CODE_VERSION = "decontam-v1"
PUNCT_REGEX = r"[\p{P}\p{S}]"  # RE2 (Arrow) Unicode classes: punctuation, symbols
EVAL_ITEMS_SCHEMA = pa.schema([("task", pa.string()), ("item_id", pa.string()), ("text", pa.string())])

_MASK64 = (1 << 64) - 1
_BASE = 0x9E3779B97F4A7C15  # odd, so invertible mod 2^64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LEN_SALT = np.uint64(0xD6E8FEB86659FD93)


# ---------------------------------------------------------------- normalisation


@lru_cache(maxsize=1)
def _delete_table() -> dict[int, None]:
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] in "PS"}


def normalize_words(text: str) -> list[str]:
    """Python form of the normalisation (one text): lowercase, punctuation/symbols
    deleted, whitespace split. The batch path (`_words_arrow`) does the same in Arrow."""
    return text.lower().translate(_delete_table()).split()


def _words_arrow(texts: pa.Array) -> pa.ListArray:
    texts = pc.fill_null(texts, "")
    lowered = pc.utf8_lower(texts)
    stripped = pc.replace_substring_regex(lowered, pattern=PUNCT_REGEX, replacement="")
    return pc.utf8_split_whitespace(stripped)


def _hash_words(words: Iterable[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(w.encode("utf-8", "surrogatepass")) for w in words), dtype=np.uint64)


def _batch_word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
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
    vocab = _hash_words(encoded.dictionary.to_pylist())
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


class _Prefix:
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


def _matches(prefix: _Prefix, index: NgramIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    words, offsets = _batch_word_hashes(texts)
    prefix = _Prefix(words, offsets)
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


# ---------------------------------------------------------------- scanning


@dataclass
class ScanResult:
    """Per document: number of matching n-grams and one matched eval item (or -1)."""

    n_matches: np.ndarray
    first_item: np.ndarray

    def contaminated(self, min_overlaps: int = 1) -> np.ndarray:
        return self.n_matches >= min_overlaps


def scan_texts(texts: pa.Array | pa.ChunkedArray, index: NgramIndex) -> ScanResult:
    """Match one batch of document texts against the index."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    words, offsets = _batch_word_hashes(texts)
    n_docs = len(offsets) - 1
    counts = np.zeros(n_docs, np.int64)
    first = np.full(n_docs, -1, np.int64)
    if len(words) == 0:
        return ScanResult(counts, first)
    prefix = _Prefix(words, offsets)
    starts, _, pos = _matches(prefix, index)
    if len(starts):
        docs = prefix.doc_of_word[starts]
        counts += np.bincount(docs, minlength=n_docs)
        # one matched item per document for the report: the first in scan order
        first_hit = np.unique(docs, return_index=True)
        first[first_hit[0]] = index.owner[pos[first_hit[1]]]
    return ScanResult(counts, first)


def scan_table(
    docs: pa.Table, index: NgramIndex, batch_rows: int = 5000, text_column: str = "text", progress: bool = False
) -> ScanResult:
    """Scan a whole table in batches (bounded memory)."""
    parts: list[ScanResult] = []
    batches = docs.select([text_column]).to_batches(max_chunksize=batch_rows)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="decontaminate", unit="batch")
    for batch in batches:
        parts.append(scan_texts(batch.column(0), index))
    if not parts:
        return ScanResult(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return ScanResult(np.concatenate([p.n_matches for p in parts]), np.concatenate([p.first_item for p in parts]))


_TOKEN = re.compile(r"\S+")


def mask_text(text: str, index: NgramIndex, mask_token: str = "") -> tuple[str, int]:
    """`text` with every span covered by a matching n-gram replaced by `mask_token`;
    returns (new text, words masked)."""
    spans, words = [], []
    table = _delete_table()
    for m in _TOKEN.finditer(text):
        w = m.group().lower().translate(table)
        if w:
            spans.append(m.span())
            words.append(w)
    if not words:
        return text, 0
    prefix = _Prefix(_hash_words(words), np.array([0, len(words)], np.int64))
    covered = np.zeros(len(words) + 1, np.int64)
    starts, lengths, _ = _matches(prefix, index)
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + lengths, -1)
    mask = np.cumsum(covered[:-1]) > 0
    if not mask.any():
        return text, 0
    out, cursor, i = [], 0, 0
    while i < len(words):
        if not mask[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(words) and mask[j + 1]:
            j += 1
        out.append(text[cursor : spans[i][0]])
        out.append(mask_token)
        cursor = spans[j][1]
        i = j + 1
    out.append(text[cursor:])
    return "".join(out), int(mask.sum())


@dataclass
class DecontaminationReport:
    docs_scanned: int
    docs_contaminated: int
    docs_removed: int
    docs_masked: int
    words_masked: int
    by_task: dict[str, int] = field(default_factory=dict)  # contaminated docs by first matched task
    sample: list[dict] = field(default_factory=list)  # a few (doc_id, task, item_id)
    n: int = 13
    eval_items_hash: str = ""
    # with decontaminate(explain=True): every contaminated document (doc_id, task,
    # item_id, n_matches) for the exclusion samples; None otherwise
    matches: pa.Table | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "matches"}


def decontaminate(
    docs: pa.Table,
    index: NgramIndex,
    spec: DecontaminationSpec | None = None,
    id_column: str = "doc_id",
    progress: bool = False,
    explain: bool = False,
    scan: ScanResult | None = None,
) -> tuple[pa.Table, DecontaminationReport]:
    """Remove (or mask) every document that shares an n-gram with an eval item
    (`explain`: also list every contaminated document with the item it matched).
    `scan`: the rows' scan, already computed against this index (tasks/decontam/scan.py
    caches it per source), so it is not scanned again."""
    spec = spec or DecontaminationSpec(n=index.n, min_item_words=index.min_item_words)
    if spec.n != index.n:
        raise ValueError(f"decontamination asks for {spec.n}-grams but the index holds {index.n}-grams")
    if scan is not None and not (len(scan.n_matches) == len(scan.first_item) == docs.num_rows):
        raise ValueError(
            f"precomputed decontamination scan has {len(scan.n_matches)} rows for a table of {docs.num_rows}"
        )
    result = scan if scan is not None else scan_table(docs, index, progress=progress)
    bad = result.contaminated(spec.min_overlaps)
    bad_rows = np.flatnonzero(bad)
    tasks = index.tasks[result.first_item[bad_rows]] if len(bad_rows) else np.array([], dtype=object)
    by_task: dict[str, int] = {}
    for t in tasks:
        by_task[t] = by_task.get(t, 0) + 1
    ids = docs[id_column].take(pa.array(bad_rows[:20])).to_pylist() if id_column in docs.column_names else []
    sample = [
        {
            "doc_id": d,
            "task": str(index.tasks[result.first_item[r]]),
            "item_id": str(index.item_ids[result.first_item[r]]),
        }
        for d, r in zip(ids, bad_rows[:20])
    ]
    report = DecontaminationReport(len(bad), int(bad.sum()), 0, 0, 0, by_task, sample, index.n, index.content_hash)
    if explain:
        first = result.first_item[bad_rows]
        report.matches = pa.table(
            {
                "doc_id": docs[id_column].take(pa.array(bad_rows, pa.int64())),
                "task": pa.array([str(t) for t in index.tasks[first]], pa.string()),
                "item_id": pa.array([str(i) for i in index.item_ids[first]], pa.string()),
                "n_matches": pa.array(result.n_matches[bad_rows], pa.int64()),
            }
        )
    if spec.mode == "remove" or not bad.any():
        out = docs.filter(pa.array(~bad))
        report.docs_removed = int(bad.sum())
        return out, report
    texts = docs["text"].to_pylist()
    words_masked = 0
    for r in bad_rows:
        texts[r], m = mask_text(texts[r], index, spec.mask_token)
        words_masked += m
    col = docs.schema.get_field_index("text")
    out = docs.set_column(col, docs.schema.field("text"), pa.array(texts, type=docs.schema.field("text").type))
    report.docs_masked, report.words_masked = int(bad.sum()), words_masked
    return out, report


def contamination_count(docs: pa.Table, index: NgramIndex, min_overlaps: int = 1) -> int:
    """Documents sharing at least `min_overlaps` n-grams with the eval suite (the dataset
    contract's `decontamination clean` check uses this)."""
    return int(scan_table(docs, index).contaminated(min_overlaps).sum())


# ---------------------------------------------------------------- eval items


def default_eval_items() -> pa.Table:
    """Every item of the eval suite, from the one source the harness evaluates too
    (`tasks.evaluate.eval_data.eval_items`: all benchmarks and held-out LM texts of
    tasks/evaluate/registry.py), so decontamination covers every task that is evaluated."""
    from tasks.evaluate.eval_data import eval_items

    return eval_items()


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


def decontaminate_parquet(
    paths: Sequence[str | Path], out_dir: str | Path, index: NgramIndex, spec: DecontaminationSpec | None = None
) -> dict:
    """Decontaminate part files one at a time into `out_dir` (same file names), then
    write `decontamination.json` with the summed report. Returns that report."""
    import pyarrow.parquet as pq

    from tasks.core.workspace import write_json_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    total: dict = {
        "docs_scanned": 0,
        "docs_contaminated": 0,
        "docs_removed": 0,
        "docs_masked": 0,
        "words_masked": 0,
        "by_task": {},
        "sample": [],
        "n": index.n,
        "eval_items_hash": index.content_hash,
        "files": [],
    }
    for path in map(Path, paths):
        table = pq.read_table(path)
        clean, report = decontaminate(table, index, spec)
        tmp = out_dir / f".{path.name}.tmp"
        pq.write_table(clean, tmp)
        tmp.replace(out_dir / path.name)
        for k in ("docs_scanned", "docs_contaminated", "docs_removed", "docs_masked", "words_masked"):
            total[k] += getattr(report, k)
        for task, c in report.by_task.items():
            total["by_task"][task] = total["by_task"].get(task, 0) + c
        total["sample"] = (total["sample"] + report.sample)[:20]
        total["files"].append(path.name)
    write_json_atomic(out_dir / "decontamination.json", total)
    return total


def prepare() -> None:
    """Setup hook (tasks/setup_data.py, after the eval data): check the suite's items read."""
    items = default_eval_items()
    print(f"decontamination eval items: {items.num_rows} items of {len(set(items['task'].to_pylist()))} tasks")
