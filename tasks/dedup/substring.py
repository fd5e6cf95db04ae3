"""Exact-substring dedup (Lee et al., 2022, "Deduplicating Training Data Makes Language
Models Better"): spans of at least `min_len` bytes (or tokens) repeated within a unit are
cut out of the documents.

Per unit (a docs shard, or the dedup scope) the kept documents' texts are concatenated,
each followed by a separator that no text holds (byte 0xFF is never valid UTF-8; token id
-1), and `pydivsufsort` builds the suffix array. With `keep: first` a position is cut when
the longest previous factor there (the longest prefix of its suffix that starts earlier
too, clipped at its document's end) reaches `min_len`: every later copy of a repeated
span goes, its first occurrence stays (as bsade and GneissWeb's sharded dedup do). With
`keep: none` a position is cut when its suffix shares `min_len` with any other (its
suffix-array neighbours' LCP): every copy goes, as the paper's released code does
("completely striking them from the dataset"). Byte spans are cut to whole characters (a
character goes only when all its bytes are marked); token spans map to characters
through the tokenizer's offsets. A document cut below `min_chars` is dropped.

Spans are found among the documents the cluster modes kept in the pool (not per recipe):
an occurrence in a document a recipe filters out still counts as the first one.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydivsufsort import divsufsort, kasai, longest_previous_factor

from tasks.core.shards import local_map
from tasks.core.sqlfiles import load_sql
from tasks.dedup.cluster_inputs import RewriteInputs, RewriteOutcome
from tasks.dedup.spec import SubstringDedupSpec

SPAN_SAMPLE = 5  # removed spans kept as text per document, for the exclusion sample
SPAN_CHARS = 200

# text -> (unit ids, char offsets (start, end) of each unit in the text)
Encoder = Callable[[list[str]], list[tuple[np.ndarray, np.ndarray]]]


def repeated_positions(seqs: Sequence[np.ndarray], min_len: int, keep: str = "first") -> list[np.ndarray]:
    """Per sequence, a bool mask of its positions inside a span of >= `min_len` units that
    occurs elsewhere in `seqs` (keep "none") or earlier (keep "first"). Matches never
    cross from one sequence into the next."""
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    if not len(seqs) or lens.sum() == 0:
        return [np.zeros(n, dtype=bool) for n in lens]
    byte_input = all(s.dtype == np.uint8 for s in seqs)
    sep = np.array([255 if byte_input else -1], dtype=np.uint8 if byte_input else np.int32)
    parts = [p for s in seqs for p in (s.astype(sep.dtype, copy=False), sep)]
    text = np.ascontiguousarray(np.concatenate(parts))  # writable: pydivsufsort rejects read-only input
    starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    room = np.repeat(starts + lens, lens + 1) - np.arange(len(text))  # units left in the position's sequence
    sa = divsufsort(text)
    lcp = kasai(text, sa)  # lcp[i]: common prefix of the suffixes sa[i] and sa[i + 1]
    if keep == "first":
        reach = np.asarray(longest_previous_factor(text, sa, lcp), dtype=np.int64)
    else:
        lcp = np.asarray(lcp, dtype=np.int64)
        by_rank = np.maximum(lcp, np.concatenate([[0], lcp[:-1]]))
        reach = np.empty(len(text), dtype=np.int64)
        reach[sa] = by_rank
    reach = np.minimum(reach, room)  # a separator never matches inside a span: clip at the end
    hit = np.flatnonzero(reach >= min_len)
    cover = np.zeros(len(text) + 1, dtype=np.int64)
    np.add.at(cover, hit, 1)
    np.add.at(cover, hit + reach[hit], -1)
    marked = np.cumsum(cover[:-1]) > 0
    return [marked[s : s + n] for s, n in zip(starts, lens, strict=True)]


def byte_units(texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each text as UTF-8 bytes, with every byte's character span (for `char_mask`)."""
    out = []
    for t in texts:
        b = np.frombuffer(t.encode("utf-8"), dtype=np.uint8)
        char_of = np.cumsum((b & 0xC0) != 0x80) - 1  # continuation bytes (10xxxxxx) join the previous
        out.append((b, np.stack([char_of, char_of + 1], axis=1).astype(np.int64)))
    return out


def char_mask(n_chars: int, offsets: np.ndarray, unit_mask: np.ndarray) -> np.ndarray:
    """Characters to cut: those every covering unit marks (a multi-byte character whose
    bytes are only partly marked stays; so does text no token covers)."""
    covered = np.zeros(n_chars, dtype=np.int64)
    kept = np.zeros(n_chars, dtype=np.int64)
    for mask, counts in ((np.ones(len(unit_mask), bool), covered), (~unit_mask, kept)):
        o = offsets[mask]
        diff = np.zeros(n_chars + 1, dtype=np.int64)
        np.add.at(diff, o[:, 0], 1)
        np.add.at(diff, o[:, 1], -1)
        counts += np.cumsum(diff[:-1])
    return (covered > 0) & (kept == 0)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def cut_repeats(
    texts: list[str], spec: SubstringDedupSpec, encode: Encoder = byte_units
) -> list[list[tuple[int, int]]]:
    """Per text, the [start, end) character spans exact-substring dedup removes."""
    units = encode(texts)
    masks = repeated_positions([u for u, _ in units], spec.min_len, spec.keep)
    return [runs(char_mask(len(t), offs, m)) for t, (_, offs), m in zip(texts, units, masks, strict=True)]


