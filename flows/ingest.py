"""Ingest crawl sources into documents: `python -m flows.ingest SOURCE... [options]`.

Resolves the SOURCE arguments (paths, globs, fsspec URLs, Common Crawl manifests) to
input files, keys the source by their content + the options, and, unless that key is
already done, maps `tasks.ingest.ingest.ingest_shard` over the files (one shard per file) on a
Dask cluster. Finished shards are kept: a killed run, rerun, redoes only the rest. The
result is `$WINNOW_HOME/docs/<key>/` with `_SUCCESS` naming the shards and docs_hash,
one `sources` and one `ingest_runs` row in the catalog, and a markdown artifact.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # keep the progress bar readable

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows._runtime import dask_task_runner, prefect_api
from tasks.core.catalog import Catalog
from tasks.core.logs import verbose
from tasks.core.workspace import Workspace
from tasks.ingest.extract import DEFAULT_EXTRACTOR, EXTRACTORS
from tasks.ingest.ingest import IngestOptions, finish_source, ingest_shard
from tasks.ingest.results import ShardCounts
from tasks.ingest.sources import CC_BASE_URL, resolve_sources, source_key


# No Prefect result cache here on purpose: the shard's done marker *is* its cache, it
# survives a killed run, and deleting the docs folder really forces the work again.
@task(name="ingest-shard", cache_policy=NO_CACHE, retries=0, task_run_name="ingest-shard-{shard_index}")
def ingest_shard_task(input_file: dict, out_dir: str, shard_index: int, options: dict, source_name: str) -> ShardCounts:
    return ingest_shard(input_file, out_dir, shard_index, options, source_name)


@flow(name="ingest-shards")
def ingest_shards_flow(files: list[dict], out_dir: str, options: dict, source_name: str) -> list[ShardCounts]:
    """Map ingest_shard over the files on this flow's task runner (Dask); progress bar."""
    from prefect.futures import as_completed
    from tqdm import tqdm

    futures = [ingest_shard_task.submit(f, out_dir, i, options, source_name) for i, f in enumerate(files)]
    results, failures = [], []
    with tqdm(total=len(futures), desc=f"ingest {source_name}", unit="shard", file=sys.stderr) as bar:
        for fut in as_completed(futures):
            try:
                counts = fut.result()
                results.append(counts)
                bar.set_postfix(docs=sum(r.docs_written for r in results))
            except Exception as e:  # keep the other shards; report every failure at the end
                failures.append(f"{type(e).__name__}: {e}")
            bar.update(1)
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(files)} shards failed (finished shards are kept; "
            f"rerun to redo only the rest):\n  " + "\n  ".join(failures)
        )
    return sorted(results, key=lambda r: r.shard)


def _default_name(files) -> str:
    parents = {Path(f.uri).parent.name if "://" not in f.uri else f.uri.split("://", 1)[1].split("/")[0] for f in files}
    return parents.pop() if len(parents) == 1 else "source"


def summary_line(info: dict, cached: bool, seconds: float) -> str:
    """One line for the console: what came in, what was kept, why the rest was not."""
    c = info["counts"]
    reasons = ", ".join(f"{r} {n:,}" for r, n in c["quarantine_by_reason"].items())
    fallbacks = ", ".join(f"{r} {n:,}" for r, n in c.get("fallback_by_reason", {}).items())
    return (
        f"ingest {info['name']}: {c['docs_written']:,} documents of {c['records_read']:,} records, "
        f"{c['records_quarantined']:,} quarantined{f' ({reasons})' if reasons else ''}"
        f"{f', extraction fallbacks: {fallbacks}' if fallbacks else ''}"
        f"{'' if c['balanced'] else ', counts NOT balanced'} · " + ("from cache" if cached else f"{seconds:.1f} s")
    )


