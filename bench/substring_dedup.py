"""Exact-substring dedup (tasks/dedup/substring.py) on the demo pool's docs shards.

    PYTHONPATH=$PWD python bench/substring_dedup.py [--workspace DIR] [--sources crawl,docs,wiki]
        [--min-len 50] [--unit bytes|tokens --tokenizer DIR] [--keep first|none] [--out FILE.json]

One suffix array per docs shard, as the mode's default `per: shard` builds it: per shard
the documents, UTF-8 bytes, wall and CPU seconds (suffix array + LCP + longest previous
factor + the cut to characters), bytes removed and documents cut / left under 50
characters; then the totals, throughput (MB per CPU-second) and the worst shard. Peak
RSS of the process at the end. It only reads the workspace.

No peer is timed: google-research/deduplicate-text-datasets (the paper's code) is Rust
built with cargo, not on PyPI; the `text-dedup` package's suffix-array mode shells out to
a checkout of it (`cargo run self-similar` / `collect`) and pins pyspark among others.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import pyarrow.parquet as pq

from tasks.core.docsref import resolve_docs
from tasks.core.workspace import Workspace
from tasks.dedup.spec import SubstringDedupSpec
from tasks.dedup.substring import byte_units, cut_repeats, strip_spans, token_encoder


def shard_row(path: Path, spec: SubstringDedupSpec, encode) -> dict:
    texts = [t or "" for t in pq.read_table(path, columns=["text"]).column("text").to_pylist()]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    w0, c0 = time.perf_counter(), time.process_time()
    spans = cut_repeats(texts, spec, encode)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    left = [strip_spans(t, s) for t, s in zip(texts, spans, strict=True)]
    removed = nbytes - sum(len(t.encode("utf-8")) for t in left)
    return {
        "shard": f"{path.parent.name[:8]}/{path.name}",
        "docs": len(texts),
        "bytes": nbytes,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "bytes_removed": removed,
        "removed_share": round(removed / max(nbytes, 1), 4),
        "docs_cut": sum(bool(s) for s in spans),
        "docs_dropped": sum(bool(s) and len(t.strip()) < spec.min_chars for s, t in zip(spans, left, strict=True)),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--sources", default="crawl,docs,wiki")
    ap.add_argument("--min-len", type=int, default=50)
    ap.add_argument("--unit", choices=["bytes", "tokens"], default="bytes")
    ap.add_argument("--tokenizer", default=None, help="tokenizer folder (tokenizer.json), for --unit tokens")
    ap.add_argument("--keep", choices=["first", "none"], default="first")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    ws = Workspace.from_env(args.workspace)
    spec = SubstringDedupSpec(min_len=args.min_len, unit=args.unit, keep=args.keep)
    encode = byte_units
    if args.unit == "tokens":
        from tokenizers import Tokenizer

        encode = token_encoder(Tokenizer.from_file(str(Path(args.tokenizer) / "tokenizer.json")))
    rows = []
    for name in args.sources.split(","):
        for path in resolve_docs(ws, name).shards:
            rows.append({"source": name, **shard_row(Path(path), spec, encode)})
            print(json.dumps(rows[-1]), flush=True)
    total_bytes = sum(r["bytes"] for r in rows)
    cpu = sum(r["cpu_seconds"] for r in rows)
    worst = max(rows, key=lambda r: r["seconds"])
    summary = {
        "spec": spec.model_dump(),
        "shards": len(rows),
        "docs": sum(r["docs"] for r in rows),
        "bytes": total_bytes,
        "bytes_removed": sum(r["bytes_removed"] for r in rows),
        "removed_share": round(sum(r["bytes_removed"] for r in rows) / max(total_bytes, 1), 4),
        "docs_cut": sum(r["docs_cut"] for r in rows),
        "docs_dropped": sum(r["docs_dropped"] for r in rows),
        "seconds": round(sum(r["seconds"] for r in rows), 2),
        "cpu_seconds": round(cpu, 2),
        "mb_per_cpu_second": round(total_bytes / 1e6 / max(cpu, 1e-9), 2),
        "worst_shard": worst,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "per_shard": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "per_shard"}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
