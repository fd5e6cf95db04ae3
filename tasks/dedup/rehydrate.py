"""Rehydration (FineWeb2): copies of each kept document from its duplicate-cluster size and
an optional quality score. The function and its defaults are documented on
tasks.dedup.spec.RehydrateSpec; the curate dedup step (tasks/curate/steps.py) applies it."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.core.sampling import quality_percentile, rehydration_copies
from tasks.dedup.spec import RehydrateSpec


def size_weights(sizes: np.ndarray, spec: RehydrateSpec) -> np.ndarray:
    """w(size): the copies of the largest step minimum <= size (steps start at 1)."""
    mins = np.asarray(sorted(spec.weights), dtype=np.int64)
    copies = np.asarray([spec.weights[int(m)] for m in mins], dtype=np.int64)
    pos = np.searchsorted(mins, np.maximum(np.asarray(sizes, dtype=np.int64), 1), side="right") - 1
    return copies[pos]


def rehydrate_copies(
    doc_ids: list[str], sizes: np.ndarray, spec: RehydrateSpec, quality: np.ndarray | None = None
) -> np.ndarray:
    """Copies per document: min(max_repeat, round_u(1 + (w(size) - 1) * q))."""
    w = size_weights(sizes, spec)
    q = np.ones(len(w)) if quality is None else quality_percentile(quality, spec.higher_is_better)
    return rehydration_copies(doc_ids, w, q, spec.seed, "rehydrate", spec.max_repeat).astype(np.int64)


def copies_summary(sizes: np.ndarray, copies: np.ndarray) -> dict[str, Any]:
    """What the stats report: documents and copies in all, and copies per cluster size."""
    by_size: dict[str, list[int]] = {}
    for s in sorted(set(np.asarray(sizes).tolist())):
        mask = np.asarray(sizes) == s
        by_size[str(s)] = [int(mask.sum()), int(copies[mask].sum())]
    return {
        "documents": int(len(copies)),
        "copies": int(copies.sum()),
        "max_copies": int(copies.max()) if len(copies) else 0,
        "by_cluster_size": by_size,  # size -> [documents, copies]
    }
