"""Scaling bench: one suite's wall time on a local Dask cluster of 1 vs 2 worker processes,
and what each stage did per worker.

    python bench/scaling.py                 # the small suite (2 WARCs + 300 Wikipedia leads, 2 arms)
    python bench/scaling.py SUITE.yaml      # any suite, e.g. recipes/suites/default.yaml
    python bench/scaling.py --workers 1 2 4 --max-parallel 1 2   # every workers x max-parallel pair

Each run starts from an empty workspace (nothing cached) under one Prefect API, on a
fresh `LocalCluster` of N single-threaded worker processes. Printed per run: wall time;
per stage, the catalog's documents (or tokens) per second of that stage's wall time;
per worker, the Dask task stream's busy seconds and tasks by kind (the Dask key's prefix).
Training and evaluation run in the flow's process unless a worker offers `GPU=1`
(flows._runtime.STAGE_RESOURCES), so on a CPU machine the workers scale ingest, signals
and tokenisation only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dask.utils import key_split  # noqa: E402

from flows import _runtime  # noqa: E402
from tasks.core.catalog import Catalog  # noqa: E402


@dataclass
class RunFigures:
    workers: int
    max_parallel: int | None
    wall_s: float
    stages: dict[str, tuple[float, float, str]]  # stage -> (amount, seconds, unit)
    busy: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)  # worker -> kind -> (n, s)


def _stage_figures(catalog: Catalog) -> dict[str, tuple[float, float, str]]:
    """Amount of work and seconds per stage, summed over the run's catalog rows."""

    def total(table: str, amount: str, seconds: str = "seconds") -> tuple[float, float]:
        rows = catalog.table(table).to_pylist()
        return sum(float(r[amount] or 0) for r in rows), sum(float(r[seconds] or 0) for r in rows)

    out = {}
    for stage, table, amount, unit in (
        ("ingest", "ingest_runs", "docs_written", "docs"),
        ("signals", "signals_runs", "documents", "docs"),
        ("curate", "datasets", "documents_in", "docs"),
        ("train", "train_runs", "tokens_trained", "tokens"),
    ):
        n, s = total(table, amount)
        out[stage] = (n, s, unit)
    return out


def _busy(stream: list[dict]) -> dict[str, dict[str, tuple[int, float]]]:
    """{worker: {task kind: (tasks, compute seconds)}} from the scheduler's task stream."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    for rec in stream:
        compute = sum(s["stop"] - s["start"] for s in rec.get("startstops", ()) if s.get("action") == "compute")
        cell = out[rec["worker"]][key_split(rec["key"])]
        cell[0] += 1
        cell[1] += compute
    return {w: {k: (int(v[0]), v[1]) for k, v in kinds.items()} for w, kinds in out.items()}


def run_once(suite: str, workers: int, root: Path, max_parallel: int | None) -> RunFigures:
    from distributed import Client

    from flows.ablation import ablation_flow

    ws = root / f"ws-{workers}-{max_parallel}"
    with _runtime.dask_cluster(None, n_workers=workers) as address, Client(address) as client:
        client.get_task_stream()  # the scheduler records tasks from here on
        t0 = time.perf_counter()
        ablation_flow(suite, workspace=str(ws), dask_address=address, max_parallel=max_parallel)
        wall = time.perf_counter() - t0
        stream = client.get_task_stream()
    return RunFigures(workers, max_parallel, wall, _stage_figures(Catalog(ws / "catalog.duckdb")), _busy(stream))


def markdown(runs: list[RunFigures]) -> str:
    lines = [
        "| workers | max parallel | wall s | "
        + " | ".join(f"{s} ({runs[0].stages[s][2]}/s)" for s in runs[0].stages)
        + " |",
        "|---:|---:|---:|" + "---:|" * len(runs[0].stages),
    ]
    for r in runs:
        cells = [f"{n / s:,.0f}" if s else "–" for n, s, _ in r.stages.values()]
        mp = r.max_parallel or "default"
        lines.append(f"| {r.workers} | {mp} | {r.wall_s:.1f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| workers | max parallel | worker | task kind | tasks | compute s |",
        "|---:|---:|---|---|---:|---:|",
    ]
    for r in runs:
        for i, (_worker, kinds) in enumerate(sorted(r.busy.items())):
            for kind, (n, s) in sorted(kinds.items()):
                lines.append(f"| {r.workers} | {r.max_parallel or 'default'} | w{i} | {kind} | {n} | {s:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", nargs="?", help="suite YAML (default: the small test suite, written to a temp dir)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts (default 1 2)")
    ap.add_argument(
        "--max-parallel", type=int, nargs="+", default=[None], help="arm runs at once (default: the ablation's)"
    )
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="winnow-scaling-"))
    suite = args.suite
    if suite is None:
        from tests._small_suite import write_small_suite

        suite = str(write_small_suite(root / "suite", failing_arm=False))
    os.environ.setdefault("WINNOW_REPORTS", str(root / "reports"))
    runs = []
    with _runtime.prefect_api():
        for n in args.workers:
            for mp in args.max_parallel:
                runs.append(run_once(suite, n, root, mp))
                print(f"{n} worker(s), max parallel {mp or 'default'}: {runs[-1].wall_s:.1f} s", flush=True)
    print(f"\n## Scaling: {suite} on {os.cpu_count()} CPUs (workspaces under {root})\n")
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
