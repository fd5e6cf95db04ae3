"""Topic groups for mixtures (`mixture: {group_by: topic, topics: {n, seed}}`), WebOrganizer-style.

A topic is a k-means cluster of the MiniLM sentence embeddings (tasks/selection/embeddings.py).
The embeddings are the semdedup score column of each source (stored once per source and
shared with semdedup arms). k-means is fitted on the union of *all* documents of the
recipe's sources, before any filter: a topic id then means the same thing in every arm that
mixes those sources, whatever its filters or selection keep, and in every source (fitting
per source would make t3 of one source unrelated to t3 of another; fitting on an arm's
survivors would give each arm its own t3, so weights and sweeps over topics would not compare).

Ids are `t0..t<n-1>` ordered by cluster size (t0 the largest; ties by the smallest doc_id),
so they are stable for a given cache key. Each topic is described by its 3 most distinctive
words (class-based tf-idf of the cluster's documents against the pool, BERTopic-style).

Stored as `selection/topics-<hash16>/topics.parquet` (doc_id, topic) with `_SUCCESS`
holding the words, sizes and seconds; the key hashes the sources' docs hashes, n, seed,
the model version and the sequence length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef
from tasks.core.hashing import hash_json, short
from tasks.core.workspace import Workspace
from tasks.selection.spec import SelectionSpec, TopicsSpec

CODE_VERSION = "topics-v1"
N_WORDS = 3
# letters only, 3+ characters: numbers and markup fragments do not name a topic
WORD_PATTERN = r"(?u)\b[^\W\d_]{3,}\b"


@dataclass
class Topics:
    """A topic assignment: one row per document, and a description per topic id."""

    table: pa.Table  # doc_id, topic (t<k>)
    words: dict[str, list[str]]  # topic id -> its most distinctive words
    documents: dict[str, int]  # topic id -> documents in the pool it was fitted on
    key: str | None = None
    info: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """What the mixture plan and the data card show."""
        return {
            "key": self.key,
            "n": len(self.words),
            "topics": {t: {"words": self.words[t], "pool_documents": self.documents[t]} for t in self.words},
        }


def topic_names(labels: np.ndarray, doc_ids: list[str]) -> np.ndarray:
    """Relabel k-means clusters 0..k-1 by size (largest first; ties by smallest doc_id),
    so ids do not depend on sklearn's arbitrary cluster numbering."""
    clusters = np.unique(labels)
    first = {c: min(doc_ids[i] for i in np.flatnonzero(labels == c)) for c in clusters}
    order = sorted(clusters, key=lambda c: (-int((labels == c).sum()), first[c]))
    remap = {c: k for k, c in enumerate(order)}
    return np.asarray([remap[c] for c in labels], dtype=np.int64)


def distinctive_words(texts: list[str], labels: np.ndarray, n_words: int = N_WORDS) -> list[list[str]]:
    """Per cluster, the words with the highest class-based tf-idf: the word's share of the
    cluster's words x log(1 + average words per cluster / the word's count in the pool)."""
    from sklearn.feature_extraction.text import CountVectorizer

    k = int(labels.max()) + 1 if len(labels) else 0
    try:
        vec = CountVectorizer(token_pattern=WORD_PATTERN, lowercase=True, stop_words="english", min_df=2)
        counts = vec.fit_transform(texts)
    except ValueError:  # no word occurs twice: nothing distinctive to say
        return [[] for _ in range(k)]
    vocab = np.asarray(vec.get_feature_names_out())
    per_class = np.zeros((k, counts.shape[1]))
    for c in range(k):
        per_class[c] = np.asarray(counts[labels == c].sum(axis=0)).ravel()
    tf = per_class / np.maximum(per_class.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + per_class.sum() / max(k, 1) / np.maximum(per_class.sum(axis=0), 1))
    score = tf * idf
    out = []
    for c in range(k):
        # ties broken by the word itself, so names never depend on the sort's stability
        order = np.lexsort((vocab, -score[c]))
        out.append([str(vocab[i]) for i in order[:n_words] if score[c, i] > 0])
    return out


def fit_topics(emb: np.ndarray, doc_ids: list[str], texts: list[str], spec: TopicsSpec) -> Topics:
    """k-means on unit embeddings (in memory); deterministic for (documents, spec)."""
    from tasks.selection.semdedup import kmeans

    if len(doc_ids) < spec.n:
        raise ValueError(f"topics: {spec.n} topics need at least {spec.n} documents, got {len(doc_ids)}")
    order = np.argsort(np.asarray(doc_ids, dtype=object), kind="stable")  # row order must not matter
    emb, ids = emb[order], [doc_ids[i] for i in order]
    texts = [texts[i] for i in order]
    raw, _ = kmeans(emb, spec.n, spec.seed)
    labels = topic_names(raw, ids)
    words = distinctive_words(texts, labels)
    names = [f"t{k}" for k in range(int(labels.max()) + 1)]
    table = pa.table({"doc_id": pa.array(ids, pa.string()), "topic": pa.array([names[k] for k in labels], pa.string())})
    documents = {names[k]: int((labels == k).sum()) for k in range(len(names))}
    return Topics(table, dict(zip(names, words)), documents)


