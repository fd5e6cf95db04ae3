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
    stats = C.curate(recipe, ws)
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
    from tasks.decontam.decontaminate import default_eval_items

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
