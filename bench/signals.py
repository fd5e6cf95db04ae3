"""Benchmark: quality signals vs datatrove's filters, and a recipe-only re-filter.

1. Documents/s per core: winnow computing *all* signals (Gopher quality + repetition,
   C4, FineWeb, lengths, URL) vs datatrove 0.10.1 running GopherQualityFilter,
   GopherRepetitionFilter, C4QualityFilter and FineWebQualityFilter on every document
   (each filter sees the original text, as signals do; one loop, so datatrove's word
   cache is shared across its filters as in a pipeline). Same documents, same process,
   single thread; CPU seconds, so other load on the machine does not skew the ratio.
2. Re-filter: the heuristic recipe's filters as one DuckDB query over 1M signal rows
   (the real rows repeated), timed end to end from Parquet.

    PYTHONPATH=$PWD python bench/signals.py [--docs N] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CC = ROOT.parent / "shared" / "data" / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz"


def load_texts(limit: int | None) -> list[dict]:
    rows = []
    with gzip.open(CC, "rt", encoding="utf-8") as f:
        for _i, line in enumerate(f):
            rec = json.loads(line)
            meta = rec.get("metadata") or {}
            rows.append(
                {
                    "doc_id": str(rec["id"]),
                    "source": "cc",
                    "text": rec["text"],
                    "url": meta.get("url") or meta.get("warc_url"),
                    "language": "en",
                    "language_score": 1.0,
                }
            )
    return rows[:limit] if limit else rows


def bench_datatrove(texts: list[str]) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.utils.text import split_into_words

    filters = [GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(), FineWebQualityFilter()]
    split_into_words("warm up the tokenizer")
    t0 = time.process_time()
    for i, text in enumerate(texts):
        for f in filters:
            f.filter(Document(text=text, id=str(i)))
    return time.process_time() - t0


def bench_winnow(rows: list[dict]):
    import pyarrow as pa

    from tasks.signals.computer import get_computer
    from tasks.signals.signals import compute_signals

    get_computer().compute("warm up the tokenizer")
    table = pa.Table.from_pylist(rows)
    t0 = time.process_time()
    signals = compute_signals(table)
    return time.process_time() - t0, signals


def bench_refilter(signals, n_rows: int) -> tuple[float, float, int, int]:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.recipe import load_recipe
    from tasks.signals.filters import combined_predicate, filter_counts, resolve_rules

    reps = -(-n_rows // signals.num_rows)
    big = pa.concat_tables([signals] * reps).slice(0, n_rows)
    recipe = load_recipe(ROOT / "recipes" / "heuristic.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signals.parquet"
        pq.write_table(big, path, row_group_size=128 * 1024)
        t0 = time.perf_counter()
        counts = filter_counts([path], recipe.filters)
        seconds = time.perf_counter() - t0
        # The kept doc ids themselves, as curate's filter step materialises them.
        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute(
            f"CREATE TABLE kept AS SELECT doc_id FROM read_parquet('{path}') "
            f"WHERE {combined_predicate(resolve_rules(recipe.filters))}"
        )
        kept = con.execute("SELECT count(*) FROM kept").fetchall()[0][0]
        ids_seconds = time.perf_counter() - t0
        assert kept == counts.kept
    return seconds, ids_seconds, counts.kept, big.num_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=None, help="documents from the CC sample (default all 697)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="signal rows for the re-filter timing")
    args = ap.parse_args()
    rows = load_texts(args.docs)
    texts = [r["text"] for r in rows]
    n = len(texts)
    print(f"{n} documents, {sum(map(len, texts)) / 1e6:.2f}M characters (CC-MAIN-2019-30 sample)")
    dt = bench_datatrove(texts)
    ours, signals = bench_winnow(rows)
    print(f"datatrove 4 filters : {dt:7.2f} CPU s  {n / dt:8.1f} docs/s/core")
    print(f"winnow all signals  : {ours:7.2f} CPU s  {n / ours:8.1f} docs/s/core")
    print(f"ratio (winnow / datatrove docs/s per core): {dt / ours:.2f}x")
    seconds, ids_seconds, kept, total = bench_refilter(signals, args.rows)
    print(
        f"re-filter {total:,} signal rows with recipes/heuristic.yaml: per-rule counts {seconds:.2f} s wall, "
        f"kept ids table {ids_seconds:.2f} s wall, {kept:,} kept (target < 5 s)"
    )


if __name__ == "__main__":
    main()
