"""The wheel is complete: sql/ and evals/ ship as package data, and a non-editable install
runs the curate CLI from a directory outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tasks.core.docsref import resolve_docs
from tasks.core.external import external_dir
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "tasks", "flows", "deployments", "sql", "evals")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from a copy of the sources, installed (no deps, not editable) into a
    fresh venv that sees the shared venv's packages through a plain path entry (so the
    shared venv's editable-install finder, a .pth hook, is not run)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:  # a copy: building in place would write build/ and *.egg-info into the checkout
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(path, src / name)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("winnow-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    shared = Path(
        subprocess.check_output(
            [sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    # install before the shared packages become visible: through the path entry, pip would
    # see the shared venv's editable winnow of the same version and skip the wheel
    done = subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        env=_env(),  # a PYTHONPATH holding the checkout (its winnow.egg-info) would make pip skip it too
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (site / "tasks" / "__init__.py").exists(), "the wheel was not installed: " + done.stdout[-2000:]
    (site / "_winnow_test_deps.pth").write_text(f"{shared}\n")
    return wheel, python, site


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **extra}


@pytest.mark.slow
def test_wheel_carries_sql_and_evals(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    sql = {n for n in names if n.startswith("sql/") and n.endswith(".sql")}
    in_repo = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sql").rglob("*.sql")}
    assert sql == in_repo and len(sql) > 10
    evals = {n for n in names if n.startswith("evals/")}
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "evals").glob("*.yaml")} <= evals
    assert "evals/utils.py" in evals


@pytest.mark.slow
def test_installed_wheel_runs_curate_outside_the_checkout(installed, workspace, cc_docs_table, tmp_path):
    _, python, site = installed
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    run = lambda *args: subprocess.run(
        [str(python), *args],
        cwd=outside,
        # the registry data `make data` fetched (eval items for decontamination): an installed
        # winnow outside any checkout finds it only through WINNOW_EXTERNAL
        env=_env(WINNOW_HOME=str(workspace.root), WINNOW_EXTERNAL=str(external_dir())),
        capture_output=True,
        text=True,
        timeout=240,
    )
    where = run(
        "-c",
        "import json, tasks, flows; from tasks.core import paths; "
        "print(json.dumps([tasks.__file__, flows.__file__, str(paths.sql_dir()), str(paths.evals_dir()), "
        "str(paths.checkout())]))",
    )
    assert where.returncode == 0, where.stderr[-3000:]
    tasks_file, flows_file, sql_dir, evals_dir, checkout = json.loads(where.stdout)
    for path in (tasks_file, flows_file, sql_dir, evals_dir):
        assert Path(path).is_relative_to(site), path  # the installed copy, not the checkout
    assert checkout == "None"
    assert (Path(sql_dir) / "filters").is_dir() and any(Path(evals_dir).glob("winnow_*.yaml"))

    helped = run("-m", "flows.curate", "--help")
    assert helped.returncode == 0 and "RECIPE.yaml" in helped.stdout, helped.stderr[-3000:]

    # A tiny curate: 60 real CC documents with their signals, the heuristic recipe
    # (filters from sql/, decontamination against the eval items), no training.
    write_docs(workspace, "crawl", cc_docs_table.slice(0, 60), shard_rows=30)
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    recipe = outside / "r.yaml"
    recipe.write_text((ROOT / "recipes" / "heuristic.yaml").read_text())
    done = run("-m", "flows.curate", "r.yaml", "--no-signals")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    from tasks.core.catalog import Catalog

    (ds,) = Catalog(workspace.catalog_path).table("datasets").to_pylist()
    assert ds["recipe"] == "heuristic" and ds["documents_in"] == 60 and 0 < ds["documents"] < 60
    assert not (outside / ".winnow").exists()  # the workspace is WINNOW_HOME's
