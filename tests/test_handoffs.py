"""The typed hand-offs between an arm's stages (flows/ablation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.curate.results import DatasetRef
from tasks.decontam.results import ScanCounts
from tasks.evaluate.results import EvalResult
from tasks.signals.results import SignalsCounts
from tasks.train.results import TrainResult


def test_dataset_ref_from_curate_stats(workspace):
    ref = DatasetRef.from_stats(workspace, {"data_hash": "ab" * 32, "documents": 3})
    assert ref.key == "ab" * 8 and ref.path == workspace.stage_dir("datasets", "ab" * 8)
    assert ref.stats["documents"] == 3
    with pytest.raises(ValueError, match="without a data_hash"):
        DatasetRef.from_stats(workspace, {"documents": 3})


def test_train_result_from_summary(tmp_path):
    summary = {"model_dir": str(tmp_path / "models" / "m-123"), "tokens_key": "t-9", "seq_len": "256", "epochs": 1}
    trained = TrainResult.from_summary(summary)
    assert trained.model_key == "m-123" and trained.seq_len == 256 and trained.tokens_key == "t-9"
    assert trained.curves_path == tmp_path / "models" / "m-123" / "curves.parquet"
    with pytest.raises(ValueError, match=r"lacks \['tokens_key', 'seq_len'\]"):
        TrainResult.from_summary({"model_dir": "x"})


def test_eval_result_reads_its_scores(tmp_path):
    rows = [{"task": "copa", "metric": "centered_acc", "value": 0.1}]
    (tmp_path / "scores.json").write_text(json.dumps({"rows": rows}))
    evaluated = EvalResult.from_summary({"eval_key": "e-1", "results_dir": str(tmp_path)})
    assert evaluated.scores == rows and evaluated.results_dir == Path(tmp_path)
    with pytest.raises(FileNotFoundError, match="evaluation e-2 wrote no scores"):
        EvalResult.from_summary({"eval_key": "e-2", "results_dir": str(tmp_path / "none")})


# ---------------------------------------------------------------- the stages return them

ROOT = Path(__file__).resolve().parents[1]


def test_flows_take_the_stage_results_as_returned():
    """No flow re-wraps a stage's dict into its typed result: the stages return it."""
    import re

    calls = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "flows").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(from_stats|from_summary)\(", line)
    ]
    assert calls == []


def test_stage_entry_points_return_the_dataclasses():
    """Each entry point (the stage function and the flow's plain entry) says it returns
    the hand-off dataclass, the next stage's input as is."""
    from typing import get_type_hints

    import flows.curate
    import flows.decontam
    import flows.evaluate
    import flows.ingest
    import flows.signals
    import flows.train
    from tasks.curate import pipeline
    from tasks.decontam import scan
    from tasks.evaluate import harness
    from tasks.ingest import ingest
    from tasks.ingest.results import ShardCounts
    from tasks.signals import signals

    returns = {
        ingest.ingest_shard: ShardCounts,
        pipeline.curate: DatasetRef,
        flows.curate.curate_task.fn: DatasetRef,
        flows.curate.curate_flow.fn: DatasetRef,
        flows.curate.run_curate: DatasetRef,
        flows.train.run_train: TrainResult,
        harness.evaluate_model: EvalResult,
        flows.evaluate.evaluate_task.fn: EvalResult,
        flows.evaluate.evaluate_flow.fn: EvalResult,
        flows.evaluate.run_eval: EvalResult,
        flows.ingest.ingest_shard_task.fn: ShardCounts,
        signals.signals_shard: SignalsCounts,
        signals.signals_job: SignalsCounts,
        flows.signals.signals_shard_task.fn: SignalsCounts,
        scan.scan_shard: ScanCounts,
        flows.decontam.decontam_scan_shard.fn: ScanCounts,
    }
    wrong = {
        f.__qualname__: get_type_hints(f).get("return")
        for f, t in returns.items()
        if get_type_hints(f).get("return") is not t
    }
    assert wrong == {}


def test_evaluate_model_returns_an_eval_result(tmp_path):
    """A finished evaluation (its `_SUCCESS`) comes back as an EvalResult with its scores."""
    from tasks.core.workspace import Workspace
    from tasks.evaluate.harness import eval_key, evaluate_model
    from tasks.evaluate.spec import EvalSpec

    ws = Workspace(tmp_path / "ws")
    model_dir = ws.stage_dir("models", "0123456789abcdef")
    model_dir.mkdir(parents=True)
    spec = EvalSpec(tasks=["copa"], limit=4)
    key = eval_key(model_dir, spec)
    rows = [{"task": "copa", "metric": "centered_acc", "value": 0.25}]
    out = ws.mark_done("evals", key, {"eval_key": key, "results_dir": str(ws.stage_dir("evals", key))})
    (out / "scores.json").write_text(json.dumps({"rows": rows}))
    evaluated = evaluate_model(model_dir, spec, ws, device="cpu")
    assert isinstance(evaluated, EvalResult) and evaluated.scores == rows and evaluated.cached
    assert evaluated.to_dict() == {"eval_key": key, "results_dir": str(out), "cached": True}


