"""`python -m flows.dedup SOURCE_OR_NAME...`: MinHash signatures (once per source,
cached) and duplicate clusters (exact, URL, near-duplicate, line-level).

Signatures run as one Dask task per docs shard; the near-duplicate join as one Dask task
per band_hash range (`--partitions`), each with its own DuckDB reading ~1/P of the band
files, so that on an existing cluster (`--dask-address`) a worker holds 1/P of the join. The result is
`dedup/<key>/clusters.parquet` (+ `lines.parquet`), a `dedup_runs` catalog row and a
Prefect markdown artifact.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows._runtime import (
    cache_key_from,
    cluster_map,
    cluster_workers,
    dask_task_runner,
    on_dask_worker,
    prefect_api,
)
from tasks.core.catalog import Catalog
from tasks.core.docsref import resolve_docs
from tasks.core.shards import local_map
from tasks.core.workspace import Workspace
from tasks.dedup.dedup import run_dedup as run_clusters
from tasks.dedup.minhash import signals_key
from tasks.dedup.registry import mode_names
from tasks.dedup.signatures import compute_signatures, minhash_config, shard_job
from tasks.dedup.spec import DedupSpec


@task(
    name="minhash-shard",
    cache_key_fn=cache_key_from("key", lambda p: Path(p["job"][2]) / "sigs" / f"shard-{p['job'][1]:05d}.parquet"),
)
def minhash_shard(key: str, job: tuple) -> dict:
    return shard_job(job)


@task(name="dedup-clusters", persist_result=False)
def dedup_clusters(workspace_root: str, sources: list[str], spec: dict, against: list[str], partitions: int) -> dict:
    """Clusters for the whole input; candidate-pair partitions fan out on the Dask cluster."""
    ws = Workspace.from_env(workspace_root)
    map_fn = cluster_map() if partitions > 1 and on_dask_worker() else None
    result = run_clusters(
        ws, sources, DedupSpec.model_validate(spec), against, partitions=partitions, map_fn=map_fn or local_map
    )
    return {
        "key": result.key,
        "dir": str(result.dir),
        "stats": result.stats,
        "cached": result.cached,
        "pairs_on": "dask" if map_fn else "local",
    }


def map_signatures(ws: Workspace, refs: Sequence[Any], spec: DedupSpec) -> list[tuple[str, str]]:
    """MinHash signatures of each source, one `minhash-shard` task per docs shard on the
    current flow's task runner (the Dask cluster when it has one); the same files and claim
    as tasks.dedup.signatures.ensure_signatures in process. Returns (source, what) lines."""
    assert spec.minhash is not None
    cfg = minhash_config(spec.minhash)
    done = []
    for ref in refs:
        key = signals_key(ref.docs_hash, cfg)

        def run(jobs: Sequence[tuple], key: str = key) -> list[dict]:
            return [f.result() for f in minhash_shard.map([f"{key}-{j[1]:05d}" for j in jobs], jobs)]

        info = compute_signatures(ws, ref, cfg, run=run)
        done.append((ref.name, "cached" if info is None else f"{info['docs']} docs, {len(info['shards'])} shards"))
    return done


def clusters_on_cluster(ws: Workspace, refs: Sequence[Any], spec: DedupSpec, address: str) -> dict[str, Any]:
    """The duplicate clusters an arm's curate step asks for, with the near-duplicate join
    as one task per band_hash range on the cluster (one per worker). The result lands under
    the key curation uses (the partition count is not part of it), so curation reads it."""
    partitions = max(1, cluster_workers(address)) if spec.minhash is not None else 1
    result = run_clusters(ws, refs, spec, map_fn=cluster_map(address), partitions=partitions)
    return {"key": result.key, "cached": result.cached, "partitions": partitions}


def run_dedup(
    sources: Sequence[str],
    spec: DedupSpec | dict,
    workspace: str | None = None,
    against: Sequence[str] = (),
    partitions: int = 1,
) -> dict[str, Any]:
    """The dedup stage for the ablation flow (inside a flow run): signatures per shard as
    tasks on the flow's task runner, then clusters, catalog row and artifact."""
    t0 = time.time()
    spec = spec if isinstance(spec, DedupSpec) else DedupSpec.model_validate(spec)
    ws = Workspace.from_env(workspace)
    against = list(against) or list(spec.against)
    refs = [resolve_docs(ws, s) for s in sources]
    against_refs = [resolve_docs(ws, s) for s in against]
    signature_info = []
    if spec.minhash is not None:
        signature_info = map_signatures(ws, [*refs, *against_refs], spec)
    out = dedup_clusters.submit(
        str(ws.root), [r.source_key for r in refs], spec.model_dump(), [r.source_key for r in against_refs], partitions
    ).result()
    seconds = time.time() - t0
    stats = out["stats"]
    catalog = Catalog(ws.catalog_path)
    catalog.insert(
        "dedup_runs",
        [
            {
                "key": out["key"],
                "sources": [r.name for r in refs],
                "against": [r.name for r in against_refs],
                "scope": spec.scope,
                "modes": spec.modes(),
                "spec": json.dumps(spec.model_dump()),
                "input_docs": stats.get("input_docs"),
                "output_docs": stats.get("output_docs"),
                "removed": json.dumps(stats.get("removed", {})),
                "stats": json.dumps(stats),
                "cached": out["cached"],
                "seconds": seconds,
                "dir": out["dir"],
            }
        ],
        replace=True,
    )
    catalog.insert(
        "stage_runs",
        [
            {
                "stage": "dedup",
                "key": out["key"],
                "input_key": ",".join(r.docs_hash for r in refs),
                "cached": out["cached"],
                "seconds": seconds,
                "info": json.dumps(stats),
            }
        ],
    )
    create_markdown_artifact(
        key="dedup-" + out["key"].lower(), markdown=_summary(out, refs, signature_info), description="dedup clusters"
    )
    return out