def summary_markdown(info: dict, cached: bool, seconds: float) -> str:
    c = info["counts"]
    lines = [
        f"# Ingest `{info['name']}`{' (from cache)' if cached else ''}",
        "",
        f"source key `{info['source_key']}` · docs_hash `{info['docs_hash'][:16]}` · "
        f"{len(info['shards'])} shards · {seconds:.1f} s",
        "",
        "| records read | documents | WAT metadata | quarantined | balanced |",
        "|---:|---:|---:|---:|:--:|",
        f"| {c['records_read']:,} | {c['docs_written']:,} | {c['metadata_written']:,} | "
        f"{c['records_quarantined']:,} | {'yes' if c['balanced'] else 'NO'} |",
        "",
    ]
    if c["quarantine_by_reason"]:
        lines += ["| quarantine reason | records |", "|---|---:|"]
        lines += [f"| {r} | {n:,} |" for r, n in c["quarantine_by_reason"].items()] + [""]
    if c.get("fallback_by_reason"):  # documents kept, from a fallback extractor
        lines += ["| extraction fallback | documents |", "|---|---:|"]
        lines += [f"| {r} | {n:,} |" for r, n in c["fallback_by_reason"].items()] + [""]
    if c["other_records"]:
        lines += [
            "Other records (not documents): " + ", ".join(f"{k} {v:,}" for k, v in c["other_records"].items()),
            "",
        ]
    if c["languages"]:
        top = list(c["languages"].items())[:10]
        lines += ["Languages: " + ", ".join(f"{k} {v:,}" for k, v in top), ""]
    lines += ["| shard | input | read | docs | metadata | quarantined |", "|---|---|---:|---:|---:|---:|"]
    for shard, s in sorted(info["per_shard"].items()):
        lines.append(
            f"| {shard} | {s['input'].rsplit('/', 1)[-1]} | {s['records_read']:,} | {s['docs_written']:,} | "
            f"{s['metadata_written']:,} | {s['records_quarantined']:,} |"
        )
    return "\n".join(lines)


@flow(name="ingest")
def ingest_flow(
    sources: list[str],
    name: str | None = None,
    workspace: str | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    extractor: str = DEFAULT_EXTRACTOR,
    base_url: str = CC_BASE_URL,
    max_payload_bytes: int = 10_000_000,
    max_text_chars: int = 1_000_000,
) -> dict[str, Any]:
    from prefect.artifacts import create_markdown_artifact
    from prefect.runtime import flow_run

    t0 = time.time()
    started = datetime.now(UTC)
    ws, files, name, options, key = _plan(
        sources, name, workspace, extractor, base_url, max_payload_bytes, max_text_chars
    )
    out_dir = ws.stage_dir("docs", key)
    with ws.claim("docs", key) as claim:  # a concurrent run of the same source waits, then reuses
        cached = not claim.todo
        if cached:
            info = ws.read_done("docs", key)
        else:
            n_workers = workers or max(1, min(len(files), os.cpu_count() or 1, 8))
            runner = dask_task_runner(dask_address, n_workers)
            shard_counts = ingest_shards_flow.with_options(task_runner=runner)(
                [f.__dict__ for f in files], str(out_dir), options.key(), name
            )
            info = finish_source(ws, key, name, shard_counts, [f.uri for f in files])
    return record_ingest(
        ws,
        files,
        name,
        key,
        info,
        cached,
        extractor,
        started,
        time.time() - t0,
        run_id=str(flow_run.id or uuid.uuid4()),
        artifact=create_markdown_artifact,
    )


def record_ingest(
    ws: Workspace,
    files,
    name: str,
    key: str,
    info: dict,
    cached: bool,
    extractor: str,
    started: datetime,
    seconds: float,
    run_id: str,
    artifact=None,
) -> dict[str, Any]:
    """Catalog rows (`sources`, `ingest_runs`), the printed summary and the artifact."""
    out_dir = ws.stage_dir("docs", key)
    c = info["counts"]
    catalog = Catalog(ws.catalog_path)
    catalog.insert(
        "sources",
        [
            {
                "name": name,
                "source_hash": key,
                "uris": [f.uri for f in files],
                "n_files": len(files),
                "docs_dir": str(out_dir),
                "docs_hash": info["docs_hash"],
            }
        ],
        replace=True,
    )
    catalog.insert(
        "ingest_runs",
        [
            {
                "run_id": run_id,
                "name": name,
                "source_hash": key,
                "cached": cached,
                "records_read": c["records_read"],
                "docs_written": c["docs_written"],
                "metadata_written": c["metadata_written"],
                "records_quarantined": c["records_quarantined"],
                "quarantine_by_reason": json.dumps(c["quarantine_by_reason"]),
                "fallback_by_reason": json.dumps(c.get("fallback_by_reason", {})),
                "other_records": json.dumps(c["other_records"]),
                "bytes_read": c["bytes_read"],
                "seconds": seconds,
                "started_at": started,
                "finished_at": datetime.now(UTC),
                "docs_hash": info["docs_hash"],
                "docs_dir": str(out_dir),
                "extractor": extractor,
            }
        ],
        replace=True,
    )
    markdown = summary_markdown(info, cached, seconds)
    print(markdown if verbose() else summary_line(info, cached, seconds))  # the tables stay in the artifact
    if artifact is not None:
        artifact(
            markdown,
            key=f"ingest-{''.join(ch if ch.isalnum() else '-' for ch in name.lower())}",
            description=f"ingest of {name}",
        )
    return {
        "name": name,
        "source_key": key,
        "docs_hash": info["docs_hash"],
        "docs_dir": str(out_dir),
        "shards": info["shards"],
        "counts": c,
        "cached": cached,
        "shards_reused": info.get("shards_reused", 0),
    }


