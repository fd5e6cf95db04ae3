"""The decontamination scan of a whole source, per docs shard, cached in the workspace.

The scan of one document (its matching n-gram count and first matched eval item,
`scan_texts`) depends only on its text and the index, never on the batch it is scanned
in, so a source's documents can be scanned once, shard by shard, on any worker, and every
arm then reads the result instead of scanning its surviving documents again.

`validation/<docs>-decontam-<cfg>/shard-NNNNN.parquet` holds, per docs shard, the documents
with at least one match only: (doc_id, n_matches, first_item), first_item being a row
of the index's items. `_SUCCESS` is written last, once every shard is there. The key
covers the source's docs hash, the eval items' content hash, n, min_item_words and the
scan's code version, so a changed eval suite or normalisation never reads a stale scan.

A claimed per-shard stage like MinHash signatures (tasks/core/shards.py): `scan_jobs` lists
the shard jobs still to run, `ensure_scan(map_fn)` runs them under a workspace claim
(concurrent arms compute it once) and `finish_scan` marks the source done; flows/decontam.py
maps the same jobs as Prefect tasks on a Dask cluster.

`count_shard` is the same scan of one shard without writing anything: how many of its
documents match, per first matched eval task (flows/validate.py's contamination count).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef, row_batches
from tasks.core.hashing import hash_json, short
from tasks.core.shards import MapFn, local_map, run_claimed_shards
from tasks.core.workspace import Workspace, temp_sibling
from tasks.decontam.decontaminate import ScanResult, scan_texts
from tasks.decontam.index import CODE_VERSION, NgramIndex, cached_index_path, default_eval_items, eval_items_hash
from tasks.decontam.results import ScanCounts
from tasks.decontam.spec import DecontaminationSpec

SCAN_VERSION = "decontam-scan-1"  # bump when scan_texts' per-document result can change
STAGE = "validation"  # beside the eval n-gram index it is keyed by
SCAN_SCHEMA = pa.schema([("doc_id", pa.string()), ("n_matches", pa.int64()), ("first_item", pa.int64())])


@dataclass(frozen=True)
class ScanConfig:
    """What a scan depends on, and where its (content-addressed) index file lies."""

    index_path: str
    items_hash: str
    n: int
    min_item_words: int
    batch_rows: int = 1000  # documents per scan batch: sets a worker's peak memory, never the result

    def key_fields(self) -> dict[str, Any]:
        return {
            "items": self.items_hash,
            "n": self.n,
            "min": self.min_item_words,
            "index_code": CODE_VERSION,
            "code": SCAN_VERSION,
        }


def scan_config(workspace: Workspace, items: pa.Table, spec: DecontaminationSpec) -> ScanConfig:
    """The scan configuration for a recipe's decontamination spec; builds the eval index
    into the workspace first if it is not there (workers load it from that path)."""
    content = eval_items_hash(items)
    path = cached_index_path(workspace, items, spec.n, spec.min_item_words, content)
    return ScanConfig(str(path), content, spec.n, spec.min_item_words)


def scan_key(docs_hash: str, cfg: ScanConfig) -> str:
    return f"{short(docs_hash)}-decontam-{short(hash_json(cfg.key_fields()), 8)}"


def scan_dir(workspace: Workspace, ref: DocsRef, cfg: ScanConfig) -> Path:
    return workspace.stage_dir(STAGE, scan_key(ref.docs_hash, cfg))


@dataclass(frozen=True)
class ScanJob:
    shard: str
    index: int
    out_dir: str
    cfg: ScanConfig

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir) / f"shard-{self.index:05d}.parquet"


@lru_cache(maxsize=2)
def _load_index(path: str) -> NgramIndex:
    # The file is content-addressed and written atomically: a worker loads it once per path.
    return NgramIndex.load(Path(path))


def scan_shard(job: ScanJob) -> ScanCounts:
    """Scan one docs shard in batches; write its contaminated documents (tmp, then replace)."""
    t0 = time.process_time()
    index = _load_index(job.cfg.index_path)
    if index.n != job.cfg.n or index.min_item_words != job.cfg.min_item_words:
        raise ValueError(
            f"n-gram index {job.cfg.index_path} holds n={index.n}, min_item_words={index.min_item_words}; "
            f"the scan asks for n={job.cfg.n}, min_item_words={job.cfg.min_item_words}"
        )
    parts: list[pa.Table] = []
    n_docs = 0
    for rows, hits in scan_batches(job.shard, index, job.cfg.batch_rows):
        n_docs += rows
        if hits.num_rows:
            parts.append(hits)
    table = pa.concat_tables(parts) if parts else SCAN_SCHEMA.empty_table()
    out = job.out_path
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(out)
    pq.write_table(table, tmp)
    os.replace(tmp, out)
    return ScanCounts(out.name, n_docs, table.num_rows, round(time.process_time() - t0, 3))


def scan_jobs(workspace: Workspace, ref: DocsRef, cfg: ScanConfig) -> list[ScanJob]:
    """The per-shard jobs still to run for one source (none when the scan is cached)."""
    if workspace.is_done(STAGE, scan_key(ref.docs_hash, cfg)):
        return []
    out = str(scan_dir(workspace, ref, cfg))
    return [ScanJob(str(p), i, out, cfg) for i, p in enumerate(ref.shards)]


def finish_scan(
    workspace: Workspace, ref: DocsRef, cfg: ScanConfig, results: Sequence[ScanCounts], seconds: float = 0.0
) -> dict[str, Any]:
    """Mark one source's scan done (after every shard job returned)."""
    if len(results) != len(ref.shards):
        raise RuntimeError(f"decontamination scan of {ref.name}: {len(results)} shard results for {len(ref.shards)}")
    info = {
        "kind": "decontam-scan",
        "name": ref.name,
        "docs_hash": ref.docs_hash,
        "config": {k: v for k, v in asdict(cfg).items() if k != "index_path"},
        "shards": [r.shard for r in results],
        "docs": sum(r.docs for r in results),
        "contaminated": sum(r.contaminated for r in results),
        "cpu_s": round(sum(r.cpu_s for r in results), 3),
        "seconds": round(seconds, 3),
    }
    workspace.mark_done(STAGE, scan_key(ref.docs_hash, cfg), info)
    return info


