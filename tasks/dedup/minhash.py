"""MinHash signatures and LSH band hashes, vectorised over whole batches of documents.

Defaults match datatrove / FineWeb: text simplified like datatrove's `simplify_text`
(lowercase, numbers -> 0, punctuation -> space, whitespace collapsed, diacritics
removed), word 5-gram shingles, 112 hash functions = 14 bands x 8 rows.

Why it is fast: no Python work per shingle or per word. A batch of documents is
normalised by polars (Rust regex; a shorter path for pure-ASCII texts, same output),
and every word is found and hashed at once in the normalised Arrow byte buffer, with
tabulation hashing (a fixed random table indexed by
byte value and position, XOR-reduced per word: 3-independent and stable across
machines and library versions). Shingle hashes combine n consecutive word hashes in n
numpy passes. The 112 permutations are one outer product `a * x + b` (multiply-shift,
upper 32 bits) over a chunk of shingles, min-reduced per document with
`np.minimum.reduceat`.

Documents with fewer words than the shingle size get one shingle of all their words
(datatrove skips them; we keep them so short exact duplicates still collide); empty
documents get no signature and no bands.

Storage (signals stage, computed once per source and cached by docs hash + config):
`signals/<docs_hash16>-minhash-<config_hash8>/shard-NNNNN.parquet` with BANDS rows
(doc_id, band, band_hash, doc_order), sorted by band_hash in row groups of
BAND_ROW_GROUP_ROWS, and `sigs/shard-NNNNN.parquet` with SIGNATURES
rows (doc_id, doc_order, n_shingles, signature uint32[K]) for candidate verification.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.hashing import hash_json, short

CODE_VERSION = "minhash-1"

# The punctuation set of datatrove's utils/text.py (PUNCTUATION): mapped to spaces.
_PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)))
)
_PUNCT_CLASS = (
    "[" + "".join(re.escape(c) if c.isprintable() else f"\\x{{{ord(c):x}}}" for c in dict.fromkeys(_PUNCTUATION)) + "]"
)
_NUMBERS = r"\p{Nd}+([.,،٫⎖⎗⎘]\p{Nd}+)?"
_WS_TO_SPACE = r"\s\s+|[\s--[ ]]"  # a run of 2+ whitespace, or one non-space (leftmost-first)
_NON_ASCII = r"[^\x00-\x7F]"
# On ASCII text: _NUMBERS, and punctuation -> space + whitespace collapse in one pass
# (a run of 2+ punctuation/whitespace, or one punctuation or non-space whitespace).
_ASCII_NUMBERS = r"[0-9]+([.,][0-9]+)?"
_ASCII_PUNCT_WS = rf"[{_PUNCT_CLASS[1:-1]}\s]{{2,}}|{_PUNCT_CLASS}|[\s--[ ]]"

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_SHINGLE_CHUNK = 1 << 14  # shingles per permutation block: 112 x 16k uint32 = 7 MiB (measured best)


@dataclass(frozen=True)
class MinhashConfig:
    """All knobs of the signature; its hash names the signals folder."""

    n_grams: int = 5
    num_bands: int = 14
    rows_per_band: int = 8
    seed: int = 1
    lowercase: bool = True
    norm_numbers: bool = True
    remove_punctuation: bool = True
    norm_whitespace: bool = True
    norm_unicode_diacritics: bool = True

    def __post_init__(self):
        if self.n_grams < 1 or self.num_bands < 1 or self.rows_per_band < 1:
            raise ValueError(f"MinhashConfig needs n_grams, num_bands, rows_per_band >= 1: {self}")

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band

    def config_hash(self) -> str:
        return hash_json({"config": dataclasses.asdict(self), "code": CODE_VERSION})

    def threshold(self) -> float:
        """Jaccard where the LSH S-curve crosses 1/2 (approximately (1/b)^(1/r))."""
        return (1.0 / self.num_bands) ** (1.0 / self.rows_per_band)

    def detection_probability(self, jaccard: float | np.ndarray) -> float | np.ndarray:
        """P(a pair with this Jaccard shares at least one band): 1 - (1 - s^r)^b."""
        return 1.0 - (1.0 - np.asarray(jaccard) ** self.rows_per_band) ** self.num_bands


BANDS = pa.schema(
    [("doc_id", pa.string()), ("band", pa.int16()), ("band_hash", pa.uint64()), ("doc_order", pa.int64())]
)


def signatures_schema(num_perm: int) -> pa.Schema:
    return pa.schema(
        [
            ("doc_id", pa.string()),
            ("doc_order", pa.int64()),
            ("n_shingles", pa.int32()),
            ("signature", pa.list_(pa.uint32(), num_perm)),
        ]
    )


# ---------------------------------------------------------------- normalisation


def normalize_expr(col: pl.Expr, cfg: MinhashConfig) -> pl.Expr:
    """datatrove's simplify_text as a polars expression (same steps, same order)."""
    col = _before_diacritics(col, cfg)
    if cfg.norm_unicode_diacritics:
        col = _strip_diacritics(col)
    return _collapse_whitespace(col) if cfg.norm_whitespace else col