def embedding_spec(spec: TopicsSpec) -> SelectionSpec:
    """The semdedup score column whose embeddings the topics cluster (shared cache)."""
    return SelectionSpec(method="semdedup", semdedup={"max_tokens": spec.max_tokens}, log_kl=False)


def topics_key(refs: list[DocsRef], spec: TopicsSpec) -> str:
    from tasks.selection.embeddings import model_version

    cfg = {
        "docs": sorted(r.docs_hash for r in refs),
        "n": spec.n,
        "seed": spec.seed,
        "max_tokens": spec.max_tokens,
        "model": model_version(),
        "code": CODE_VERSION,
    }
    return f"topics-{short(hash_json(cfg))}"


def _read(workspace: Workspace, key: str) -> Topics:
    info = workspace.read_done("selection", key)
    table = pq.read_table(workspace.stage_dir("selection", key) / "topics.parquet")
    words = {t: v["words"] for t, v in info["topics"].items()}
    documents = {t: v["pool_documents"] for t, v in info["topics"].items()}
    return Topics(table, words, documents, key, info)


def source_topics(workspace: Workspace, refs: list[DocsRef], spec: TopicsSpec) -> Topics:
    """The topic of every document of `refs`, computed once per (sources, n, seed) and read
    back by every later arm. Embeddings come from (or go into) the semdedup score cache."""
    from tasks.selection.selection import read_scores, score_source

    key = topics_key(refs, spec)
    if workspace.is_done("selection", key):
        return _read(workspace, key)
    with workspace.claim("selection", key) as claim:
        if not claim.todo:  # a concurrent run computed them while we waited
            return _read(workspace, key)
        t0 = time.time()
        emb_spec = embedding_spec(spec)
        ids: list[str] = []
        texts: list[str] = []
        blocks = []
        for ref in refs:
            score_source(workspace, ref, emb_spec)
            scores = read_scores(workspace, ref, emb_spec)
            docs = pa.concat_tables([pq.read_table(s, columns=["doc_id", "text"]) for s in ref.shards])
            at = pc.index_in(scores.column("doc_id"), value_set=docs.column("doc_id"))
            ids += scores.column("doc_id").to_pylist()
            texts += [t or "" for t in docs.column("text").take(at).to_pylist()]
            column = scores.column("embedding").combine_chunks()
            blocks.append(column.flatten().to_numpy(zero_copy_only=False).reshape(scores.num_rows, -1))
        embedded = time.time() - t0
        topics = fit_topics(np.concatenate(blocks).astype(np.float32), ids, texts, spec)
        folder = workspace.stage_dir("selection", key)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".topics.tmp.parquet"
        pq.write_table(topics.table, tmp)
        tmp.replace(folder / "topics.parquet")
        info = {
            "sources": [r.name for r in refs],
            "docs_hashes": sorted(r.docs_hash for r in refs),
            "docs": len(ids),
            "n": spec.n,
            "seed": spec.seed,
            "max_tokens": spec.max_tokens,
            "seconds_embeddings": round(embedded, 3),
            "seconds": round(time.time() - t0, 3),
            **topics.describe(),
        }
        info["key"] = key
        workspace.mark_done("selection", key, info)
    return _read(workspace, key)


def attach_topics(candidates: pa.Table, topics: Topics) -> pa.Table:
    """`candidates` with the `topic` of each doc_id (a lookup, in the candidates' order)."""
    if "topic" in candidates.column_names:
        candidates = candidates.drop_columns(["topic"])
    at = pc.index_in(candidates.column("doc_id"), value_set=topics.table.column("doc_id"))
    missing = pc.sum(pc.is_null(at)).as_py() or 0
    if missing:
        raise LookupError(f"topics {topics.key}: {missing} candidate documents have no topic (stale topic cache?)")
    return candidates.append_column("topic", topics.table.column("topic").take(at))


def topic_mix(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a topic mixture for the data card: per phase and topic, the documents, the
    share of the phase's planned tokens and the topic's words (empty unless group_by topic)."""
    if plan.get("group_by") != "topic":
        return []
    words = {t: v.get("words", []) for t, v in ((plan.get("topics") or {}).get("topics") or {}).items()}
    rows = []
    for phase in plan.get("phases", []):
        total = phase.get("planned_tokens") or 0
        for t in sorted(phase["groups"], key=lambda g: (len(g), g)):
            g = phase["groups"][t]
            rows.append(
                {
                    "phase": phase["name"],
                    "topic": t,
                    "words": words.get(t, []),
                    "documents": g["documents"],
                    "planned_tokens": g["planned_tokens"],
                    "share": g["planned_tokens"] / total if total else 0.0,
                }
            )
    return rows
