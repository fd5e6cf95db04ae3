"""Two writers on one workspace: stage claims, stale-lock recovery, dead-writer clean-up,
and two whole suites run at once on one workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tasks.core.workspace import Workspace, dead_writer_temps, host_id, temp_sibling
from tests import _procs

ROOT = Path(__file__).resolve().parent.parent

# A child that claims docs/k, says so, computes for `hold` seconds and marks it done.
_CLAIMANT = """
import sys, time
from pathlib import Path
from tasks.core.workspace import Workspace
ws = Workspace.from_env(sys.argv[1])
hold, tag = float(sys.argv[2]), sys.argv[3]
with ws.claim("docs", "k") as c:
    Path(sys.argv[1], f"entered-{tag}").write_text(f"{c.todo} {c.waited}")
    if c.todo:
        time.sleep(hold)
        with open(Path(sys.argv[1]) / "computations", "a") as f:
            f.write(tag + "\\n")
        ws.mark_done("docs", "k", {"by": tag})
"""


def _claimant(root: Path, hold: float, tag: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", _CLAIMANT, str(root), str(hold), tag], env=env)


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_second_claimant_waits_then_reuses(tmp_path):
    ws = Workspace.from_env(tmp_path)
    first = _claimant(tmp_path, 3.0, "a")
    _wait_for(tmp_path / "entered-a")
    # The lock file names its holder, beside the output.
    holder = ws.lock_path("docs", "k").read_text().split("\n")
    assert int(holder[0]) == first.pid and holder[1]
    second = _claimant(tmp_path, 0.0, "b")
    assert first.wait(60) == 0 and second.wait(60) == 0
    assert (tmp_path / "computations").read_text() == "a\n"  # computed once
    assert (tmp_path / "entered-b").read_text() == "False True"  # waited, then found it done
    assert ws.read_done("docs", "k") == {"by": "a"}
    assert [(c["stage"], c["key"], c["pid"]) for c in ws.claims()] == [("docs", "k", first.pid)]
    assert not ws.lock_path("docs", "k").exists()


def test_a_claim_that_waits_too_long_names_the_holder(tmp_path):
    ws = Workspace.from_env(tmp_path)
    holder = _claimant(tmp_path, 30.0, "slow")
    try:
        _wait_for(tmp_path / "entered-slow")
        with pytest.raises(TimeoutError, match=rf"docs/k .* claimed by pid {holder.pid} on "):
            with ws.claim("docs", "k", timeout=0.5):
                pass
    finally:
        holder.kill()
        holder.wait(30)


def test_dead_holders_lock_is_broken(tmp_path):
    ws = Workspace.from_env(tmp_path)
    victim = _claimant(tmp_path, 600.0, "dead")
    _wait_for(tmp_path / "entered-dead")
    victim.kill()  # SIGKILL: the lock file stays, naming a pid that is gone
    victim.wait(30)
    assert int(ws.lock_path("docs", "k").read_text().split("\n")[0]) == victim.pid  # stale, names the dead
    survivor = _claimant(tmp_path, 0.0, "next")
    assert survivor.wait(60) == 0
    # Broken at once (no wait: the holder is provably dead), and it had to compute.
    assert (tmp_path / "entered-next").read_text() == "True False"
    assert ws.read_done("docs", "k") == {"by": "next"}


def test_nested_claims_of_one_key_do_not_deadlock(tmp_path):
    ws = Workspace.from_env(tmp_path)
    with ws.claim("datasets", "d", timeout=5) as outer:
        with ws.claim("datasets", "d", timeout=1) as inner:
            assert outer.todo and inner.todo and not inner.waited
            ws.mark_done("datasets", "d")
    assert [c["stage"] for c in ws.claims()] == ["datasets"]
    with ws.claim("datasets", "d", timeout=5) as again:
        assert not again.todo
    assert len(ws.claims()) == 1  # reuse is not a computation


def test_only_provably_dead_writers_temps_are_cleaned(tmp_path):
    out = tmp_path / "shard-00000.parquet"
    live = temp_sibling(out)  # this process: alive
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".{out.name}.{host_id()}.{int(gone.stdout)}.tmp"
    other_host = tmp_path / f".{out.name}.some-other-host.{int(gone.stdout)}.tmp"
    legacy = tmp_path / f".{out.name}.{int(gone.stdout)}.tmp"  # no host: cannot prove anything
    for p in (live, dead, other_host, legacy):
        p.write_bytes(b"x")
    assert dead_writer_temps(tmp_path) == [dead]


# ---------------------------------------------------------------- two suites at once

# Each process imports everything, then waits at a barrier (both ready files) so the two
# suites start within milliseconds of each other and contend for every stage.
_SUITE_RUNNER = """
import sys, time
from pathlib import Path
barrier, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
from flows import ablation
(barrier / f"ready-{me}").touch()
deadline = time.time() + 300
while len(list(barrier.glob("ready-*"))) < n:
    if time.time() > deadline:
        sys.exit("barrier: the other suite never got ready")
    time.sleep(0.01)
(barrier / f"go-{me}").write_text(repr(time.time()))
try:
    code = ablation.main(sys.argv[4:])
finally:
    (barrier / f"end-{me}").write_text(repr(time.time()))