def ensure_scan(
    workspace: Workspace,
    ref: DocsRef,
    cfg: ScanConfig,
    map_fn: MapFn = local_map,
    run: Callable[[Sequence[ScanJob]], Sequence[ScanCounts]] | None = None,
) -> Path:
    """One source's scan, computed once (claimed: a concurrent caller waits, then reuses it).
    The shard jobs run through `run(jobs)` when given (flows/decontam.py: one Prefect task
    each), else `map_fn(scan_shard, jobs)`."""
    compute_scan(workspace, ref, cfg, map_fn, run)
    return scan_dir(workspace, ref, cfg)


def compute_scan(
    workspace: Workspace,
    ref: DocsRef,
    cfg: ScanConfig,
    map_fn: MapFn = local_map,
    run: Callable[[Sequence[ScanJob]], Sequence[ScanCounts]] | None = None,
) -> dict[str, Any] | None:
    """`ensure_scan`, returning the `_SUCCESS` info when this call scanned (None when the
    scan was done, or a concurrent caller did it while this one waited)."""
    return run_claimed_shards(
        workspace,
        STAGE,
        scan_key(ref.docs_hash, cfg),
        jobs=lambda: scan_jobs(workspace, ref, cfg),
        run=run or (lambda jobs: list(map_fn(scan_shard, jobs))),
        finish=lambda results, seconds: finish_scan(workspace, ref, cfg, results, seconds),
    )


def scan_done(workspace: Workspace, refs: Sequence[DocsRef], cfg: ScanConfig) -> bool:
    return all(workspace.is_done(STAGE, scan_key(r.docs_hash, cfg)) for r in refs)