def normalize_series(s: pl.Series, cfg: MinhashConfig) -> pl.Series:
    """normalize_expr over a string Series (nulls = ""), with a fast path for pure-ASCII
    texts (most of a crawl): there \\p{Nd} is [0-9], NFD and \\p{Mn} change nothing, so
    punctuation and whitespace go in one regex pass. Same output (tested)."""
    s = s.cast(pl.String).fill_null("")
    non_ascii = s.str.contains(_NON_ASCII)
    rest = non_ascii.arg_true()
    if len(rest) == len(s):
        return pl.select(normalize_expr(pl.lit(s), cfg)).to_series()
    if len(rest) == 0:
        return pl.select(_ascii_expr(pl.lit(s), cfg)).to_series()
    ascii_rows = (~non_ascii).arg_true()
    out = s.clone()
    out.scatter(ascii_rows, pl.select(_ascii_expr(pl.lit(s.gather(ascii_rows)), cfg)).to_series())
    out.scatter(rest, pl.select(normalize_expr(pl.lit(s.gather(rest)), cfg)).to_series())
    return out


def _ascii_expr(col: pl.Expr, cfg: MinhashConfig) -> pl.Expr:
    """normalize_expr for texts that are pure ASCII."""
    if cfg.lowercase:
        col = col.str.to_lowercase()
    if cfg.norm_numbers:
        col = col.str.replace_all(_ASCII_NUMBERS, "0")
    if cfg.remove_punctuation and cfg.norm_whitespace:
        return col.str.replace_all(_ASCII_PUNCT_WS, " ").str.strip_chars()
    if cfg.remove_punctuation:
        col = col.str.replace_all(_PUNCT_CLASS, " ")
    return _collapse_whitespace(col) if cfg.norm_whitespace else col


def _before_diacritics(col: pl.Expr, cfg: MinhashConfig) -> pl.Expr:
    if cfg.lowercase:
        col = col.str.to_lowercase()
    if cfg.norm_numbers:
        col = col.str.replace_all(_NUMBERS, "0")
    if cfg.remove_punctuation:
        col = col.str.replace_all(_PUNCT_CLASS, " ")
    return col


def _strip_diacritics(col: pl.Expr) -> pl.Expr:
    # datatrove strips diacritics after collapsing whitespace; before is the same
    # text, except that a lone combining mark cannot leave a double space behind.
    return col.str.normalize("NFD").str.replace_all(r"\p{Mn}", "")


def _collapse_whitespace(col: pl.Expr) -> pl.Expr:
    # Same text as replace_all(r"\s+", " "), but single spaces (most gaps) are not
    # matched and rewritten: 3x faster.
    return col.str.replace_all(_WS_TO_SPACE, " ").str.strip_chars()


def normalize_texts(texts: Sequence[str | None], cfg: MinhashConfig = MinhashConfig()) -> list[str]:
    return normalize_series(pl.Series("text", list(texts), dtype=pl.String), cfg).to_list()


