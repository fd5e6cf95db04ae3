"""A byte-level interpolated Kneser-Ney n-gram language model in numpy (KenLM-style
perplexity filtering as in CCNet, without a native dependency).

n-grams of up to 8 bytes are packed exactly into uint64 ids (first byte in the high
bits), so counting is `np.unique` and lookup is `np.searchsorted`, vectorised over all
positions of a batch of documents. Each document is preceded by order-1 NUL bytes (the
begin-of-document context; NULs inside text become spaces), so no n-gram spans two
documents. Scores are perplexity per byte: exp(-mean log p(byte | previous bytes)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_BITS = np.uint64(8)


def encode(texts: list[str], order: int, max_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated padded byte stream, and per document its first real byte and length."""
    pad = b"\x00" * (order - 1)
    parts, starts, lengths, pos = [], [], [], 0
    for text in texts:
        data = text.encode("utf-8", errors="replace").replace(b"\x00", b" ")
        if max_bytes is not None:
            data = data[:max_bytes]
        parts.append(pad + data)
        starts.append(pos + len(pad))
        lengths.append(len(data))
        pos += len(pad) + len(data)
    stream = np.frombuffer(b"".join(parts), dtype=np.uint8).astype(np.uint64)
    return stream, np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def real_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the real (non-padding) bytes of every document, in document order."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # position = start of its document + offset within it, built without a Python loop.
    doc_of = np.repeat(np.arange(len(lengths)), lengths)
    offset = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts[doc_of] + offset


def gram_ids(stream: np.ndarray, positions: np.ndarray, order: int) -> list[np.ndarray]:
    """For k = 1..order, the packed id of the k bytes ending at each position."""
    ids = [stream[positions]]
    for k in range(2, order + 1):
        ids.append(ids[-1] | (stream[positions - (k - 1)] << (_BITS * np.uint64(k - 1))))
    return ids


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int(np.sum(counts == 1)), int(np.sum(counts == 2))
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95)) if n1 + n2 else 0.5


