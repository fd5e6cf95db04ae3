"""Every shipped recipe runs: `flows.curate` on each recipes/*.yaml over a small real pool,
and every suite in recipes/suites/ validates arm by arm."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import CRAWL

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
SUITES = sorted((ROOT / "recipes" / "suites").glob("*.yaml"))

# Minutes on a shared 2-core machine under load (17 min seen at load 29): past the 600 s default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A small real pool under the demo's source names: crawl = the CC-MAIN-2019-30 sample
    (697 documents) + two wget WARCs (37 pages), wiki = 300 Wikipedia leads (train split),
    docs = the other wget WARC's pages; ingested and scored in this process."""
    from tasks.core.docsref import resolve_docs
    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.ingest.ingest import finish_source, ingest_shard
    from tasks.ingest.sources import resolve_sources
    from tasks.signals.signals import build_signals

    folder = tmp_path_factory.mktemp("pool")
    wiki = folder / "wiki.jsonl.gz"
    with gzip.open(wiki, "wt") as f:
        for r in wiki_leads("train").slice(0, 300).to_pylist():
            f.write(json.dumps({"id": r["title"], "text": r["text"]}) + "\n")
    ws = Workspace.from_env(folder / "ws")
    sources = {
        "crawl": [CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz", CRAWL / "wget-sample-0000.warc.gz"],
        "docs": [CRAWL / "wget-sample-0001.warc.gz"],
        "wiki": [wiki],
    }
    for name, paths in sources.items():
        files = resolve_sources([str(p) for p in paths])
        out = ws.stage_dir("docs", f"pool-{name}")
        counts = [ingest_shard(f, out, i, None, name) for i, f in enumerate(files)]
        finish_source(ws, f"pool-{name}", name, counts, [f.uri for f in files])
        build_signals(ws, resolve_docs(ws, name))
    return ws


@pytest.fixture(scope="module")
def prefect(pool):
    from flows._runtime import prefect_api

    with prefect_api():
        yield


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_curates(path, pool, prefect):
    """`flows.curate` on the recipe: a dataset of the recipe's sources within its budget,
    with unique doc_ids, and every step the recipe names run."""
    from flows.curate import run_curate
    from tasks.curate.pipeline import dataset_key
    from tasks.curate.steps import mixture_active
    from tasks.recipe import load_recipe

    recipe = load_recipe(path)
    stats = run_curate(recipe, pool.root, compute_signals=True).stats
    key = dataset_key(recipe)
    assert pool.is_done("datasets", key)
    table = pq.read_table(sorted(pool.stage_dir("datasets", key).glob("part-*.parquet")))
    assert table.num_rows == stats["documents"] > 0, path.name
    # A document appears once per training phase (a mixture's final phase may repeat it).
    ids = table.select([c for c in ("doc_id", "phase") if c in table.column_names]).to_pylist()
    assert len({tuple(r.values()) for r in ids}) == table.num_rows
    assert set(table.column("source").to_pylist()) <= set(recipe.sources)
    if recipe.token_budget:  # real tokens of the suite tokenizer (with repeats: what trains)
        if mixture_active(recipe):
            # a mixture rounds each group to the nearer document (tasks/selection/mixing.py):
            # within the suite's 1% token match of the budget, either side
            assert abs(stats["tokens"] - recipe.token_budget) <= 0.01 * recipe.token_budget, stats["tokens"]
        else:  # the budget step fills and never goes over
            assert stats["tokens"] <= recipe.token_budget, (path.name, stats["tokens"])
    if recipe.selection.method != "none":
        assert "selection" in stats["steps"], stats["steps"]


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_every_suite_validates_arm_by_arm(path):
    from tasks.curate.pipeline import validate
    from tasks.suite import load_suite
    from tasks.sweep.design import sweep_points

    suite = load_suite(path)
    arms = suite.resolved_arms()
    if not arms:  # a `merge:` sweep's points are arms only once picked: validate them all
        points = [p.recipe for p in sweep_points(suite)]
        arms = suite.model_copy(update={"arms": points, "sweep": None}).resolved_arms()
    assert arms
    for arm in arms:
        validate(arm)  # raises naming the arm's bad step
        assert set(arm.sources) <= set(suite.sources), arm.name