# ---------------------------------------------------------------- hashing


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Finaliser of splitmix64 (in place on a uint64 array): a bijective avalanche."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


_TAB_POSITIONS = 64
_TABLE = np.random.Generator(np.random.PCG64(0x5EED_0F_7AB1E)).integers(
    0, 2**64, size=(_TAB_POSITIONS, 256), dtype=np.uint64, endpoint=False
)
_FLAT_TABLE = _TABLE.reshape(-1)


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes uint8, offsets int64 rebased to 0) of an Arrow string array, zero-copy."""
    arr = arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    arr = pa.concat_arrays([arr]) if arr.offset else arr
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64, count=len(arr) + 1)
    start, end = offsets[0], offsets[-1]
    data = (
        np.frombuffer(bufs[2], dtype=np.uint8, count=end)[start:end]
        if bufs[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return data, offsets - start


def _hash_spans(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, gaps: np.ndarray | None = None
) -> np.ndarray:
    """Tabulation hash of the byte spans data[starts[i] : starts[i] + lengths[i]].

    Spans are sorted and cover `data` except the byte positions in `gaps` (separators).
    """
    out = np.zeros(len(starts), dtype=np.uint64)
    if len(data):
        # Byte -> start of its span (a separator counts with the span before it).
        nxt = np.append(starts[1:], len(data))
        first = np.repeat(starts.astype(np.int32), nxt - starts)
        # Flat table index (position in span mod 64) * 256 + byte value.
        pos = np.arange(len(data), dtype=np.int32)
        pos -= first
        pos &= _TAB_POSITIONS - 1
        pos <<= 8
        pos |= data
        vals = _FLAT_TABLE.take(pos)
        if gaps is not None:
            vals[gaps] = 0  # separators: the XOR identity
        nonempty = lengths > 0
        out[nonempty] = np.bitwise_xor.reduceat(vals, starts[nonempty])
    out ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return _splitmix64(out)


def hash_words(words: pa.Array) -> np.ndarray:
    """Stable 64-bit hash of every string in an Arrow string array (tabulation hashing)."""
    if len(words) == 0:
        return np.zeros(0, dtype=np.uint64)
    data, offsets = _string_buffers(words)
    return _hash_spans(data, offsets[:-1], np.diff(offsets))


def _word_hashes_of(texts: pa.Array, cfg: MinhashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the normalised words of every document, flattened, and the word count
    per document. Words are found in the normalised bytes directly (single spaces, no
    leading or trailing one): no split, explode or per-word strings."""
    series = pl.from_arrow(texts)
    assert isinstance(series, pl.Series)  # an Arrow array converts to a Series, never a DataFrame
    norm = normalize_series(series, cfg)
    if not cfg.norm_whitespace:
        norm = norm.str.replace_all(r"\s+", " ").str.strip_chars()
    data, offsets = _string_buffers(norm.to_arrow())
    doc_len = np.diff(offsets)
    spaces = np.flatnonzero(data == 0x20)
    is_start = np.zeros(len(data) + 1, dtype=bool)
    is_start[offsets[:-1][doc_len > 0]] = True  # an empty text has no words
    is_start[spaces + 1] = True
    starts = np.flatnonzero(is_start[:-1])
    counts = np.diff(np.searchsorted(starts, offsets))
    # A word ends at the next space or at its document's end.
    nxt = np.append(starts[1:], len(data))
    lengths = nxt - starts
    if len(starts):
        lengths -= data[nxt - 1] == 0x20
    return _hash_spans(data, starts, lengths, spaces), counts.astype(np.int64)


