"""Decontamination: scan training documents against the eval suite's n-gram index
(tasks/decontam/index.py) in Arrow batches, then remove each contaminated document or
mask its overlapping spans, per recipe (`DecontaminationSpec`, tasks/decontam/spec.py);
both are counted. The per-shard scan of whole sources is tasks/decontam/scan.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks.decontam.index import (
    NgramIndex,
    Prefix,
    batch_word_hashes,
    default_eval_items,
    delete_table,
    hash_words,
    ngram_matches,
)
from tasks.decontam.spec import DecontaminationSpec

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
    words, offsets = batch_word_hashes(texts)
    n_docs = len(offsets) - 1
    counts = np.zeros(n_docs, np.int64)
    first = np.full(n_docs, -1, np.int64)
    if len(words) == 0:
        return ScanResult(counts, first)
    prefix = Prefix(words, offsets)
    starts, _, pos = ngram_matches(prefix, index)
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
    table = delete_table()
    for m in _TOKEN.finditer(text):
        w = m.group().lower().translate(table)
        if w:
            spans.append(m.span())
            words.append(w)
    if not words:
        return text, 0
    prefix = Prefix(hash_words(words), np.array([0, len(words)], np.int64))
    covered = np.zeros(len(words) + 1, np.int64)
    starts, lengths, _ = ngram_matches(prefix, index)
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