@dataclass
class KneserNeyLM:
    order: int
    grams: list[np.ndarray]  # per order k (index k-1): sorted unique k-gram ids
    counts: list[np.ndarray]  # raw counts (top order) or continuation counts (lower orders)
    contexts: list[np.ndarray]  # per order: sorted unique context ids (the first k-1 bytes)
    ctx_total: list[np.ndarray]  # per context: sum of counts
    ctx_types: list[np.ndarray]  # per context: number of distinct following bytes
    discounts: np.ndarray
    # perplexity_reference's dict tables, built on first use.
    _dicts: list[Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def train(cls, texts: list[str], order: int = 5) -> KneserNeyLM:
        stream, starts, lengths = encode(texts, order)
        ids = gram_ids(stream, real_positions(starts, lengths), order)
        # Every slot is filled below (top order first, then each lower order).
        grams = [np.empty(0, dtype=np.uint64) for _ in range(order)]
        counts = [np.empty(0, dtype=np.int64) for _ in range(order)]
        grams[-1], counts[-1] = np.unique(ids[-1], return_counts=True)
        for k in range(order - 1, 0, -1):
            # Continuation count of a k-gram: distinct bytes seen before it.
            suffix = grams[k] & ((np.uint64(1) << (_BITS * np.uint64(k))) - np.uint64(1))
            grams[k - 1], counts[k - 1] = np.unique(suffix, return_counts=True)
        contexts, totals, types = [], [], []
        for k in range(order):
            ctx = grams[k] >> _BITS
            uniq, first = np.unique(ctx, return_index=True)  # grams are sorted, so contexts are grouped
            totals.append(np.add.reduceat(counts[k], first).astype(np.float64))
            types.append(np.diff(np.r_[first, len(ctx)]).astype(np.float64))
            contexts.append(uniq)
        discounts = np.array([_discount(c) for c in counts])
        return cls(order, grams, [c.astype(np.float64) for c in counts], contexts, totals, types, discounts)

    def log_probs(self, stream: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Natural-log probability of the byte at each position given the order-1 before it."""
        ids = gram_ids(stream, positions, self.order)
        p = np.full(len(positions), 1.0 / 256.0)
        for k in range(self.order):
            c = _lookup(self.grams[k], self.counts[k], ids[k])
            total, types = _lookup2(self.contexts[k], self.ctx_total[k], self.ctx_types[k], ids[k] >> _BITS)
            d = self.discounts[k]
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            p = np.where(seen, (np.maximum(c - d, 0.0) + d * types * p) / safe, p)
        return np.log(p)

    def perplexity(self, texts: list[str], max_bytes: int | None = None, batch_bytes: int = 1 << 22) -> np.ndarray:
        """Per-byte perplexity of each text (NaN for empty texts), in batches of ~4 MB."""
        out = np.full(len(texts), np.nan)
        i = 0
        while i < len(texts):
            j, size = i, 0
            while j < len(texts) and (size < batch_bytes or j == i):
                size += len(texts[j]) if max_bytes is None else min(len(texts[j]), max_bytes)
                j += 1
            stream, starts, lengths = encode(texts[i:j], self.order, max_bytes)
            lp = self.log_probs(stream, real_positions(starts, lengths))
            nonempty = lengths > 0
            sums = np.zeros(j - i)
            if lp.size:
                seg = np.r_[0, np.cumsum(lengths)[:-1]]
                sums[nonempty] = np.add.reduceat(lp, seg[nonempty])
            out[i:j][nonempty] = np.exp(-sums[nonempty] / lengths[nonempty])
            i = j
        return out

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {"order": np.array(self.order), "discounts": self.discounts}
        for k in range(self.order):
            arrays.update(
                {
                    f"grams{k}": self.grams[k],
                    f"counts{k}": self.counts[k],
                    f"contexts{k}": self.contexts[k],
                    f"ctx_total{k}": self.ctx_total[k],
                    f"ctx_types{k}": self.ctx_types[k],
                }
            )
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> KneserNeyLM:
        z = np.load(path)
        order = int(z["order"])
        get = lambda name: [z[f"{name}{k}"] for k in range(order)]  # noqa: E731
        return cls(
            order, get("grams"), get("counts"), get("contexts"), get("ctx_total"), get("ctx_types"), z["discounts"]
        )


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[key] for each query, 0 where the key is absent (keys sorted)."""
    if len(keys) == 0:
        return np.zeros(len(query))
    idx = np.searchsorted(keys, query)
    idx = np.minimum(idx, len(keys) - 1)
    return np.where(keys[idx] == query, values[idx], 0.0)


def _lookup2(keys: np.ndarray, a: np.ndarray, b: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a[key], b[key]) with one search (0 where absent)."""
    if len(keys) == 0:
        return np.zeros(len(query)), np.zeros(len(query))
    idx = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hit = keys[idx] == query
    return np.where(hit, a[idx], 0.0), np.where(hit, b[idx], 0.0)


def perplexity_reference(lm: KneserNeyLM, text: str, max_bytes: int | None = None) -> float:
    """The same model evaluated by a straightforward per-byte Python loop over dicts
    (benchmark baseline and test oracle)."""
    tables = lm._dicts
    if tables is None:
        tables = [
            (
                dict(zip(lm.grams[k].tolist(), lm.counts[k].tolist())),
                dict(zip(lm.contexts[k].tolist(), zip(lm.ctx_total[k].tolist(), lm.ctx_types[k].tolist()))),
            )
            for k in range(lm.order)
        ]
        lm._dicts = tables
    data = text.encode("utf-8", errors="replace").replace(b"\x00", b" ")
    if max_bytes is not None:
        data = data[:max_bytes]
    if not data:
        return float("nan")
    padded = b"\x00" * (lm.order - 1) + data
    total = 0.0
    for i in range(lm.order - 1, len(padded)):
        p = 1.0 / 256.0
        for k in range(1, lm.order + 1):
            gram = int.from_bytes(padded[i - k + 1 : i + 1], "big")
            count = tables[k - 1][0].get(gram, 0.0)
            ctx_total, ctx_types = tables[k - 1][1].get(gram >> 8, (0.0, 0.0))
            if ctx_total > 0:
                d = lm.discounts[k - 1]
                p = (max(count - d, 0.0) + d * ctx_types * p) / ctx_total
        total += np.log(p)
    return float(np.exp(-total / len(data)))