def shingle_hashes(word_hashes: np.ndarray, counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the word n-grams of each document and the shingle count per document.

    A document with 1..n-1 words gets one shingle of all its words; 0 words, none.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_sh = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
    total = int(n_sh.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint64), n_sh
    word_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    doc_end = word_start + counts
    # Start position (in the flat word array) of every shingle.
    sh_doc = np.repeat(np.arange(len(counts)), n_sh)
    sh_first = np.concatenate([[0], np.cumsum(n_sh)[:-1]])
    starts = word_start[sh_doc] + (np.arange(total) - sh_first[sh_doc])
    ends = doc_end[sh_doc]
    h = np.full(total, np.uint64(0x243F6A8885A308D3), dtype=np.uint64)
    last = max(len(word_hashes) - 1, 0)
    for k in range(n):
        idx = starts + k
        w = word_hashes[np.minimum(idx, last)]
        w = np.where(idx < ends, w, np.uint64(0))
        h ^= w
        h *= np.uint64(0x100000001B3 | (k << 40) | 1)
        h = _splitmix64(h)
    return h, n_sh


class MinHasher:
    """Signatures and band hashes for batches of texts under one config."""

    def __init__(self, cfg: MinhashConfig = MinhashConfig()):
        self.cfg = cfg
        rng = np.random.RandomState(cfg.seed)
        k = cfg.num_perm
        # Permutations of the 32-bit shingle values: x -> (a * x + b) mod 2^32 with odd a.
        # Shingle values are already strong 64-bit hashes folded to 32 bits, and 32-bit
        # lanes are ~5x faster in numpy than 64-bit ones (accuracy checked in the tests).
        self.a = (rng.randint(0, 2**31, size=k, dtype=np.uint64).astype(np.uint32) << np.uint32(1)) | np.uint32(1)
        self.b = rng.randint(0, 2**32, size=k, dtype=np.uint64).astype(np.uint32)
        self.band_seeds = _splitmix64(np.arange(1, cfg.num_bands + 1, dtype=np.uint64) * np.uint64(0x9E37))

    def signatures(self, texts: Iterable[str | None] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(signatures uint32 [n_docs, K], shingle count per doc). Empty docs: all 0xFFFFFFFF."""
        arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(list(texts), pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.string())
        n_docs = len(arr)
        sig = np.full((n_docs, self.cfg.num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
        if n_docs == 0:
            return sig, np.zeros(0, dtype=np.int64)
        word_hashes, counts = _word_hashes_of(arr, self.cfg)
        sh, n_sh = shingle_hashes(word_hashes, counts, self.cfg.n_grams)
        x32 = ((sh >> np.uint64(32)) ^ sh).astype(np.uint32)
        sh_doc = np.repeat(np.arange(n_docs), n_sh)
        sig_t = sig.T.copy()  # [K, n_docs]: reductions run along contiguous rows
        a, b = self.a[:, None], self.b[:, None]
        block = np.empty((len(self.a), min(_SHINGLE_CHUNK, len(x32))), dtype=np.uint32)
        for c0 in range(0, len(x32), _SHINGLE_CHUNK):
            x = x32[c0 : c0 + _SHINGLE_CHUNK]
            docs = sh_doc[c0 : c0 + _SHINGLE_CHUNK]
            blk = block[:, : len(x)]
            np.multiply(a, x[None, :], out=blk)
            blk += b
            seg = np.flatnonzero(np.concatenate([[True], docs[1:] != docs[:-1]]))
            mins = np.minimum.reduceat(blk, seg, axis=1)
            d = docs[seg]
            sig_t[:, d] = np.minimum(sig_t[:, d], mins)
        sig = np.ascontiguousarray(sig_t.T)
        return sig, n_sh

    def band_hashes(self, sig: np.ndarray) -> np.ndarray:
        """uint64 [n_docs, num_bands]: one hash of the `rows_per_band` values of each band."""
        n, r = sig.shape[0], self.cfg.rows_per_band
        rows = sig.reshape(n, self.cfg.num_bands, r).astype(np.uint64)
        h = np.broadcast_to(self.band_seeds, (n, self.cfg.num_bands)).copy()
        for j in range(r):
            h ^= rows[:, :, j]
            h = _splitmix64(h)
        return h


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal signature positions, row by row."""
    return (sig_a == sig_b).mean(axis=-1)


def shingle_sets(texts: Sequence[str | None], cfg: MinhashConfig = MinhashConfig()) -> list[np.ndarray]:
    """Unique shingle hashes per document (for exact Jaccard)."""
    arr = pa.array(list(texts), pa.string())
    if len(arr) == 0:
        return []
    word_hashes, counts = _word_hashes_of(arr, cfg)
    sh, n_sh = shingle_hashes(word_hashes, counts, cfg.n_grams)
    bounds = np.concatenate([[0], np.cumsum(n_sh)])
    return [np.unique(sh[bounds[i] : bounds[i + 1]]) for i in range(len(arr))]


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


# ---------------------------------------------------------------- per-shard stage


# Rows per row group of a bands file: ~300 KB, small enough that a partition of the band
# join over P hash ranges reads about 1/P of each file, big enough that footers stay small.
BAND_ROW_GROUP_ROWS = 16384


def signals_key(docs_hash: str, cfg: MinhashConfig) -> str:
    return f"{short(docs_hash)}-minhash-{short(cfg.config_hash(), 8)}"


def doc_order_base(shard_index: int) -> int:
    """doc_order = shard index << 32 | row: a global first-seen order within a source."""
    return int(shard_index) << 32


def compute_shard(
    shard: str | Path,
    shard_index: int,
    out_dir: str | Path,
    cfg: MinhashConfig = MinhashConfig(),
    batch_docs: int = 2000,
) -> dict:
    """Bands and signatures of one docs shard, written atomically; returns counts."""
    shard, out_dir = Path(shard), Path(out_dir)
    name = f"shard-{shard_index:05d}.parquet"
    bands_path, sigs_path = out_dir / name, out_dir / "sigs" / name
    sigs_path.parent.mkdir(parents=True, exist_ok=True)
    hasher = MinHasher(cfg)
    k = cfg.num_perm
    pf = pq.ParquetFile(shard)
    missing = {"doc_id", "text"} - set(pf.schema_arrow.names)
    if missing:
        raise ValueError(f"{shard}: docs shard lacks column(s) {sorted(missing)}")
    tmp_b, tmp_s = bands_path.with_suffix(".tmp"), sigs_path.with_suffix(".tmp")
    n_docs = n_empty = 0
    base = doc_order_base(shard_index)
    bands: list[pa.Table] = []
    with pq.ParquetWriter(tmp_s, signatures_schema(k)) as ws:
        for batch in pf.iter_batches(batch_size=batch_docs, columns=["doc_id", "text"]):
            ids = batch.column("doc_id")
            sig, n_sh = hasher.signatures(batch.column("text"))
            order = base + n_docs + np.arange(len(ids), dtype=np.int64)
            n_docs += len(ids)
            ws.write_table(
                pa.table(
                    {
                        "doc_id": ids,
                        "doc_order": order,
                        "n_shingles": n_sh.astype(np.int32),
                        "signature": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1)), k),
                    },
                    schema=signatures_schema(k),
                )
            )
            has = np.flatnonzero(n_sh > 0)
            n_empty += len(ids) - len(has)
            if len(has) == 0:
                continue
            bh = hasher.band_hashes(sig[has])
            nb = cfg.num_bands
            bands.append(
                pa.table(
                    {
                        "doc_id": pa.array(ids).take(pa.array(np.repeat(has, nb))),
                        "band": np.tile(np.arange(nb, dtype=np.int16), len(has)),
                        "band_hash": bh.reshape(-1),
                        "doc_order": np.repeat(order[has], nb),
                    },
                    schema=BANDS,
                )
            )
    # Sorted by band_hash in small row groups: a hash-range partition of the band join
    # (tasks/dedup/near.py) then reads only the row groups whose min/max overlap its range.
    table = pa.concat_tables(bands) if bands else BANDS.empty_table()
    pq.write_table(table.sort_by("band_hash"), tmp_b, row_group_size=BAND_ROW_GROUP_ROWS)
    os.replace(tmp_b, bands_path)
    os.replace(tmp_s, sigs_path)
    return {"shard": name, "docs": n_docs, "empty": n_empty}
