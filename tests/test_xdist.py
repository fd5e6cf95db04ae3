"""How `make test` runs the suite in parallel (pytest-xdist, the Makefile's flags and
tests/conftest.py): the tests that share a module fixture run on one worker, so it is built
once; modules with slow tests are collected first; each worker gets its share of the cores
as OpenMP threads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# 6 tests that share a module fixture, 6 that do not; each worker reports its thread count.
_SHARED = """
import os
import pytest

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    with open(os.environ["PROBE_LOG"], "a") as f:
        f.write(f"built {os.environ.get('PYTEST_XDIST_WORKER')}\\n")

@pytest.mark.parametrize("i", range(6))
def test_uses_it(built, i):
    pass

@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    with open(os.environ["PROBE_LOG"], "a") as f:
        f.write(f"threads {os.environ.get('PYTEST_XDIST_WORKER')} {os.environ.get('OMP_NUM_THREADS')}\\n")
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "PYTEST_XDIST_WORKER_COUNT")}
    env.update(PYTHONPATH=str(ROOT), PROBE_LOG=str(tmp_path / "probe.log"))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest"]
        + ["--rootdir", str(tmp_path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _make_test_pytest_args() -> list[str]:
    """The pytest options of the Makefile's `test` recipe, with its default worker count."""
    makefile = (ROOT / "Makefile").read_text()
    workers = re.search(r"^TEST_WORKERS \?= (\d+)$", makefile, re.M)
    recipe = re.search(r"^test:.*\n\t\$\(BIN\)/python -m pytest (.*)$", makefile, re.M)
    assert workers and recipe, "no `test` recipe running pytest, or no TEST_WORKERS default"
    return recipe.group(1).replace("$(TEST_WORKERS)", workers.group(1)).split()


def test_make_test_runs_the_suite_on_two_xdist_workers():
    args = _make_test_pytest_args()
    assert args[args.index("-n") + 1] == "2", args


def test_a_module_fixture_is_built_once_and_workers_get_their_share_of_threads(tmp_path):
    probe = tmp_path / "tests" / "test_probe.py"
    probe.parent.mkdir()
    probe.write_text(_SHARED)
    done = _pytest(tmp_path, *_make_test_pytest_args(), str(probe))
    assert done.returncode == 0 and "12 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    log = (tmp_path / "probe.log").read_text().splitlines()
    assert len([line for line in log if line.startswith("built ")]) == 1, log
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    threads = {tuple(line.split()[1:]) for line in log if line.startswith("threads ")}
    assert threads and all(n == share for _, n in threads), (threads, share)


def test_modules_with_slow_tests_are_collected_first(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_a_quick.py").write_text("def test_quick():\n    pass\n")
    (tests / "test_b_slow.py").write_text("import pytest\n\n@pytest.mark.slow\ndef test_slow():\n    pass\n")
    done = _pytest(tmp_path, "-q", "--collect-only", str(tests))
    assert done.returncode == 0, done.stdout[-3000:]
    order = [m for m in re.findall(r"tests/(test_\w+)\.py::", done.stdout)]
    assert order == ["test_b_slow", "test_a_quick"], done.stdout[-2000:]