def _plan(sources, name, workspace, extractor, base_url, max_payload_bytes, max_text_chars):
    """(workspace, files, name, options, key): everything the cache decision needs."""
    ws = Workspace.from_env(workspace)
    files = resolve_sources(sources, base_url)
    name = name or _default_name(files)
    options = IngestOptions(extractor=extractor, max_payload_bytes=max_payload_bytes, max_text_chars=max_text_chars)
    # The name is in every doc_id, so it is part of the key.
    return ws, files, name, options, source_key(files, {**options.key(), "name": name})[:16]


def run_ingest(
    sources: list[str],
    name: str | None = None,
    workspace: str | Path | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    extractor: str = DEFAULT_EXTRACTOR,
    base_url: str = CC_BASE_URL,
    track_cached: bool = False,
    **limits,
) -> dict[str, Any]:
    """Plain-Python entry: ingest `sources` (a subflow when called inside another flow).

    Without a Prefect API already running (`PREFECT_API_URL`), a source that is already
    ingested is answered straight from its `_SUCCESS` (recorded in the catalog as a cached
    run) instead of starting a temporary API; `track_cached=True` runs the flow anyway.
    Returns {"name", "source_key", "docs_hash", "docs_dir", "shards", "counts", "cached"}.
    """
    sources = [str(s) for s in sources]
    workspace = None if workspace is None else str(workspace)
    limits = {"max_payload_bytes": 10_000_000, "max_text_chars": 1_000_000, **limits}
    if not os.environ.get("PREFECT_API_URL") and not track_cached:
        # Served from cache without the ~10-20 s start of a temporary Prefect API.
        t0, started = time.time(), datetime.now(UTC)
        ws, files, name_, options, key = _plan(sources, name, workspace, extractor, base_url, **limits)
        if ws.is_done("docs", key):
            return record_ingest(
                ws,
                files,
                name_,
                key,
                ws.read_done("docs", key),
                True,
                extractor,
                started,
                time.time() - t0,
                run_id=f"cached-{uuid.uuid4()}",
            )
    with prefect_api():
        return ingest_flow(sources, name, workspace, dask_address, workers, extractor, base_url, **limits)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m flows.ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="input files: local paths, globs, directories, fsspec URLs (file://, http(s)://, s3://) "
        "or Common Crawl style manifests (text or .gz, one path per line); formats WARC, WET, "
        "WAT (metadata), JSONL(.gz/.zst) with a `text` field, Parquet with a `text` column",
    )
    p.add_argument(
        "--name",
        help="source name, stored in every document and part of doc_id (default: the inputs' common folder name)",
    )
    p.add_argument("--workspace", help="workspace root (default: $WINNOW_HOME or ./.winnow)")
    p.add_argument(
        "--dask-address", help="scheduler address of an existing Dask cluster (default: a LocalCluster on this machine)"
    )
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default: min(files, cores, 8))")
    p.add_argument(
        "--extractor",
        choices=EXTRACTORS,
        default=DEFAULT_EXTRACTOR,
        help=f"HTML -> text extractor (default {DEFAULT_EXTRACTOR}; see docs/ingest.md)",
    )
    p.add_argument(
        "--base-url", default=CC_BASE_URL, help=f"base URL for relative paths in manifests (default {CC_BASE_URL})"
    )
    p.add_argument(
        "--max-payload-bytes",
        type=int,
        default=10_000_000,
        help="quarantine records with a larger payload as oversized_payload (default 10,000,000)",
    )
    p.add_argument(
        "--max-text-chars",
        type=int,
        default=1_000_000,
        help="cut longer extracted texts and set text_truncated (default 1,000,000)",
    )
    p.add_argument(
        "--track-cached",
        action="store_true",
        help="start Prefect and record a flow run even when the source is already ingested "
        "(default: answer from the workspace without starting a temporary Prefect API)",
    )
    a = p.parse_args(argv)
    result = run_ingest(
        a.sources,
        a.name,
        a.workspace,
        a.dask_address,
        a.workers,
        a.extractor,
        a.base_url,
        a.track_cached,
        max_payload_bytes=a.max_payload_bytes,
        max_text_chars=a.max_text_chars,
    )
    print(
        f"docs: {result['docs_dir']} (docs_hash {result['docs_hash'][:16]}, "
        f"{'cached' if result['cached'] else 'ingested'})"
    )
    return 0 if result["counts"]["balanced"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
