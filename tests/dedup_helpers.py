"""Helpers for the dedup tests and benchmark: write documents as an ingested source."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef, docs_hash_of
from tasks.core.schema import DOCS
from tasks.core.workspace import Workspace


def write_source(workspace: Workspace, name: str, table: pa.Table, shards: int = 1) -> DocsRef:
    """Write a DOCS-schema table as `docs/<key>/shard-NNNNN.parquet` + `_SUCCESS`, like ingest."""
    table = table.cast(DOCS) if table.schema != DOCS else table
    key = f"test-{name}"
    folder = workspace.stage_dir("docs", key)
    folder.mkdir(parents=True, exist_ok=True)
    per = max(1, -(-table.num_rows // shards))
    paths = []
    for i in range(max(shards, 1)):
        path = folder / f"shard-{i:05d}.parquet"
        pq.write_table(table.slice(i * per, per), path)
        paths.append(path)
    docs_hash = docs_hash_of(paths)
    workspace.mark_done("docs", key, {"name": name, "docs_hash": docs_hash, "shards": [p.name for p in paths]})
    return DocsRef(name, key, docs_hash, tuple(paths))


def docs_table(
    texts: Sequence[str], prefix: str = "d", urls: Sequence[str] | None = None, dates: Sequence | None = None
) -> pa.Table:
    """DOCS rows for plain texts (doc_id = prefix + index)."""
    n = len(texts)
    rows = []
    for i, text in enumerate(texts):
        url = urls[i] if urls else f"https://example.org/{prefix}/{i}"
        rows.append(
            {
                "doc_id": f"{prefix}{i:06d}",
                "source": prefix,
                "url": url,
                "domain": "example.org",
                "text": text,
                "language": "en",
                "language_score": 1.0,
                "crawl_date": dates[i] if dates else None,
                "content_type": "text/plain",
                "encoding": "utf-8",
                "n_bytes": len(text.encode()),
                "n_chars": len(text),
                "text_truncated": False,
                "source_file": "test",
                "record_id": str(i),
                "record_offset": i,
                "format": "jsonl",
                "extractor": "none",
            }
        )
    return pa.Table.from_pylist(rows, schema=DOCS) if n else DOCS.empty_table()


def cc_texts() -> list[str]:
    """The 697 real CC-MAIN-2019-30 documents' texts, in file order."""
    import gzip
    import json

    from tests.conftest import CRAWL

    with gzip.open(CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def mutate(text: str, strength: float, donor: str, rng) -> str:
    """A planted near duplicate: edit about `strength` of the words of `text`.

    Mixes the edits real near duplicates show: substituted words, a deleted span,
    inserted sentences from another document, and a changed ending.
    """
    words = text.split()
    if not words:
        return text
    donor_words = donor.split() or ["x"]
    n = len(words)
    kind = rng.integers(4)
    k = max(1, int(round(strength * n)))
    if kind == 0:  # scattered word substitutions
        for i in rng.choice(n, size=min(k, n), replace=False):
            words[i] = donor_words[rng.integers(len(donor_words))]
    elif kind == 1:  # a deleted span
        s = rng.integers(max(1, n - k + 1))
        del words[s : s + k]
    elif kind == 2:  # an inserted passage from another document
        s = rng.integers(n + 1)
        d = rng.integers(max(1, len(donor_words) - k + 1))
        words[s:s] = donor_words[d : d + k]
    else:  # a different ending (template pages, updated articles)
        words = words[: max(1, n - k)] + donor_words[:k]
    return " ".join(words)


def reference_shingles(text: str | None, cfg=None) -> set[tuple[str, ...]]:
    """The shingles of one text, from the definition docs/dedup.md and tasks/dedup/minhash.py
    document, written independently of the product's code (no hashing, no polars, no numpy):
    the text simplified by datatrove's own `simplify_text` (lowercase, numbers -> 0,
    punctuation -> space, whitespace collapsed, diacritics removed; the flags of `cfg`),
    split into words, and every run of `n_grams` consecutive words as a tuple of strings; a
    text of 1..n-1 words is one shingle of all its words, an empty text has none."""
    from datatrove.utils.text import TextNormConfig, simplify_text

    from tasks.dedup.minhash import MinhashConfig

    cfg = cfg or MinhashConfig()
    norm = TextNormConfig(
        lowercase=cfg.lowercase,
        norm_whitespace=cfg.norm_whitespace,
        remove_punctuation=cfg.remove_punctuation,
        norm_unicode_diacritics=cfg.norm_unicode_diacritics,
        norm_numbers=cfg.norm_numbers,
    )
    words = simplify_text(text or "", norm).split()
    n = cfg.n_grams
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard_pairs(sets) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair (i < j) of sets sharing at least one element (any
    hashable elements, or numpy arrays of unique values): a sparse incidence matrix product."""
    import numpy as np
    from scipy.sparse import csr_matrix, triu

    ids: dict = {}
    cols = [np.array([ids.setdefault(x, len(ids)) for x in s], dtype=np.int64) for s in sets]
    sizes = np.array([len(c) for c in cols])
    rows = np.repeat(np.arange(len(cols)), sizes)
    flat = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    m = csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, flat)), shape=(len(cols), max(len(ids), 1)))
    inter = triu(m @ m.T, k=1).tocoo()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    return {(int(i), int(j)): float(x) for i, j, x in zip(inter.row, inter.col, jac)}


def true_similar_pairs(texts, cfg, threshold: float):
    """All pairs (i < j) with exact shingle Jaccard >= threshold, and the Jaccard of every
    pair sharing at least one shingle. Truth comes from `reference_shingles` (the test's own
    shingler), never from the product's `shingle_sets`: a shingling bug there cannot move
    truth and prediction together."""
    all_pairs = jaccard_pairs([reference_shingles(t, cfg) for t in texts])
    return {p for p, x in all_pairs.items() if x >= threshold}, all_pairs