sys.exit(code)
"""


SUITES_TIMEOUT_S = 2400  # both suites, from scratch, on a loaded 2-core machine


def run_two_suites(tmp_path: Path, timeout: float = SUITES_TIMEOUT_S) -> dict[str, tuple[int, str]]:
    """Start two `python -m flows.ablation SUITE` on one workspace behind a barrier; each
    has its own Prefect home and report folder (two users' shells). Each runs in its own
    process group, killed with everything it started (its temporary Prefect API, its Dask
    workers) on a timeout or a failure. Returns {name: (exit code, log)}."""
    from tests._small_suite import write_small_suite

    suite = write_small_suite(tmp_path / "suite", failing_arm=False)
    ws_root = tmp_path / "ws"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WINNOW_HOME": str(ws_root)}
    env.pop("PREFECT_API_URL", None)
    procs = {}
    for me in ("a", "b"):
        with open(tmp_path / f"suite-{me}.log", "w") as log:
            procs[me] = _procs.start(
                [sys.executable, "-c", _SUITE_RUNNER, str(barrier), me, "2", str(suite), "--workspace", str(ws_root)],
                cwd=ROOT,
                env={
                    **env,
                    "PREFECT_HOME": str(tmp_path / f"prefect-{me}"),
                    "WINNOW_REPORTS": str(tmp_path / f"reports-{me}"),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    codes = _procs.wait_all(procs, timeout)
    return {me: (codes[me], (tmp_path / f"suite-{me}.log").read_text()) for me in procs}


def check_two_suites(tmp_path: Path, runs: dict[str, tuple[int, str]]) -> None:
    from tasks.core.catalog import Catalog

    logs = {me: text for me, (_, text) in runs.items()}
    assert {me: code for me, (code, _) in runs.items()} == {"a": 0, "b": 0}, {me: t[-4000:] for me, t in logs.items()}
    # They really ran at once: each started (left the barrier) before the other ended.
    stamp = lambda what, me: float((tmp_path / "barrier" / f"{what}-{me}").read_text())  # noqa: E731
    starts, ends = [stamp("go", me) for me in ("a", "b")], [stamp("end", me) for me in ("a", "b")]
    assert max(starts) < min(ends), {"starts": starts, "ends": ends}
    for me, text in logs.items():
        assert "| plain |" in text and "| random |" in text  # both printed the full leaderboard
        page = (tmp_path / f"reports-{me}" / "small" / "index.html").read_text()  # each its own report
        assert 'id="card-plain"' in page and 'id="card-random"' in page

    ws = Workspace.from_env(tmp_path / "ws")
    # claims.log has one line per mark_done, written whether or not a claim was held.
    computed = Counter((c["stage"], c["key"]) for c in ws.claims())
    twice = {k: n for k, n in computed.items() if n > 1}
    assert not twice, f"computed more than once: {twice}"
    assert sum(text.count("waiting for ") for text in logs.values()) >= 1  # and they did contend
    stages = Counter(stage for stage, _ in computed)
    # Every output the suites share was finished: 2 sources, then per arm its data, model, eval.
    assert stages["docs"] == 2 and stages["signals"] == 2, stages
    assert stages["datasets"] == 2 and stages["tokens"] == 2 and stages["models"] == 2, stages
    assert stages["tokenizers"] == 1 and stages["evals"] == 2, stages
    assert len({c["pid"] for c in ws.claims()}) == 2  # the work was shared out, not done by one
    for stage, key in computed:
        assert ws.is_done(stage, key)
    assert [p.name for p in ws.root.rglob("*.lock")] == ["catalog.duckdb.lock"]  # every claim released
    assert not list(ws.root.rglob(".*.tmp"))

    cat = Catalog(ws.catalog_path)
    arms = cat.table("arm_runs").to_pylist()
    assert {(r["arm"], r["status"]) for r in arms} == {("plain", "completed"), ("random", "completed")}
    assert cat.table("sources").num_rows == 2
    assert {r["data_hash"][:16] for r in cat.table("datasets").to_pylist()} == {r["dataset_key"] for r in arms}
    assert cat.table("train_runs").num_rows == 2  # one row per model (keyed by its hash)
    validated = {r["key"] for r in cat.table("validation_runs").to_pylist()}
    assert {f"dataset-{r['dataset_key']}" for r in arms} <= validated
    # Both suites' leaderboards are the same numbers (one dataset, model and eval per arm).
    board = lambda text: [line for line in text.splitlines() if line.startswith("| ")]  # noqa: E731
    assert board(logs["a"]) == board(logs["b"]) != []


@pytest.mark.slow
@pytest.mark.timeout(2700)  # two suites at once on a shared 2-core machine: minutes each
def test_two_suites_at_once_on_one_workspace(tmp_path):
    check_two_suites(tmp_path, run_two_suites(tmp_path))


# A child that starts a grandchild (as a suite starts its Prefect API and Dask workers),
# says its pid, and waits.
_PARENT = "sleep 600 & echo $! > {pidfile}; wait"


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.time() + seconds
    while not _gone(pid) and time.time() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def test_a_timed_out_wait_kills_what_the_children_started(tmp_path):
    """What run_two_suites relies on: a timeout kills each child's whole process group."""
    pidfile = tmp_path / "grandchild.pid"
    procs = {"a": _procs.start(["sh", "-c", _PARENT.format(pidfile=pidfile)])}
    _wait_for_text(pidfile)
    grandchild = int(pidfile.read_text())
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            _procs.wait_all(procs, timeout=0.5)
        assert procs["a"].poll() is not None
        assert _wait_gone(grandchild), "the child's own child outlived the timeout"
    finally:
        if not _gone(grandchild):
            os.kill(grandchild, 9)


def test_a_timed_out_run_kills_what_the_child_started(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        _procs.run(["sh", "-c", _PARENT.format(pidfile=pidfile)], timeout=10)
    grandchild = int(pidfile.read_text())
    try:
        assert _wait_gone(grandchild), "the child's own child outlived the timeout"
    finally:
        if not _gone(grandchild):
            os.kill(grandchild, 9)


def _wait_for_text(path: Path, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.time() < deadline, f"{path} stayed empty"
        time.sleep(0.05)