def read_scan(workspace: Workspace, refs: Sequence[DocsRef], cfg: ScanConfig) -> pa.Table:
    """Every contaminated document of the sources' finished scans (doc_id, n_matches, first_item)."""
    tables = []
    for ref in {r.docs_hash: r for r in refs}.values():  # a source listed twice is read once
        key = scan_key(ref.docs_hash, cfg)
        if not workspace.is_done(STAGE, key):
            raise LookupError(f"no finished decontamination scan of {ref.name} ({workspace.stage_dir(STAGE, key)})")
        folder = workspace.stage_dir(STAGE, key)
        tables += [
            pq.read_table(folder / name, schema=SCAN_SCHEMA) for name in workspace.read_done(STAGE, key)["shards"]
        ]
    table = pa.concat_tables(tables) if tables else SCAN_SCHEMA.empty_table()
    if pc.count_distinct(table["doc_id"]).as_py() != table.num_rows:
        raise ValueError(
            f"decontamination scans of {[r.name for r in refs]} list a doc_id twice; doc ids must be unique"
        )
    return table


def align_scan(doc_ids: pa.Array | pa.ChunkedArray, scanned: pa.Table) -> ScanResult:
    """The per-row ScanResult of `doc_ids` from a scan table: a document absent from it
    had no match (n_matches 0, first_item -1)."""
    pos = pc.index_in(doc_ids, value_set=scanned["doc_id"].combine_chunks())
    found = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    rows = pc.fill_null(pos, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    n_matches = np.zeros(len(rows), np.int64)
    first_item = np.full(len(rows), -1, np.int64)
    if scanned.num_rows:
        n_matches[found] = scanned["n_matches"].to_numpy()[rows[found]]
        first_item[found] = scanned["first_item"].to_numpy()[rows[found]]
    return ScanResult(n_matches, first_item)


# ---------------------------------------------------------------- the scan of one shard, by batch


def scan_batches(shard: str, index: NgramIndex, batch_rows: int) -> Iterator[tuple[int, pa.Table]]:
    """Scan a docs shard in batches of `batch_rows` documents: per batch, its row count and
    its documents with at least one match (SCAN_SCHEMA, in shard order)."""
    pf = pq.ParquetFile(shard)
    missing = {"doc_id", "text"} - set(pf.schema_arrow.names)
    if missing:
        raise ValueError(f"{shard}: docs shard lacks column(s) {sorted(missing)}")
    for batch in row_batches(pf, batch_rows):
        result = scan_texts(batch.column("text"), index)
        hit = np.flatnonzero(result.n_matches > 0)
        yield (
            batch.num_rows,
            pa.table(
                {
                    "doc_id": batch.column("doc_id").take(pa.array(hit)).cast(pa.string()),
                    "n_matches": pa.array(result.n_matches[hit], pa.int64()),
                    "first_item": pa.array(result.first_item[hit], pa.int64()),
                },
                schema=SCAN_SCHEMA,
            ),
        )


def count_shard(shard: str, index_path: str, batch_rows: int = 1000) -> dict[str, Any]:
    """The scan of one docs shard, counted and not written: its documents, those with a
    match, and those per first matched eval task (the index's `tasks`)."""
    index = _load_index(index_path)
    docs = contaminated = 0
    by_task: dict[str, int] = {}
    for rows, hits in scan_batches(shard, index, batch_rows):
        docs += rows
        contaminated += hits.num_rows
        for item in hits.column("first_item").to_pylist():
            task = str(index.tasks[item])
            by_task[task] = by_task.get(task, 0) + 1
    return {"docs": docs, "contaminated": contaminated, "by_task": by_task}


def sum_counts(counts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`count_shard`'s counts of a source's shards, added up (by_task in first-seen order)."""
    by_task: dict[str, int] = {}
    for c in counts:
        for k, v in c["by_task"].items():
            by_task[k] = by_task.get(k, 0) + v
    return {
        "docs": sum(c["docs"] for c in counts),
        "contaminated": sum(c["contaminated"] for c in counts),
        "by_task": by_task,
    }


def eval_index_path(workspace: Workspace, eval_items_path: str | None, n: int) -> Path:
    """The eval n-gram index of the Parquet eval items at `eval_items_path` (default: the
    project's eval suite), built into the workspace once (tasks.decontam.decontaminate)."""
    items = pq.read_table(eval_items_path) if eval_items_path else default_eval_items()
    return cached_index_path(workspace, items, n)