def _summary(out: dict, refs, signature_info) -> str:
    s = out["stats"]
    lines = [
        f"# Dedup `{out['key']}`{' (cached)' if out['cached'] else ''}",
        "",
        f"Sources: {', '.join(r.name for r in refs)}; against: {', '.join(s.get('against', [])) or 'none'}",
        "",
        "| step | removed |",
        "|---|---|",
    ]
    for mode, n in s.get("removed", {}).items():
        lines.append(f"| {mode} | {n:,} |")
    lines += ["", f"Input documents: {s.get('input_docs', 0):,}; kept: {s.get('output_docs', 0):,}."]
    if "minhash" in s:
        m = s["minhash"]
        lines.append(
            f"MinHash candidate pairs: {m.get('candidate_pairs', 0):,}"
            + (f", verified: {m['verified_pairs']:,}" if "verified_pairs" in m else "")
            + "."
        )
    if "lines" in s:
        lines.append(
            f"Lines: {s['lines']['docs_rewritten']:,} documents rewritten, "
            f"{s['lines']['lines_removed']:,} lines removed."
        )
    for name, what in signature_info:
        lines.append(f"- signatures of {name}: {what}")
    lines.append(f"\nOutput: `{out['dir']}/clusters.parquet`")
    return "\n".join(lines)


@flow(name="dedup")
def dedup_flow(
    sources: list[str], spec: dict, workspace: str | None = None, against: list[str] | None = None, partitions: int = 1
) -> dict:
    return run_dedup(sources, spec, workspace, against or [], partitions)


def _parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m flows.dedup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE_OR_NAME", help="ingested sources (name or docs key) deduplicated together"
    )
    p.add_argument("--workspace", default=None, help="workspace root (default $WINNOW_HOME or ./.winnow)")
    p.add_argument("--dask-address", default=None, help="scheduler address of an existing Dask cluster")
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: CPUs, at most 8)")
    p.add_argument(
        "--modes",
        default="exact,url,minhash",
        help="comma-separated modes among exact,url,minhash,lines (default: exact,url,minhash)",
    )
    p.add_argument(
        "--scope",
        choices=["global", "source"],
        default="global",
        help="duplicates across all sources (global) or within each source",
    )
    p.add_argument("--against", nargs="*", default=[], help="earlier dataset's sources: matches are removed")
    p.add_argument(
        "--spec",
        default=None,
        help='JSON DedupSpec (overrides --modes/--scope), e.g. \'{"minhash": {"verify": "exact"}}\'',
    )
    p.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="band-hash partitions for candidate pairs, one Dask task each (scale-out)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = _parse(argv)
    if args.spec:
        spec = json.loads(args.spec)
    else:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        unknown = set(modes) - set(mode_names())
        if unknown:
            raise SystemExit(f"unknown dedup mode(s): {', '.join(sorted(unknown))}")
        spec = {m: True for m in modes} | {"scope": args.scope}
    spec = DedupSpec.model_validate(spec).model_dump()
    with prefect_api():
        runner = dask_task_runner(args.dask_address, args.workers)
        return dedup_flow.with_options(task_runner=runner)(
            args.sources, spec, args.workspace, args.against, args.partitions
        )


if __name__ == "__main__":
    out = main()
    print(json.dumps({"key": out["key"], "dir": out["dir"], "removed": out["stats"].get("removed")}, indent=1))
