"""Concurrent arms (`flows.ablation --max-parallel N`): the small real suite run serially
and with two arms at once gives the same leaderboard numbers, bit for bit; the parallel
arms' [started_at, finished_at] intervals in the catalog overlap; every shared output
(tokenizer, token counts, datasets, ...) is computed once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tests._small_suite import write_small_suite

ROOT = Path(__file__).resolve().parent.parent

# One process, one Prefect API and one local Dask cluster for both runs (each start costs
# seconds). The parallel workspace starts from the serial one's documents and signals
# (upstream of every arm, computed once per source either way), so the arms are what the
# two runs compute.
_BOTH = """
import shutil, sys
from pathlib import Path
from flows import _runtime
from flows.ablation import ablation_flow
suite, serial, parallel = sys.argv[1:4]
with _runtime.prefect_api(), _runtime.dask_cluster(None, n_workers=1) as address:
    print(ablation_flow(suite, workspace=serial, dask_address=address, max_parallel=1))
    for stage in ("docs", "signals"):
        shutil.copytree(Path(serial) / stage, Path(parallel) / stage)
    print(ablation_flow(suite, workspace=parallel, dask_address=address, max_parallel=2))
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parallel")
    suite = write_small_suite(tmp / "suite", failing_arm=False)
    serial, parallel = tmp / "serial", tmp / "parallel"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WINNOW_REPORTS": str(tmp / "reports")}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _BOTH, str(suite), str(serial), str(parallel)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return Workspace.from_env(serial), Workspace.from_env(parallel), done.stdout + done.stderr


def _metrics(ws: Workspace) -> dict[tuple[str, int, str], float]:
    rows = Catalog(ws.catalog_path).table("arm_metrics").to_pylist()
    return {(r["arm"], r["seed"], r["metric"]): r["value"] for r in rows}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_parallel_arms_match_serial_and_overlap(two_runs):
    serial, parallel, log = two_runs
    a, b = _metrics(serial), _metrics(parallel)
    assert {arm for arm, _, _ in a} == {"plain", "random"}
    assert {"train_loss", "bpb/wiki_leads_heldout", "tokens"} <= {m for _, _, m in a}
    assert a == b  # bit-identical: same seeds, torch stages taking turns (tasks/core/torchlock.py)

    runs = {r["arm"]: r for r in Catalog(parallel.catalog_path).table("arm_runs").to_pylist()}
    assert {arm: r["status"] for arm, r in runs.items()} == {"plain": "completed", "random": "completed"}
    for r in runs.values():
        assert r["started_at"] < r["finished_at"]
    starts = [r["started_at"] for r in runs.values()]
    ends = [r["finished_at"] for r in runs.values()]
    assert max(starts) < min(ends), runs  # both arms were running at once
    assert "2 arm runs, at most 2 at once" in log
    serial_runs = Catalog(serial.catalog_path).table("arm_runs").to_pylist()
    s0, s1 = sorted((r["started_at"], r["finished_at"]) for r in serial_runs)
    assert s0[1] <= s1[0]  # the serial run really was one after another

    # Shared outputs raced for by the two arms (suite tokenizer, per-source token counts)
    # were computed once; claims.log has one line per computation.
    computed = Counter((c["stage"], c["key"]) for c in parallel.claims())
    assert not {k: n for k, n in computed.items() if n > 1}
    stages = Counter(stage for stage, _ in computed)
    assert stages["tokenizers"] == 1 and stages["doc_tokens"] == 2, stages
    assert stages["datasets"] == 2 and stages["models"] == 2 and stages["evals"] == 2, stages
    assert [p.name for p in parallel.root.rglob("*.lock")] == ["catalog.duckdb.lock"]  # every claim released


def test_default_max_parallel_is_half_the_cores_1_to_4(monkeypatch):
    from flows import ablation

    for cores, expected in ((1, 1), (2, 1), (3, 1), (4, 2), (8, 4), (64, 4)):
        monkeypatch.setattr(ablation.os, "cpu_count", lambda c=cores: c)
        assert ablation.default_max_parallel() == expected, cores


def test_max_parallel_below_one_is_refused(capsys):
    from flows.ablation import main

    with pytest.raises(SystemExit):
        main(["--max-parallel", "0"])
    assert "--max-parallel must be at least 1, not 0" in capsys.readouterr().err


def test_torch_stages_take_turns_across_threads():
    """The lock the torch stages share excludes other threads and is re-entrant in one."""
    import threading
    import time

    from tasks.core.torchlock import torch_stage

    inside, overlaps = [], []

    def stage(tag: str) -> None:
        with torch_stage(), torch_stage():  # nested: no deadlock
            if inside:
                overlaps.append((inside[-1], tag))
            inside.append(tag)
            time.sleep(0.05)
            inside.remove(tag)

    # Daemon threads: a deadlocked one must fail the test, not hang the interpreter at exit.
    threads = [threading.Thread(target=stage, args=(f"t{i}",), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still inside torch_stage after 30 s (a deadlock): {stuck}"
    assert not overlaps
