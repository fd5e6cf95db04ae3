"""The product's face, end to end on a small real suite, against one local Prefect server:

- `python -m flows.ablation SUITE` runs every arm as a subflow; a failing arm is recorded
  and its siblings finish; the leaderboard is printed;
- a second run of the same suite is served from the workspace (every stage cached);
- the Prefect UI (headless Chromium driven by Playwright) shows the ablation deployment,
  the finished run and its leaderboard artifact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tests._small_suite import write_small_suite

ROOT = Path(__file__).resolve().parent.parent
# The first test builds the module fixture (two suite runs in subprocesses): minutes on 2 shared
# cores, past the 600 s default under a parallel run (seen at load 18).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory):
    """Two real wget WARCs plus 300 Wikipedia leads; three arms, one of which must fail."""
    return write_small_suite(tmp_path_factory.mktemp("suite"), failing_arm=True)


@pytest.fixture(scope="module")
def ablation_runs(prefect_server, small_suite, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server["api"],
        "PREFECT_HOME": prefect_server["home"],
        "WINNOW_HOME": str(ws),
        "WINNOW_REPORTS": str(ws / "reports-html"),
        "PYTHONPATH": str(ROOT),
    }
    runs = []
    for _ in range(2):
        t0 = time.time()
        stamps = _stage_stamps(ws)
        done = subprocess.run(
            [sys.executable, "-m", "flows.ablation", str(small_suite), "--workspace", str(ws)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        runs.append((done, time.time() - t0, stamps))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    register = subprocess.run(
        [sys.executable, "-m", "deployments.serve", "--register-only"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert register.returncode == 0, register.stderr[-3000:]
    return ws, runs


def test_every_completed_arm_ran_its_contracts(ablation_runs):
    """validation_runs has the dataset and token-shard contracts of every completed arm
    (the arm flow also refuses to evaluate without them: flows.ablation.contracts_ran)."""
    ws, _ = ablation_runs
    cat = Catalog(ws / "catalog.duckdb")
    validated = {(r["suite"], r["key"]): r["success"] for r in cat.table("validation_runs").to_pylist()}
    arms = [r for r in cat.table("arm_runs").to_pylist() if r["status"] == "completed"]
    assert len(arms) == 2
    for arm in arms:
        tokens_key = next(
            r["tokens_key"]
            for r in cat.table("train_runs").to_pylist()
            if arm["model_key"].startswith(r["train_hash"][:16])
        )
        assert validated[("dataset", f"dataset-{arm['dataset_key']}")] is True, arm["arm"]
        assert validated[("token_shards", f"tokens-{tokens_key}")] is True, arm["arm"]
    assert {k for s, k in validated if s == "documents"} == {
        f"documents-{k}" for k in os.listdir(ws / "docs") if not k.endswith(".lock")
    }


def test_failed_arm_does_not_stop_siblings(ablation_runs):
    ws, runs = ablation_runs
    first = runs[0][0].stdout
    assert "| plain |" in first and "| random |" in first and "Failed arms: broken" in first
    status = {r["arm"]: r["status"] for r in Catalog(ws / "catalog.duckdb").table("arm_runs").to_pylist()}
    assert status == {"plain": "completed", "random": "completed", "broken": "failed"}
    error = {r["arm"]: r["error"] for r in Catalog(ws / "catalog.duckdb").table("arm_runs").to_pylist()}
    assert "no_such_source" in error["broken"]


def test_suite_report_page_cards_and_samples(ablation_runs):
    """The suite's one HTML page, a data card and an exclusion sample for every arm."""
    ws, runs = ablation_runs
    index = ws / "reports-html" / "small" / "index.html"
    page = index.read_text()
    assert 'id="card-plain"' in page and 'id="card-random"' in page and "Removal funnel" in page
    for arm in ("plain", "random"):
        key = next(r["dataset_key"] for r in Catalog(ws / "catalog.duckdb").query("arm_suites", {"arm": arm}))
        assert (ws / "datasets" / key / "card.json").exists() and (
            ws / "datasets" / key / "exclusions.parquet"
        ).exists()
    shown = subprocess.run(
        [sys.executable, "-m", "flows.inspect", "random", "--step", "selection", "--n", "2", "--workspace", str(ws)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "selection.random" in shown.stdout, shown.stderr[-2000:]


def _stage_stamps(ws: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every finished stage output's `_SUCCESS`: rewritten iff recomputed."""
    return {
        str(p.parent.relative_to(ws)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in ws.glob("*/*/_SUCCESS")
        if p.parent.parent.name != "reports"
    }


def test_rerun_is_served_from_cache(ablation_runs):
    ws, runs = ablation_runs
    (first, _, _), (second, _, after_first) = runs
    cat = Catalog(ws / "catalog.duckdb")
    train = cat.table("train_runs").to_pylist()
    assert len(train) == 2 and all(r["cached"] for r in train)  # one row per model, replaced: nothing retrained
    models = list((ws / "models").iterdir())
    assert len([m for m in models if (m / "_SUCCESS").exists()]) == 2
    # What ran, not how long it took: the second run computed no stage output (claims.log
    # has one line per output computed, all from the first run's process) and rewrote none.
    computed = Workspace.from_env(ws).claims()
    assert len(computed) == len({(c["stage"], c["key"]) for c in computed}) == len(after_first)
    assert len({c["pid"] for c in computed}) == 1
    assert {s for s in after_first} >= {f"docs/{k}" for k in os.listdir(ws / "docs") if not k.endswith(".lock")}
    assert _stage_stamps(ws) == after_first
    board = lambda out: [l for l in out.splitlines() if l.startswith("| ")]
    assert board(first.stdout) == board(second.stdout)  # same numbers from the cache


def test_prefect_ui_shows_deployment_run_and_artifact(prefect_server, ablation_runs):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    ui = prefect_server["ui"]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        page.goto(f"{ui}/deployments", wait_until="networkidle")
        page.get_by_text("ablation", exact=False).first.wait_for(timeout=60_000)
        page.goto(f"{ui}/runs", wait_until="networkidle")
        page.get_by_text("plain-seed0").first.wait_for(timeout=60_000)
        page.goto(f"{ui}/artifacts", wait_until="networkidle")
        page.get_by_text("leaderboard-small").first.wait_for(timeout=60_000)
        # The artifact itself: its markdown rendered (the table and the ranking note).
        artifact_id = _latest_artifact_id(prefect_server["api"], "leaderboard-small")
        page.goto(f"{ui}/artifacts/artifact/{artifact_id}", wait_until="networkidle")
        try:
            page.get_by_text("Verdict:").first.wait_for(timeout=60_000)
            page.get_by_text("Ranked by bits per byte").first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(Path(prefect_server["home"]) / "artifact.png"), full_page=True)
        browser.close()


def _latest_artifact_id(api: str, key: str) -> str:
    body = json.dumps({"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1}).encode()
    req = urllib.request.Request(f"{api}/artifacts/filter", data=body, headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())[0]["id"]


def test_a_run_prints_a_page_not_a_log(ablation_runs):
    """Quiet by default (flows/_console.py, tasks/core/logs.py): a stage bar or line each, the
    leaderboard, warnings, a failed arm as its reason, and no traceback (Prefect's run
    bookkeeping and library tracebacks used to fill the console)."""
    _, runs = ablation_runs
    for done, _, _ in runs:
        out = done.stdout + done.stderr
        lines = [line for line in out.splitlines() if line.strip()]  # text mode: a bar's redraws are lines
        bars = [line for line in lines if re.search(r"\d+%\|", line)]
        started = sum(1 for line in bars if re.search(r"\s0%\|", line))
        text = [line for line in lines if not re.search(r"\d+%\|", line)]
        assert len(text) + started < 100, "\n".join(text)
        assert started <= 2 * 2 + 2 * 3  # ingest + signals per source, train + evaluate per arm
        for noise in ("Traceback", "Finished in state", "nanobind", "is unsendable"):
            assert noise not in out, out[-5000:]
        assert "Verdict" in done.stdout
