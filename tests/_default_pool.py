"""A suite's real pool, prepared in a workspace the way `make demo` prepares it.

Every source the suite's arms read (for recipes/suites/default.yaml: the shared crawl, the
Python documentation WARC and the Wikipedia leads of $WINNOW_EXTERNAL) is ingested with
the ablation flow's options (flows/ingest.py: one shard per input file, so the same source
key and doc_ids as the demo), given its quality signals, and scored by every scored
selection method an arm names (what flows/ablation.py curate_on_cluster sends to a
cluster). Sources are prepared in parallel, one process each (the work is per source and
CPU-bound), without Prefect or Dask. What curation needs beyond that (the suite tokenizer,
token counts, MinHash clusters, the decontamination index) it computes and caches in the
workspace on first use.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tasks.core.docsref import resolve_docs
from tasks.core.workspace import Workspace
from tasks.ingest.ingest import IngestOptions, finish_source, ingest_shard
from tasks.ingest.sources import resolve_sources, source_key
from tasks.selection.registry import get_method
from tasks.selection.selection import score_source
from tasks.selection.spec import SelectionSpec
from tasks.signals.signals import build_signals
from tasks.suite import Suite

# flows/ingest.py run_ingest's limits: the same options give the demo's source keys
OPTIONS = IngestOptions(max_payload_bytes=10_000_000, max_text_chars=1_000_000)


def prepare_suite_pool(suite: Suite, root: Path, workers: int = 2) -> Workspace:
    """A workspace at `root` holding every source of `suite`'s arms: documents, signals
    and the scores of the arms' scored selections."""
    names = sorted({s for arm in suite.arms for s in arm.sources})
    jobs = [(suite, str(root), name) for name in names]
    if workers <= 1:
        for job in jobs:
            _prepare_source(*job)
    else:  # spawn: a clean interpreter, not a fork of the test process and its threads
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_prepare_source, *zip(*jobs)))
    return Workspace.from_env(root)


def _prepare_source(suite: Suite, root: str, name: str) -> str:
    ws = Workspace.from_env(Path(root))
    files = resolve_sources(suite.source_uris(name))
    if not files:
        raise FileNotFoundError(f"suite {suite.name}: source {name!r} matches no files: {suite.sources[name]}")
    key = source_key(files, {**OPTIONS.key(), "name": name})[:16]
    if not ws.is_done("docs", key):
        out = ws.stage_dir("docs", key)
        counts = [ingest_shard(f, out, i, OPTIONS, name) for i, f in enumerate(files)]
        finish_source(ws, key, name, counts, [f.uri for f in files])
    ref = resolve_docs(ws, name)
    build_signals(ws, ref)
    specs: dict[str, SelectionSpec] = {}
    for arm in suite.resolved_arms():
        if name in arm.sources and get_method(arm.selection.method).scored:
            specs[arm.selection.model_dump_json()] = arm.selection
    for spec in specs.values():
        score_source(ws, ref, spec)
    return key