def token_encoder(tokenizer) -> Encoder:
    """Units of a HF `tokenizers.Tokenizer`: token ids and their character offsets."""

    def encode(texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        encs = tokenizer.encode_batch(texts, add_special_tokens=False)
        return [(np.array(e.ids, dtype=np.int32), np.array(e.offsets, dtype=np.int64).reshape(-1, 2)) for e in encs]

    return encode


def strip_spans(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, at = [], 0
    for a, b in spans:
        pieces.append(text[at:a])
        at = b
    return "".join(pieces) + text[at:]


def rewrite_substrings(inputs: RewriteInputs) -> RewriteOutcome:
    """The substring mode over the kept documents: writes `substring.parquet` (one row per
    document it cut: doc_id, doc_order, text, emptied, removed_frac, chars_removed, spans)."""
    spec = inputs.spec.substring
    assert spec is not None  # run_dedup calls a mode only when it is on
    t0 = time.time()
    table = _texts(inputs, spec)
    tokenizer = None if spec.unit == "bytes" else _suite_tokenizer_file(inputs, spec)
    units = table.column("unit").to_pylist()
    texts = table.column("text").to_pylist()
    bounds = [0, *[i for i in range(1, len(units)) if units[i] != units[i - 1]], len(units)] if units else [0]
    jobs = [UnitJob(texts[a:b], spec, tokenizer) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    done = list((inputs.map_fn or local_map)(cut_unit, jobs))  # one task per unit on Dask
    rows, worst = [], max((sec for _, sec in done), default=0.0)
    for a, (spans_of, _) in zip(bounds[:-1], done, strict=True):
        for i, spans in enumerate(spans_of, start=a):
            if spans:
                rows.append(_row(table, i, texts[i], spans, spec))
    out = pa.Table.from_pylist(rows, schema=SCHEMA)
    path = inputs.out / "substring.parquet"
    tmp = path.with_name(".substring.parquet.tmp")
    pq.write_table(out, tmp)
    tmp.replace(path)
    removed = sum(r["chars_removed"] for r in rows)
    info = {
        "units": len(bounds) - 1,
        "docs_in": table.num_rows,
        "docs_rewritten": len(rows),
        "docs_dropped": sum(r["emptied"] for r in rows),
        "chars_in": sum(len(t) for t in texts),
        "chars_removed": removed,
        "seconds_worst_unit": round(worst, 3),
        "seconds": round(time.time() - t0, 3),
    }
    return RewriteOutcome(path, info)


SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("doc_order", pa.int64()),
        ("text", pa.string()),
        ("emptied", pa.bool_()),
        ("removed_frac", pa.float64()),
        ("chars_removed", pa.int64()),
        ("spans", pa.string()),  # JSON: [[start, end], ...] character offsets in the text before the cut
        ("span_texts", pa.string()),  # JSON: the first SPAN_SAMPLE removed spans (SPAN_CHARS each)
    ]
)


def _row(table: pa.Table, i: int, text: str, spans: list[tuple[int, int]], spec: SubstringDedupSpec) -> dict:
    new = strip_spans(text, spans)
    cut = sum(b - a for a, b in spans)
    return {
        "doc_id": table.column("doc_id")[i].as_py(),
        "doc_order": table.column("doc_order")[i].as_py(),
        "text": new,
        "emptied": len(new.strip()) < max(spec.min_chars, 1),
        "removed_frac": cut / max(len(text), 1),
        "chars_removed": cut,
        "spans": json.dumps(spans),
        "span_texts": json.dumps([text[a:b][:SPAN_CHARS] for a, b in spans[:SPAN_SAMPLE]]),
    }


def _texts(inputs: RewriteInputs, spec: SubstringDedupSpec) -> pa.Table:
    con = inputs.con
    rewritten = inputs.rewritten
    if rewritten is None:
        rewritten = pa.table({"doc_order": pa.array([], pa.int64()), "text": pa.array([], pa.string())})
    con.register("dedup_alive", pa.table({"doc_order": pa.array(inputs.alive_orders, pa.int64())}))
    con.register("dedup_rewritten", rewritten)
    try:
        return con.sql(load_sql("dedup/substring_texts"), params={"per_shard": spec.per == "shard"}).to_arrow_table()
    finally:
        con.unregister("dedup_alive")
        con.unregister("dedup_rewritten")


def _suite_tokenizer_file(inputs: RewriteInputs, spec: SubstringDedupSpec) -> str:
    from tasks.train.doc_tokens import suite_tokenizer

    return str(suite_tokenizer(inputs.workspace, spec.vocab_size).folder / "tokenizer.json")


@dataclass(frozen=True)
class UnitJob:
    """One suffix array's worth of work: a unit's texts (picklable, for a Dask worker)."""

    texts: list[str]
    spec: SubstringDedupSpec
    tokenizer: str | None  # tokenizer.json for unit: tokens


def cut_unit(job: UnitJob) -> tuple[list[list[tuple[int, int]]], float]:
    """`cut_repeats` over one unit, with its seconds (the stats report the worst unit)."""
    t0 = time.time()
    encode = byte_units if job.tokenizer is None else token_encoder(_load_tokenizer(job.tokenizer))
    return cut_repeats(job.texts, job.spec, encode), round(time.time() - t0, 3)


@functools.lru_cache(maxsize=2)
def _load_tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)
