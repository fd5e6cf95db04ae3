"""The decontamination scan of whole sources as per-shard Prefect tasks.

`map_decontam_scan` maps one `decontam-scan-shard` task per docs shard on the current
flow's task runner (the Dask cluster of an ablation run with `--dask-address`), writing
the same files tasks.decontam.scan.ensure_scan writes in process. The curate step's
decontamination then reads them instead of scanning its surviving documents
(tasks/curate/steps.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from prefect import task

from flows._runtime import cache_key_from
from tasks.core.docsref import DocsRef
from tasks.core.workspace import Workspace
from tasks.decontam.index import default_eval_items
from tasks.decontam.results import ScanCounts
from tasks.decontam.scan import ScanJob, compute_scan, scan_config, scan_key, scan_shard
from tasks.decontam.spec import DecontaminationSpec


@task(name="decontam-scan-shard", cache_key_fn=cache_key_from("key", lambda p: p["job"].out_path))
def decontam_scan_shard(key: str, job: ScanJob) -> ScanCounts:
    return scan_shard(job)


def map_decontam_scan(
    ws: Workspace, refs: Sequence[DocsRef], spec: DecontaminationSpec, items: pa.Table | None = None
) -> list[tuple[str, str]]:
    """The decontamination scan of each source, one task per docs shard on the current
    flow's task runner; the eval n-gram index is built first (in this process, once) into
    the workspace, where the workers load it. Returns (source, what) lines."""
    cfg = scan_config(ws, items if items is not None else default_eval_items(), spec)
    done = []
    for ref in refs:
        key = scan_key(ref.docs_hash, cfg)

        def run(jobs: Sequence[ScanJob], key: str = key) -> list[ScanCounts]:
            # "counts": the task returns ScanCounts; a result cached as a dict by older code is not reused
            keys = [f"scan-counts:{key}-{j.index:05d}" for j in jobs]
            return [f.result() for f in decontam_scan_shard.map(keys, jobs)]

        # Claimed: a concurrent arm scanning the same source is waited for, then reused.
        info = compute_scan(ws, ref, cfg, run=run)
        if info is None:
            done.append((ref.name, "cached"))
        else:
            what = f"{info['docs']} docs, {info['contaminated']} contaminated, {len(info['shards'])} shards"
            done.append((ref.name, what))
    return done
