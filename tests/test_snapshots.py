"""Evaluation snapshots (training noise at no extra training): the steps, the files the
training loop leaves, their held-out scores against lm-eval's, and the catalog query."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tasks.core.reference import wiki_leads
from tasks.core.workspace import Workspace
from tasks.evaluate.spec import EvalSpec
from tasks.train.loop import snapshot_path, snapshot_steps
from tests.test_train import SEQ, nano_spec, write_parts

STEPS = 10  # default snapshots (4 over the last 20 %): steps 7, 8, 9 and the final 10


def test_snapshot_steps():
    assert snapshot_steps(100, 4, 0.2) == [85, 90, 95, 100]
    assert snapshot_steps(1000, 4, 0.2) == [850, 900, 950, 1000]
    assert snapshot_steps(100, 1, 0.2) == [100]
    assert snapshot_steps(100, 0, 0.2) == []
    assert snapshot_steps(10, 3, 1.0) == [4, 7, 10]  # 3.33 apart -> 3
    assert snapshot_steps(20, 4, 0.5) == [11, 14, 17, 20]  # 2.5 apart -> 3 (half up)
    assert snapshot_steps(STEPS, 4, 0.2) == [7, 8, 9, 10]  # 0.5 apart -> at least 1
    assert snapshot_steps(3, 4, 0.2) == [1, 2, 3]  # few steps: fewer snapshots
    assert snapshot_steps(1, 4, 0.2) == [1]


def test_snapshots_do_not_change_the_train_hash():
    from tasks.train.loop import train_hash
    from tasks.train.spec import TrainSpec

    def key(spec: TrainSpec) -> str:
        return train_hash("data", "tok", spec, "cpu", "fp32")

    assert key(TrainSpec()) == key(TrainSpec(snapshots=0)) == key(TrainSpec(snapshots=8, snapshot_window=0.5))
    assert key(TrainSpec()) != key(TrainSpec(seed=1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cc_docs_table):
    """A nano model trained 10 steps on real crawl text, with the default snapshots."""
    from tasks.train.loop import train
    from tasks.train.tokenizer import build_tokenizer
    from tasks.train.tokens import tokenize_dataset

    ws = Workspace.from_env(tmp_path_factory.mktemp("ws"))
    texts = wiki_leads("train").column("text").to_pylist()[:600] + cc_docs_table.column("text").to_pylist()[:150]
    _, tok_dir = build_tokenizer(ws, 1024, texts)
    t = cc_docs_table.select(["doc_id", "source", "url", "text"]).slice(0, 300)
    t = t.append_column("repeat", pa.array([1] * t.num_rows, pa.int64()))
    dataset = write_parts(tmp_path_factory.mktemp("ds") / "cc", t)
    packed, _ = tokenize_dataset(ws, dataset, tok_dir, SEQ, seed=0)
    spec = nano_spec(tokens=SEQ * 4 * STEPS)
    out = tmp_path_factory.mktemp("model") / "m"
    summary = train(packed, tok_dir, out, spec, progress=False)
    return {"dir": out, "summary": summary, "packed": packed, "tok": tok_dir, "spec": spec}


def test_training_leaves_snapshots_of_its_last_steps(trained, tmp_path):
    from safetensors.torch import load_file

    out = trained["dir"]
    assert trained["summary"]["steps"] == STEPS
    assert json.loads((out / "train.json").read_text())["snapshot_steps"] == [7, 8, 9, 10]
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == [f"step-{s}.safetensors" for s in (7, 8, 9)]
    assert not (out / "checkpoint").exists()  # the checkpoint goes, the snapshots stay
    final = load_file(str(out / "model.safetensors"))
    weights = {s: load_file(str(snapshot_path(out, s))) for s in (7, 8, 9)}
    for s, w in weights.items():
        assert set(w) == set(final) and all(w[k].dtype == final[k].dtype for k in w)  # fp32, tied weights once
        assert any(not (w[k] == final[k]).all() for k in w), f"step {s} equals the final weights"
    assert any(not (weights[7][k] == weights[8][k]).all() for k in final)

    # A run killed after step 8 (checkpoint there) and resumed writes the same files.
    from tasks.train.loop import train

    resumed = tmp_path / "resumed"
    part = train(trained["packed"], trained["tok"], resumed, trained["spec"], stop_after_steps=8, progress=False)
    assert part["stopped_at_step"] == 8 and sorted(p.name for p in (resumed / "snapshots").iterdir()) == [
        "step-7.safetensors",
        "step-8.safetensors",
    ]
    train(trained["packed"], trained["tok"], resumed, trained["spec"], progress=False)
    for s in (7, 8, 9):
        assert snapshot_path(resumed, s).read_bytes() == snapshot_path(out, s).read_bytes()
    assert (resumed / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert not (resumed / "snapshots" / f"step-{STEPS}.safetensors").exists()  # the final model is not duplicated


def test_snapshot_scores_match_lm_eval_and_reach_the_catalog(trained, workspace, catalog):
    """The evaluation stage (the flow) scores the held-out texts on every snapshot; for the
    final model the rows equal lm-eval's own `bpb` items."""
    import pyarrow.parquet as pq

    from flows.evaluate import run_eval
    from tasks.evaluate.harness import eval_config

    tasks = ["wikitext2", "wiki_leads_heldout", "news_heldout", "copa"]
    summary = run_eval(trained["dir"], tasks=tasks, limit=6, device="cpu", workspace=workspace.root).summary
    out = Path(summary["results_dir"])
    assert summary["n_snapshots"] == 4 and eval_config(EvalSpec(tasks=tasks, limit=6))["code"] == "3"
    assert summary["snapshot_final_max_diff"] < 1e-4
    snaps = pq.read_table(out / "snapshots.parquet").to_pylist()
    assert {r["step"] for r in snaps} == {7, 8, 9, 10} and {r["metric"] for r in snaps} == {"bpb"}
    lm_eval_bpb = {
        (r["task"], r["item"]): r for r in pq.read_table(out / "items.parquet").to_pylist() if r["metric"] == "bpb"
    }
    lm_eval_bpb = {k: v for k, v in lm_eval_bpb.items() if k[0] != "copa"}  # held-out texts only
    assert len(lm_eval_bpb) == 18
    for step in (7, 8, 9, 10):
        rows = {(r["task"], r["item"]): r for r in snaps if r["step"] == step}
        assert set(rows) == set(lm_eval_bpb)
        assert all(rows[k]["weight"] == lm_eval_bpb[k]["weight"] for k in rows)
        diff = max(abs(rows[k]["value"] - lm_eval_bpb[k]["value"]) for k in rows)
        if step == STEPS:
            assert diff < 1e-4, diff  # the final model: lm-eval's numbers
        else:
            assert diff > 1e-3, (step, diff)  # a snapshot is another model
    # The catalog: one suite with this evaluation as its arm's run.
    catalog.insert(
        "arm_runs", [{"suite": "s", "arm": "a", "seed": 0, "status": "completed", "eval_key": summary["eval_key"]}]
    )
    got = catalog.query("suite_snapshot_items", {"suite": "s"})
    assert len(got) == len(snaps) == 4 * 18
    assert set(got[0]) == {"arm", "seed", "step", "task", "item", "metric", "value", "weight"}
    want = {(r["step"], r["task"], r["item"]): r["value"] for r in snaps}
    assert {(r["step"], r["task"], r["item"]): r["value"] for r in got} == want
    assert {(r["arm"], r["seed"]) for r in got} == {("a", 0)}
    assert catalog.query("suite_snapshot_items", {"suite": "other"}) == []
