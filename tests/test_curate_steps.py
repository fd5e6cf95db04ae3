"""The full curate pipeline with the plugged-in steps: dedup, selection and mixture."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.core.docsref import resolve_docs
from tasks.curate import pipeline as C
from tasks.recipe import Recipe
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs


@pytest.fixture
def dup_ws(workspace, cc_docs_table):
    """120 real CC documents plus exact copies of the first 10 under new ids (planted dups)."""
    base = cc_docs_table.slice(0, 120)
    copies = base.slice(0, 10).to_pylist()
    for i, row in enumerate(copies):
        row["doc_id"] = f"copy-{i:02d}"
        row["record_id"] = f"copy-{i}"
    table = pa.concat_tables([base, pa.Table.from_pylist(copies, schema=base.schema)])
    write_docs(workspace, "crawl", table, shard_rows=70)
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    return workspace


def _dataset(ws, recipe):
    stats = C.curate(recipe, ws).stats
    return stats, pq.read_table(ws.stage_dir("datasets", C.dataset_key(recipe)) / "part-00000.parquet")


def test_dedup_then_random_selection_within_budget(dup_ws):
    plain = Recipe(name="plain", sources=["crawl"])
    stats0, data0 = _dataset(dup_ws, plain)
    deduped = Recipe(
        name="d",
        sources=["crawl"],
        dedup={"exact": True, "minhash": True},
        selection={"method": "random", "seed": 3, "tokens": 40_000},
        token_budget=40_000,
    )
    stats, data = _dataset(dup_ws, deduped)
    assert stats["steps"] == ["language", "filters", "dedup", "decontaminate", "selection", "budget"]
    removed = stats["removals"]["dedup"]["removed"]
    assert removed["exact"] >= 10  # every planted copy goes
    texts = data.column("text").to_pylist()
    assert len(texts) == len(set(texts))  # no exact duplicate survives
    assert stats["est_tokens"] <= 40_000 + max(len(t) for t in texts) / 4
    assert "exact_cluster_size" in data.column_names  # kept for upsampling by duplicate count
    assert stats0["kl_reduction"] == pytest.approx(0.0, abs=1e-9) and "kl_reduction" in stats
    again, data2 = _dataset(dup_ws, deduped.model_copy(update={"name": "d2"}))
    assert data2.column("doc_id").to_pylist() == data.column("doc_id").to_pylist()  # deterministic


def test_line_dedup_rewrites_text_and_mixture_upsamples(dup_ws):
    recipe = Recipe(
        name="lines",
        sources=["crawl"],
        dedup={"lines": {"max_count": 2}},
        mixture={"weights": {"cc": 1.0}},
        token_budget=200_000,
    )
    stats, data = _dataset(dup_ws, recipe)
    assert "selection" in stats["steps"] and "budget" not in stats["steps"]
    assert "lines_removed_frac" in data.column_names
    assert max(data.column("repeat").to_pylist()) >= 2  # the budget exceeds the pool: repeats


def test_decontamination_step_removes_a_planted_benchmark_item(workspace, cc_docs_table):
    from tasks.decontam.index import default_eval_items

    items = default_eval_items()
    hellaswag = next(
        t
        for t in items.filter(pa.compute.equal(items.column("task"), "hellaswag")).column("text").to_pylist()
        if len(t.split()) > 30
    )
    rows = cc_docs_table.slice(0, 40).to_pylist()
    rows[5]["text"] = rows[5]["text"] + "\n" + hellaswag
    write_docs(workspace, "crawl", pa.Table.from_pylist(rows, schema=cc_docs_table.schema))
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    stats, data = _dataset(workspace, Recipe(name="clean", sources=["crawl"]))
    assert stats["removals"]["decontaminate"]["removed"] == 1
    assert rows[5]["doc_id"] not in data.column("doc_id").to_pylist()
    masked, data_m = _dataset(workspace, Recipe(name="mask", sources=["crawl"], decontamination={"mode": "mask"}))
    text = dict(zip(data_m.column("doc_id").to_pylist(), data_m.column("text").to_pylist()))[rows[5]["doc_id"]]
    assert len(text) < len(rows[5]["text"]) and masked["removals"]["decontaminate"]["masked"] == 1


def test_scores_with_embeddings_attach_to_candidates_by_doc_id():
    """semdedup stores a fixed_size_list embedding per document; pyarrow's hash join cannot
    carry that column (the shipped semdedup recipe failed with ArrowInvalid), so scores are
    attached by doc_id lookup: candidates keep their order, unscored ones get nulls."""
    import pyarrow as pa
    import pytest

    from tasks.curate.steps import attach_scores

    emb = pa.FixedSizeListArray.from_arrays(pa.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], pa.float32()), 2)
    scores = pa.table({"doc_id": ["c", "a", "x"], "embedding": emb, "score": [3.0, 1.0, 9.0]})
    candidates = pa.table({"doc_id": ["a", "b", "c"], "n_chars": [10, 20, 30]})
    with pytest.raises(pa.ArrowInvalid, match="not supported in join"):
        candidates.join(scores, "doc_id", join_type="left outer")
    out = attach_scores(candidates, scores)
    assert out.column("doc_id").to_pylist() == ["a", "b", "c"]
    assert out.column("score").to_pylist() == [1.0, None, 3.0]
    assert out.column("embedding").to_pylist() == [pytest.approx([0.3, 0.4]), None, pytest.approx([0.1, 0.2])]
    assert out.schema.field("embedding").type == emb.type
