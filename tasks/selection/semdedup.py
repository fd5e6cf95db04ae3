"""SemDeDup (Abbas et al., 2023) and D4-style cluster-balanced sampling over unit embeddings.

k-means groups the candidates; inside each cluster documents are ordered from the least
to the most prototypical (cosine to the centroid, ascending, ties by doc_id) and a
document is dropped when its cosine to any earlier document of its cluster exceeds
1 - eps (SemDeDup's rule, which keeps the least prototypical member of each
near-duplicate group). `remove_fraction` instead picks the threshold that drops that
share of the candidates, most redundant first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.core.sampling import hash_uniform, stable_order


@dataclass
class SemDedupResult:
    keep: np.ndarray  # bool per candidate
    cluster: np.ndarray  # k-means cluster per candidate
    max_sim: np.ndarray  # cosine to the most similar earlier document of its cluster
    threshold: float  # cosine above which a document was dropped


def default_clusters(n: int) -> int:
    return max(1, min(n, round(np.sqrt(n / 2))))


def kmeans(emb: np.ndarray, n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and unit-length centroids (sklearn k-means, seeded, fixed n_init)."""
    from sklearn.cluster import KMeans

    n_clusters = max(1, min(n_clusters, len(emb)))
    km = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed, max_iter=100).fit(emb.astype(np.float64))
    cent = km.cluster_centers_
    cent = cent / np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    return km.labels_.astype(np.int64), cent


def redundancy(emb: np.ndarray, doc_ids: list[str], labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Per document, its max cosine to an earlier (less prototypical) document of its cluster."""
    max_sim = np.full(len(emb), -1.0)
    to_centroid = np.einsum("ij,ij->i", emb, centroids[labels])
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order = members[stable_order(to_centroid[members], [doc_ids[i] for i in members], descending=False)]
        sims = emb[order] @ emb[order].T
        upper = np.triu(sims, k=1)  # upper[i, j]: i earlier than j
        upper[np.tril_indices(len(order))] = -1.0
        max_sim[order] = upper.max(axis=0) if len(order) > 1 else -1.0
    return max_sim


def semdedup(
    emb: np.ndarray,
    doc_ids: list[str],
    n_clusters: int | None,
    eps: float | None,
    remove_fraction: float | None,
    seed: int,
) -> SemDedupResult:
    labels, centroids = kmeans(emb, n_clusters or default_clusters(len(emb)), seed)
    max_sim = redundancy(emb, doc_ids, labels, centroids)
    if remove_fraction is not None:
        n_drop = int(round(remove_fraction * len(emb)))
        order = stable_order(max_sim, doc_ids, descending=True)
        keep = np.ones(len(emb), dtype=bool)
        keep[order[:n_drop]] = False
        threshold = float(max_sim[order[n_drop - 1]]) if n_drop else 1.0
    else:
        threshold = 1.0 - (eps if eps is not None else 0.1)
        keep = max_sim <= threshold
    return SemDedupResult(keep, labels, max_sim, threshold)


def balanced_order(labels: np.ndarray, doc_ids: list[str], seed: int) -> np.ndarray:
    """Round robin over clusters (each in a seeded random order): a prefix of this order is
    a cluster-balanced sample, so small clusters are not drowned by large ones (D4)."""
    u = hash_uniform(doc_ids, seed, "balance")
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members[np.argsort(u[members], kind="stable")]] = np.arange(len(members))
    cluster_key = hash_uniform([str(c) for c in labels], seed, "cluster-order")
    return np.lexsort((cluster_key, rank))