def test_hand_offs_pickle_and_keep_their_dicts(workspace, tmp_path):
    """Prefect pickles task results (and caches them): the dataclasses round-trip, and the
    dict each carries is what was persisted before (`to_dict`)."""
    import pickle

    stats = {"data_hash": "cd" * 32, "documents": 3}
    ref = DatasetRef.from_stats(workspace, stats)
    fresh = ref.with_cached(False)
    assert fresh.to_dict() == {**stats, "cached": False} and not fresh.cached and ref.stats == stats
    trained = TrainResult(tmp_path / "models" / "m", "t-1", 128, {"cached": True, "seq_len": 128})
    evaluated = EvalResult("e", tmp_path, [{"task": "copa"}], {"eval_key": "e"})
    signalled = SignalsCounts("shard-00000.parquet", 20, 1)
    scanned = ScanCounts("shard-00000.parquet", 20, 2, 0.5)
    for value in (fresh, trained, evaluated, signalled, scanned):
        assert pickle.loads(pickle.dumps(value)) == value
    assert signalled.to_dict() == {"shard": "shard-00000.parquet", "documents": 20, "errors": 1}
    assert scanned.to_dict() == {"shard": "shard-00000.parquet", "docs": 20, "contaminated": 2, "cpu_s": 0.5}
    assert trained.cached and trained.to_dict() == {"cached": True, "seq_len": 128}
    assert trained.packed_dir(workspace, 3) == workspace.stage_dir("tokens", "t-1") / "L128-s3"


def test_check_packed_compares_shards_with_curation(workspace, tmp_path):
    """The arm's packed shards must hold the tokens its curation counted (the dropped tail
    included); this check lives with DatasetRef (curate may import train, not the other
    way), not in the ablation flow."""
    trained = TrainResult(tmp_path / "models" / "m", "t-1", 128, {"tokenizer_hash": "ef" * 32})
    packed = trained.packed_dir(workspace, 0)
    packed.mkdir(parents=True)
    (packed / "meta.json").write_text(json.dumps({"n_tokens": 1000, "tokens_dropped_tail": 24}))
    dataset = DatasetRef.from_stats(workspace, {"data_hash": "ab" * 32, "tokens": 1024})
    dataset.check_packed(workspace, trained, 0)
    short = DatasetRef.from_stats(workspace, {"data_hash": "ab" * 32, "tokens": 1000})
    with pytest.raises(RuntimeError, match="curation counted 1,000 tokens .* shards hold 1,024"):
        short.check_packed(workspace, trained, 0)


# ---------------------------------------------------------------- per-shard stages: counts to finish


def test_signals_shards_hand_finish_signals_their_counts(workspace, cc_docs_table, monkeypatch):
    """Each shard job returns SignalsCounts, `finish_signals` adds them up as they are; a
    shard an interrupted run finished counts its failed documents from the file."""
    from tasks.core.docsref import resolve_docs
    from tasks.signals.computer import get_computer
    from tasks.signals.signals import finish_signals, signals_job, signals_jobs
    from tests._docs_workspace import write_docs

    table = cc_docs_table.slice(0, 30)
    bad = table.column("text")[3].as_py()
    comp = get_computer()
    compute = comp.compute

    def failing(text: str) -> dict:
        if text == bad:
            raise ValueError("planted failure")
        return compute(text)

    monkeypatch.setattr(comp, "compute", failing)
    write_docs(workspace, "crawl", table, shard_rows=20)
    ref = resolve_docs(workspace, "crawl")
    first, second = signals_jobs(workspace, ref)
    counts = [signals_job(first), signals_job(second)]
    assert counts == [SignalsCounts("shard-00000.parquet", 20, 1), SignalsCounts("shard-00001.parquet", 10, 0)]
    assert signals_job(first) == counts[0]  # the file is there: read back, its error included
    info = finish_signals(workspace, ref, counts)
    assert (info["documents"], info["errors"]) == (30, 1)
    assert info["shards"] == ["shard-00000.parquet", "shard-00001.parquet"]


def test_scan_shards_hand_finish_scan_their_counts(workspace, cc_docs_table):
    """Each scan job returns ScanCounts, `finish_scan` adds them up as they are."""
    import pyarrow as pa

    from tasks.core.docsref import resolve_docs
    from tasks.decontam import scan
    from tasks.decontam.spec import DecontaminationSpec
    from tests._docs_workspace import write_docs

    table = cc_docs_table.slice(0, 30)
    words = table.column("text")[25].as_py().split()
    assert len(words) > 40
    # an eval "item" quoting a real document of the second shard: that document matches
    items = pa.table({"task": ["copa"], "item_id": ["0"], "text": [" ".join(words[:40])]})
    write_docs(workspace, "crawl", table, shard_rows=20)
    ref = resolve_docs(workspace, "crawl")
    cfg = scan.scan_config(workspace, items, DecontaminationSpec())
    counts = [scan.scan_shard(job) for job in scan.scan_jobs(workspace, ref, cfg)]
    assert all(isinstance(c, ScanCounts) for c in counts)
    assert [(c.shard, c.docs, c.contaminated) for c in counts] == [
        ("shard-00000.parquet", 20, 0),
        ("shard-00001.parquet", 10, 1),
    ]
    info = scan.finish_scan(workspace, ref, cfg, counts)
    assert (info["docs"], info["contaminated"], info["shards"]) == (30, 1, [c.shard for c in counts])
    assert workspace.read_done(scan.STAGE, scan.scan_key(ref.docs_hash, cfg))["contaminated"] == 1
