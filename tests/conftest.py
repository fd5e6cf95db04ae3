"""Shared fixtures: real data from ../shared/data, a fresh workspace per test."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
CRAWL = SHARED_DATA / "crawl"

# Every test session gets its own Prefect home (database, result storage, settings) and
# no other Prefect setting from the caller's shell: a flow test must never write into
# ~/.prefect or a developer's live server (PREFECT_API_URL, a profile, an API key), nor run
# under their logging, result-persistence or timeout settings. Every PREFECT_* variable is
# dropped and the two the tests rely on are set; tests that want an API URL set it in the
# environment of the process they start. Hugging Face caches go to the session's own folder
# and stay offline: everything the stages read comes from $WINNOW_EXTERNAL, the packaged
# models and the workspace, never from ~/.cache/huggingface (nothing is downloaded, and
# nothing a developer cached can answer for a missing file). Set before anything imports
# Prefect or a Hugging Face library.
_SESSION_TMP = tempfile.mkdtemp(prefix="winnow-test-session-")
atexit.register(shutil.rmtree, _SESSION_TMP, ignore_errors=True)
PREFECT_SET = {
    "PREFECT_HOME": str(Path(_SESSION_TMP) / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
HF_SET = {
    "HF_HOME": str(Path(_SESSION_TMP) / "huggingface"),
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
# Cache locations that override HF_HOME when set (huggingface_hub, datasets, transformers).
HF_DROPPED = (
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_ASSETS_CACHE",
    "HF_MODULES_CACHE",
    "TRANSFORMERS_CACHE",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
)
for _name in [n for n in os.environ if n.startswith("PREFECT_")] + list(HF_DROPPED):
    os.environ.pop(_name, None)
os.environ.update(PREFECT_SET)
os.environ.update(HF_SET)
Path(PREFECT_SET["PREFECT_HOME"]).mkdir()
Path(HF_SET["HF_HOME"]).mkdir()

# Under pytest-xdist the workers share the cores: torch's OpenMP threads (one per core in
# every worker and in every process a test starts) oversubscribe them, and OpenMP spins
# while it waits. A nano training took 31 s of CPU with 2 threads and 3.3 s with 1 on a
# busy 2-core machine. So each worker's share of the cores, for it and its children
# (tasks/train/loop.default_threads reads it too), unless the caller set one.
_XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _XDIST_WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _XDIST_WORKERS)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on a free port with its own home and database, for tests that
    run flows in subprocesses (and Dask workers started by hand) against one API.

    Yields {"api": API URL, "ui": UI URL, "home": PREFECT_HOME}. A fresh database per
    module: no earlier run can satisfy a test that looks for its own runs.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": "",
    }
    url = f"http://127.0.0.1:{port}/api"
    with open(home / "server.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + 180  # patient: the machine may be busy
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("prefect server did not start: " + (home / "server.log").read_text()[-2000:])
                time.sleep(1)
            yield {"api": url, "ui": f"http://127.0.0.1:{port}", "home": str(home)}
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from tasks.core.workspace import Workspace

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("WINNOW_REPORTS", str(tmp_path / "reports"))  # the HTML report, never into the repo
    return Workspace.from_env(tmp_path / "ws")


@pytest.fixture
def catalog(workspace):
    from tasks.core.catalog import Catalog

    return Catalog(workspace.catalog_path)


@pytest.fixture(scope="session")
def cc_docs_table():
    """The 697 real CC-MAIN-2019-30 documents (dolma JSONL) as a DOCS-schema table.

    For stage tests that need documents without running ingestion first.
    """
    import gzip
    import json

    import pyarrow as pa
    import xxhash

    from tasks.core.schema import DOCS

    rows = []
    path = CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            rec = json.loads(line)
            meta = rec.get("metadata") or {}
            url = meta.get("url") or meta.get("warc_url") or ""
            text = rec["text"]
            rows.append(
                {
                    "doc_id": xxhash.xxh3_128_hexdigest(f"cc\x00{rec['id']}".encode()),
                    "source": "cc",
                    "url": url,
                    "domain": url.split("/")[2] if url.count("/") >= 2 else "",
                    "text": text,
                    "language": "en",
                    "language_score": 1.0,
                    "crawl_date": None,
                    "content_type": "text/plain",
                    "encoding": "utf-8",
                    "n_bytes": len(text.encode()),
                    "n_chars": len(text),
                    "text_truncated": False,
                    "source_file": str(path),
                    "record_id": str(rec["id"]),
                    "record_offset": line_no,
                    "format": "jsonl",
                    "extractor": "none",
                }
            )
    return pa.Table.from_pylist(rows, schema=DOCS)


@pytest.fixture(scope="session")
def default_pool(tmp_path_factory):
    """The default suite's real pool (recipes/suites/default.yaml: the shared crawl, the
    Python docs WARC and the Wikipedia leads of $WINNOW_EXTERNAL) in a workspace of its
    own, once per session: (suite, workspace). Ingested, with signals and the arms'
    selection scores, a process per source (tests/_default_pool.py; 2-3 min on 2 busy cores).
    Tests that curate in it share what curation caches there (tokenizer, token counts,
    MinHash clusters, the decontamination index)."""
    from tasks.suite import load_suite
    from tests._default_pool import prepare_suite_pool

    suite = load_suite(ROOT / "recipes" / "suites" / "default.yaml")
    return suite, prepare_suite_pool(suite, tmp_path_factory.mktemp("default-pool") / "ws")


# --- Parallel runs (`make test`: pytest-xdist, `-n 2 --dist loadfile --no-loadscope-reorder`) ---
# Each xdist worker is a session of its own (its own PREFECT_HOME/HF_HOME above, its own
# basetemp), so sharing is only within a worker. `--dist loadfile` sends a module's tests to
# one worker, so a module fixture (a Prefect server, a suite run, a built workspace) is
# built once, not once per worker. (`--dist loadgroup` would allow finer groups, but
# xdist 3.8 tags the group onto `item._nodeid`, which pytest 9 no longer reads: no group
# reaches the scheduler.) Modules with slow tests are collected first, the heaviest in
# LONGEST_FIRST order, and `--no-loadscope-reorder` keeps that order, so no long module
# starts last and leaves the other worker idle at the end.
LONGEST_FIRST = (  # suites run in subprocesses, a built default pool, six trainings
    "test_cluster.py",
    "test_ablation.py",
    "test_default_suite_curation.py",
    "test_concurrency.py",
    "test_attribution_e2e.py",
    "test_eval_separation.py",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """With WINNOW_TEST_CPU_LOG=FILE, append `nodeid, wall s, CPU s` per test (setup, call
    and teardown; CPU of this process and of the children it reaped): where the suite's
    time goes, with and without xdist (each worker appends its own lines)."""
    log = os.environ.get("WINNOW_TEST_CPU_LOG")
    if not log:
        return (yield)
    import resource

    def cpu() -> float:
        return sum(
            r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        )

    wall, used = time.perf_counter(), cpu()
    try:
        return (yield)
    finally:
        with open(log, "a") as f:
            f.write(f"{item.nodeid}\t{time.perf_counter() - wall:.1f}\t{cpu() - used:.1f}\n")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Ranked by module, so a module's tests stay together (its module fixtures are built once).
    slow = {item.path.name for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        if name in LONGEST_FIRST:
            return (0, LONGEST_FIRST.index(name))
        return (1, 0) if name in slow else (2, 0)

    items.sort(key=rank)  # stable: collection order within a rank
