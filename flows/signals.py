"""Signals flow: an ingested source's documents -> per-document quality signals.

    python -m flows.signals SOURCE_OR_NAME [--workspace DIR] [--dask-address ADDR]

One Dask task per docs shard writes `signals/<docs_hash16>-<SIGNALS_VERSION>/shard-NNNNN.parquet`;
the folder's `_SUCCESS` is written last (tasks.signals.signals.ensure_signals: the same
claimed per-shard stage `build_signals` runs in process). Keyed by the docs hash and the
signals version, so a second run returns at once (no Prefect, no cluster) and a new
ingest or a new signals version computes afresh.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows._runtime import cache_key_from, dask_task_runner, prefect_api
from tasks.core.catalog import Catalog
from tasks.core.docsref import resolve_docs
from tasks.core.workspace import Workspace
from tasks.signals.results import SignalsCounts
from tasks.signals.schema import SIGNALS_VERSION
from tasks.signals.signals import SignalsRef, ensure_signals, signals_job, signals_key, signals_ref


@task(name="signals-shard", cache_key_fn=cache_key_from("key", lambda p: p["out_path"]), retries=1)
def signals_shard_task(docs_shard: str, out_path: str, key: str) -> SignalsCounts:
    return signals_job((docs_shard, out_path))


@flow(name="signals")
def signals_flow(name: str, workspace: str | None = None) -> dict:
    """Compute the signals of every shard of the ingested source `name` (claimed: a
    concurrent run computing them is waited for, then reused)."""
    ws = Workspace.from_env(workspace)
    docs = resolve_docs(ws, name)
    key = signals_key(docs.docs_hash)
    started = time.perf_counter()

    def run(jobs: Sequence[tuple[str, str]]) -> list[SignalsCounts]:
        # "counts": the task returns SignalsCounts; a result cached as a dict by older code is not reused
        futures = [
            signals_shard_task.submit(shard, out, key=f"signals-counts:{key}:{Path(out).name}") for shard, out in jobs
        ]
        from tqdm import tqdm

        return [f.result() for f in tqdm(futures, desc=f"signals {docs.name}", unit="shard")]

    info = ensure_signals(ws, docs, run=run)
    if info is None:  # computed by the run this one waited for, which recorded them
        return ws.read_done("signals", key)
    ref = signals_ref(ws, docs)
    assert ref is not None  # marked done just above
    seconds = time.perf_counter() - started
    _record(ws, ref, cached=False, seconds=seconds)
    create_markdown_artifact(
        key=f"signals-{key.lower()}",
        markdown=_summary(ref, False, seconds, info["errors"]),
        description=f"signals of {docs.name}",
    )
    return info


def _record(ws: Workspace, ref: SignalsRef, cached: bool, seconds: float) -> None:
    Catalog(ws.catalog_path).insert(
        "signals_runs",
        [
            {
                "run_id": uuid.uuid4().hex,
                "name": ref.name,
                "docs_hash": ref.docs_hash,
                "signals_key": ref.key,
                "signals_version": SIGNALS_VERSION,
                "signals_dir": str(ref.dir),
                "cached": cached,
                "shards": len(ref.shards),
                "documents": ref.documents,
                "seconds": seconds,
                "finished_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ],
    )


def _summary(ref: SignalsRef, cached: bool, seconds: float, errors: int = 0) -> str:
    return (
        f"# Signals: {ref.name}\n\n| | |\n|---|---|\n| documents | {ref.documents:,} |\n"
        f"| documents whose signals failed (empty-text signals, `signals_error` set) | {errors:,} |\n"
        f"| shards | {len(ref.shards)} |\n| signals version | {SIGNALS_VERSION} |\n"
        f"| folder | `{ref.dir}` |\n| cached | {cached} |\n| seconds | {seconds:.1f} |\n"
    )


def run_signals(
    name: str, workspace: str | Path | None = None, dask_address: str | None = None, n_workers: int | None = None
) -> SignalsRef:
    """Signals of the ingested source `name`, computing them unless already done.

    Callable from other flows (the ablation flow) and from the CLI."""
    ws = Workspace.from_env(workspace)
    docs = resolve_docs(ws, name)
    ref = signals_ref(ws, docs)
    if ref is not None:
        _record(ws, ref, cached=True, seconds=0.0)
        return ref
    n = n_workers or max(1, min(len(docs.shards), 8))
    runner = dask_task_runner(dask_address, n_workers=n)
    signals_flow.with_options(task_runner=runner)(name, str(ws.root))
    ref = signals_ref(ws, docs)
    if ref is None:
        raise RuntimeError(f"signals flow for {name!r} finished without marking {ws.root}/signals done")
    return ref


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m flows.signals", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "source",
        metavar="SOURCE_OR_NAME",
        help="an ingested source: its name (latest ingest) or its docs/<source-key> folder name",
    )
    ap.add_argument("--workspace", default=None, help="workspace root (default $WINNOW_HOME or ./.winnow)")
    ap.add_argument(
        "--dask-address", default=None, help="scheduler address of an existing Dask cluster (default: a local cluster)"
    )
    ap.add_argument("--workers", type=int, default=None, help="local Dask worker processes (default: min(shards, 8))")
    args = ap.parse_args(argv)
    ws = Workspace.from_env(args.workspace)
    docs = resolve_docs(ws, args.source)
    if signals_ref(ws, docs) is not None:
        ref = run_signals(args.source, ws.root)
        print(f"signals of {ref.name}: cached, {ref.documents:,} documents in {ref.dir}")
        return
    with prefect_api():
        ref = run_signals(args.source, ws.root, args.dask_address, args.workers)
    print(f"signals of {ref.name}: {ref.documents:,} documents in {ref.dir}")


if __name__ == "__main__":
    main()
