"""Seeded, order-independent randomness and token accounting shared by selection and mixing.

Every random draw is a function of (seed, doc_id, purpose), never of row order, so the
same recipe with the same seed selects the same documents bit for bit however DuckDB
happens to order the candidates, and a document's draw does not change when other
documents join or leave the candidate set.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

CHARS_PER_TOKEN = 4.0  # the usual English BPE ratio; used when no `n_tokens` column is given
_INV_2_53 = 1.0 / (1 << 53)


def hash_uniform(doc_ids: list[str] | pa.Array | pa.ChunkedArray, seed: int, purpose: str = "") -> np.ndarray:
    """One uniform draw in (0, 1) per document, a pure function of (seed, purpose, doc_id)."""
    if not isinstance(doc_ids, list):
        doc_ids = doc_ids.to_pylist()
    salt = f"{seed}\x00{purpose}\x00".encode()
    words = np.fromiter(
        (xxhash.xxh64_intdigest(salt + d.encode()) for d in doc_ids), dtype=np.uint64, count=len(doc_ids)
    )
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * _INV_2_53


def quality_percentile(quality: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Percentile rank in (0, 1] of each document's quality (missing values rank lowest)."""
    q = np.asarray(quality, dtype=np.float64)
    q = np.where(np.isnan(q), -np.inf, q if higher_is_better else -q)
    ranks = np.argsort(np.argsort(q, kind="stable"), kind="stable")
    return (ranks + 1) / max(1, len(q))


def rehydration_copies(
    doc_ids: list[str], factor: np.ndarray, quality: np.ndarray, seed: int, purpose: str, max_repeat: int
) -> np.ndarray:
    """FineWeb2's rehydration: 1 + (factor - 1) x quality percentile copies, rounded up or down
    by a hash of the doc_id (so the expected count is exact), clipped to [1, max_repeat].
    Shared by mixture.upsample and dedup's keep: rehydrate."""
    raw = 1.0 + (np.asarray(factor, dtype=np.float64) - 1.0) * quality
    base = np.floor(raw)
    up = hash_uniform(doc_ids, seed, purpose) < raw - base if len(doc_ids) else np.zeros(0, bool)
    return np.clip(base + up, 1, max_repeat)


def gumbel(doc_ids, seed: int, purpose: str = "gumbel") -> np.ndarray:
    """Standard Gumbel noise per document (for Gumbel top-k sampling)."""
    return -np.log(-np.log(hash_uniform(doc_ids, seed, purpose)))


def token_counts(table: pa.Table) -> np.ndarray:
    """Tokens per row: `n_tokens` when present, else ceil(n_chars / CHARS_PER_TOKEN), else from `text`."""
    if "n_tokens" in table.column_names:
        return table.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.int64)
    if "n_chars" in table.column_names:
        chars = table.column("n_chars").to_numpy(zero_copy_only=False).astype(np.float64)
    elif "text" in table.column_names:
        chars = pc.utf8_length(table.column("text")).to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        raise ValueError(
            "cannot count tokens: the table has none of n_tokens, n_chars, text "
            f"(columns: {', '.join(table.column_names)})"
        )
    return np.maximum(1, np.ceil(chars / CHARS_PER_TOKEN)).astype(np.int64)


def take_until_budget(order: np.ndarray, tokens: np.ndarray, budget: int | None) -> np.ndarray:
    """Indices of `order` that fill `budget` tokens, never more: the longest prefix that fits,
    then, further along the same order, every document that still fits (one that would
    overflow is skipped and the search goes on; empty documents are not picked up on the
    way), so a pool with small documents lands just under the budget; all of `order` if
    None. (Stopping on the document that crosses the budget left the cut to later steps,
    which only remove documents of the selection: with 20k-token pages in the pool the
    default suite's random arm ended 1.5% under its budget.)"""
    if budget is None:
        return order
    t = np.asarray(tokens, dtype=np.int64)[order]
    cum = np.cumsum(t)
    n = int(np.searchsorted(cum, budget, side="right"))  # the prefix that fits
    if n >= len(order):
        return order
    gap = budget - (int(cum[n - 1]) if n else 0)
    positive = np.where(t > 0, t, np.iinfo(np.int64).max)
    smallest_after = np.minimum.accumulate(positive[::-1])[::-1]  # the smallest document from i on
    more = []
    for i in range(n + 1, len(order)):  # order[n] is the one that overflows
        if smallest_after[i] > gap:  # nothing further along fits (also when the gap is 0)
            break
        if 0 < t[i] <= gap:
            more.append(i)
            gap -= int(t[i])
    return np.concatenate([order[:n], order[np.asarray(more, dtype=np.int64)]])


def stable_order(keys: np.ndarray, doc_ids: list[str], descending: bool = True) -> np.ndarray:
    """argsort by key with ties broken by doc_id, so equal scores never depend on row order."""
    ids = np.asarray(doc_ids, dtype=object)
    primary = -keys if descending else keys
    return np.lexsort((ids, primary))
