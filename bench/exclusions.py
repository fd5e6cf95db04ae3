"""What the exclusion samples cost: curate time and bytes on disk, and how both scale.

    PYTHONPATH=$PWD python bench/exclusions.py [--scale 100000,1000000] [--out docs]

1. Real: the 697 CC-MAIN-2019-30 documents through the heuristic recipe (language,
   Gopher + C4 + FineWeb rules, exact + MinHash dedup, decontamination, a token budget),
   curated with no sample (n=0) and with the default (n=20 per reason): seconds of each,
   rows and bytes of exclusions.parquet.
2. Scale: the sampling query alone (anti-join of the step's input and output ids, the
   window that ranks each reason's removals in hash order) over S removed ids spread
   over 40 reasons, for each S: seconds and rows kept. The kept rows, hence the bytes, do
   not depend on S; the time is one pass over the removed ids.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from tasks.core.docsref import resolve_docs  # noqa: E402
from tasks.core.sqlfiles import load_sql, render_sql  # noqa: E402
from tasks.core.workspace import Workspace  # noqa: E402
from tasks.curate import exclusions as X  # noqa: E402
from tasks.curate import pipeline as C  # noqa: E402
from tasks.recipe import Recipe, load_recipe  # noqa: E402
from tasks.signals.signals import build_signals  # noqa: E402


def real(tmp: Path) -> dict:
    from tests.dedup_helpers import cc_texts, docs_table, write_source

    ws = Workspace.from_env(tmp / "ws")
    write_source(ws, "crawl", docs_table(cc_texts()))
    build_signals(ws, resolve_docs(ws, "crawl"))
    base = load_recipe(ROOT / "recipes" / "heuristic.yaml").model_dump()
    recipe = Recipe.model_validate(
        {**base, "sources": ["crawl"], "token_budget": 200_000, "dedup": {"exact": True, "minhash": True}}
    )
    out = {}
    C.curate(recipe, ws, exclusions=X.SampleConfig(n=0))  # warm: dedup clusters, eval index, scores cached
    for n in (0, 20, 0, 20):
        t0 = time.perf_counter()
        stats = C.curate(recipe, ws, exclusions=X.SampleConfig(n=n)).stats
        secs = time.perf_counter() - t0
        path = ws.stage_dir("datasets", C.dataset_key(recipe)) / X.FILE
        out.setdefault(f"n={n}", []).append(
            {
                "seconds": round(secs, 3),
                "rows": stats["exclusions"]["rows"],
                "reasons": len(stats["exclusions"]["removed_by_reason"]),
                "bytes": path.stat().st_size,
                "documents_in": stats["documents_in"],
                "documents_removed": stats["documents_in"] - stats["documents"],
            }
        )
    return out


def scale(sizes: list[int]) -> list[dict]:
    rows = []
    for s in sizes:
        con = duckdb.connect()
        con.execute("SET threads = 1")
        ids = pa.array([f"{i:032x}" for i in range(s)], pa.string())
        con.register("before_t", pa.table({"doc_id": ids}))
        con.execute(load_sql("inspect/bench_removed_ids"))
        explained = pa.table(
            {"doc_id": ids, "reason": pa.array([f"rule_{i % 40}" for i in range(s)]), "note": pa.nulls(s, pa.string())}
        )
        con.register("_explained", explained)
        t0 = time.perf_counter()
        got = con.sql(
            render_sql("inspect/sample_removed", before="before_ids", after="after_ids"),
            params={"n": 20, "seed": "0", "default_reason": "x"},
        ).to_arrow_table()
        rows.append({"removed_ids": s, "seconds": round(time.perf_counter() - t0, 3), "rows_kept": got.num_rows})
        con.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="100000,1000000")
    ap.add_argument("--out", default=None, help="folder for exclusions_bench.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"real": real(Path(tmp)), "scale": scale([int(x) for x in args.scale.split(",")])}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out, "exclusions_bench.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
