"""Workspace, hashing, catalog and recipe basics."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from tasks.core.catalog import Catalog
from tasks.core.hashing import hash_file, hash_json
from tasks.core.spec import RecipeError
from tasks.recipe import load_recipe


def test_hash_json_is_order_independent():
    assert hash_json({"a": 1, "b": [1, 2]}) == hash_json({"b": [1, 2], "a": 1})
    assert hash_json({"a": 1}) != hash_json({"a": 2})


def test_hash_file_depends_on_content_not_path(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("same")
    b.write_text("same")
    assert hash_file(a) == hash_file(b)
    b.write_text("other")
    assert hash_file(a) != hash_file(b)


def test_workspace_success_marker(workspace):
    assert not workspace.is_done("docs", "abc")
    workspace.mark_done("docs", "abc", {"n": 3})
    assert workspace.is_done("docs", "abc")
    assert workspace.read_done("docs", "abc") == {"n": 3}
    with pytest.raises(ValueError, match="unknown workspace stage"):
        workspace.stage_dir("nope", "x")


def test_catalog_insert_and_replace(catalog):
    row = {"stage": "docs", "key": "k", "input_key": "i", "cached": False, "seconds": 1.5, "info": "{}"}
    catalog.insert("stage_runs", [row, row])
    assert catalog.table("stage_runs").num_rows == 2
    with pytest.raises(ValueError):
        catalog.insert("stage_runs; DROP TABLE x", [row])


def _insert_many(path, worker):
    cat = Catalog(path)
    for i in range(20):
        cat.insert(
            "stage_runs",
            [{"stage": "s", "key": f"{worker}-{i}", "input_key": "", "cached": False, "seconds": 0.0, "info": "{}"}],
        )


def test_catalog_concurrent_writers(workspace):
    """Two processes writing at once (two suites on one workspace) lose nothing."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_insert_many, args=(workspace.catalog_path, w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert Catalog(workspace.catalog_path).table("stage_runs").num_rows == 40


def test_recipe_validation(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("sources: [crawl]\nfilters: [gopher_quality, {sql: 'n_chars > 10'}]\n")
    recipe = load_recipe(good)
    assert recipe.name == "good" and recipe.filters[0].name == "gopher_quality"
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [crawl]\nfilterz: []\n")
    with pytest.raises(RecipeError, match="bad.yaml.*filterz"):
        load_recipe(bad)


def test_force_drops_a_stage_only(workspace):
    workspace.mark_done("models", "k1")
    workspace.mark_done("datasets", "d1")
    assert workspace.force("models") == 1
    assert not workspace.is_done("models", "k1")  # forced: it runs again
    assert workspace.is_done("datasets", "d1")  # other stages untouched
    assert workspace.force("models") == 0 and not (workspace.root / ".trash" / "models").exists()
