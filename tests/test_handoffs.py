"""The typed hand-offs between an arm's stages (flows/ablation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.curate.results import DatasetRef
from tasks.evaluate.results import EvalResult
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
