"""FineWeb2 rehydration (`dedup: {minhash: {keep: rehydrate}}`): copies follow the
documented step function of cluster size (and quality); the budget cuts after the copies;
recipes and dedup runs without it keep their hashes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.core.docsref import DocsRef, resolve_docs
from tasks.curate import pipeline as C
from tasks.dedup.dedup import dedup_key
from tasks.dedup.rehydrate import rehydrate_copies, size_weights
from tasks.dedup.spec import RehydrateSpec
from tasks.recipe import Recipe
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs


def test_copies_follow_fineweb2_steps_on_planted_sizes():
    sizes = np.array([1, 2, 3, 4, 5, 99, 100, 999, 1000, 5000])
    ids = [f"d{i}" for i in range(len(sizes))]
    copies = rehydrate_copies(ids, sizes, RehydrateSpec())
    # FineWeb2's published weights {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}
    assert copies.tolist() == [1, 2, 3, 3, 5, 5, 8, 8, 1, 1]
    capped = rehydrate_copies(ids, sizes, RehydrateSpec(max_repeat=4))
    assert capped.tolist() == [1, 2, 3, 3, 4, 4, 4, 4, 1, 1]


def test_quality_scales_the_extra_copies_by_percentile():
    # four documents of a size-5 cluster (w = 5): percentiles 1/4 .. 4/4 give 1 + 4q = 2..5
    sizes = np.full(4, 5)
    quality = np.array([0.9, 0.1, 0.5, 0.3])
    copies = rehydrate_copies(["a", "b", "c", "d"], sizes, RehydrateSpec(quality_column="x"), quality)
    assert copies.tolist() == [5, 2, 4, 3]
    low = rehydrate_copies(["a", "b", "c", "d"], sizes, RehydrateSpec(higher_is_better=False), quality)
    assert low.tolist() == [2, 5, 3, 4]
    # a fractional copy rounds by a seeded hash of the doc_id: reproducible, mean preserved
    ids = [f"doc{i}" for i in range(4000)]
    q = np.linspace(0, 1, 4000)
    c1 = rehydrate_copies(ids, np.full(4000, 2), RehydrateSpec(), q)
    assert (c1 == rehydrate_copies(ids, np.full(4000, 2), RehydrateSpec(), q)).all()
    expected = 1 + (np.arange(1, 4001) / 4000)
    assert abs(c1.mean() - expected.mean()) < 0.03


def test_recipes_without_rehydrate_keep_their_hashes():
    """Hashes computed by the code before rehydration existed (main at 757ce6e)."""
    r = Recipe(name="a", sources=["crawl"], dedup={"minhash": {"keep": "first"}}, token_budget=100_000)
    assert r.data_hash() == "25ed6b494162fea6ea74f1a631003c58"
    assert r.content_hash() == "e4582ee5abff9a72d75c25ec84326c17"
    ref = DocsRef("crawl", "k", "h" * 16, ())
    assert dedup_key([ref], [], r.dedup) == "22e84deb5c4e8d08"
    hydrated = r.model_copy(update={"dedup": r.dedup.model_validate({"minhash": {"keep": "rehydrate"}})})
    assert hydrated.data_hash() != r.data_hash()  # a new dataset ...
    assert dedup_key([ref], [], hydrated.dedup) == "22e84deb5c4e8d08"  # ... from the same clusters


def test_rehydrate_refuses_selection_and_mixture():
    with pytest.raises(ValueError, match="rehydrate"):
        Recipe(name="a", sources=["c"], dedup={"minhash": {"keep": "rehydrate"}}, selection={"method": "random"})
    with pytest.raises(ValueError, match="not `rehydrate`"):
        Recipe(name="a", sources=["c"], dedup={"minhash": {"rehydrate": {"max_repeat": 2}}})


@pytest.fixture
def cluster_ws(workspace, cc_docs_table):
    """60 real CC documents; doc 0 copied twice more (cluster of 3), doc 1 four times
    more (cluster of 5): planted MinHash clusters."""
    base = cc_docs_table.slice(0, 60)
    rows = base.to_pylist()
    extra = []
    for src, n in ((0, 2), (1, 4)):
        for j in range(n):
            row = dict(rows[src], doc_id=f"copy-{src}-{j}", record_id=f"copy-{src}-{j}")
            extra.append(row)
    write_docs(workspace, "crawl", pa.Table.from_pylist(rows + extra, schema=base.schema), shard_rows=40)
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    return workspace, rows[0]["doc_id"], rows[1]["doc_id"]


def _data(ws, recipe):
    stats = C.curate(recipe, ws).stats
    return stats, pq.read_table(ws.stage_dir("datasets", C.dataset_key(recipe)) / "part-00000.parquet")


def test_curate_repeats_kept_documents_by_cluster_size_then_cuts_budget(cluster_ws):
    ws, a, b = cluster_ws
    recipe = Recipe(name="rh", sources=["crawl"], dedup={"minhash": {"keep": "rehydrate"}})
    stats, data = _data(ws, recipe)
    repeat = dict(zip(data.column("doc_id").to_pylist(), data.column("repeat").to_pylist()))
    assert repeat[a] == 3 and repeat[b] == 5  # clusters of 3 and 5: FineWeb2 gives 3 and 5 copies
    assert not any(d.startswith("copy-") for d in repeat)  # one document per cluster is kept
    sizes = data.column("minhash_cluster_size").to_numpy()
    # every other document too (the sample holds real near duplicates): w(its cluster size)
    assert data.column("repeat").to_pylist() == size_weights(sizes, RehydrateSpec()).tolist()
    rh = stats["removals"]["dedup"]["rehydrate"]
    assert rh["by_cluster_size"]["5"] == [1, 5] and rh["copies"] == stats["documents_with_repeats"]
    assert stats["documents_with_repeats"] > stats["documents"] + 2 + 4 - 1
    # token-matched: the budget is cut on tokens with repeats
    budget = 20_000
    cut, cut_data = _data(ws, recipe.model_copy(update={"name": "rh2", "token_budget": budget}))
    assert "budget" in cut["steps"] and cut["tokens"] <= budget
    assert cut["tokens"] >= 0.97 * budget
    assert max(cut_data.column("repeat").to_pylist()) >= 1
