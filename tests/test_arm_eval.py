"""An arm evaluates as its recipe's `eval:` section says: every EvalSpec field reaches lm-eval.

The ablation flow once read `eval.options["full"]` and never passed `eval.batch_size`, so a
recipe's `eval: {full: true, batch_size: 64}` was ignored in arm runs.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import flows.ablation as ablation
from tasks.core.workspace import Workspace
from tasks.evaluate.results import EvalResult
from tasks.evaluate.spec import EvalSpec
from tasks.recipe import Recipe
from tasks.train.results import TrainResult


def test_arm_evaluation_honours_full_limit_tasks_and_batch_size(tmp_path, monkeypatch):
    seen: dict = {}

    def fake_evaluate_flow(model, **kwargs):
        seen.update(kwargs, model=model)
        out = tmp_path / "evals" / "k"
        out.mkdir(parents=True)
        (out / "scores.json").write_text(json.dumps({"rows": [{"task": "sciq", "metric": "acc", "value": 0.5}]}))
        return EvalResult.from_summary({"eval_key": "k", "results_dir": str(out)})

    monkeypatch.setattr(ablation, "evaluate_flow", fake_evaluate_flow)
    recipe = Recipe(
        name="r",
        sources=["crawl"],
        eval={"tasks": ["sciq", "lambada"], "limit": 7, "full": True, "batch_size": 64},
    )
    trained = TrainResult(tmp_path / "models" / "m", "t", 128, {})
    result = ablation.evaluate_arm(recipe, trained, Workspace(tmp_path), None)

    assert seen["full"] is True
    assert seen["batch_size"] == 64
    assert seen["limit"] == 7 and seen["tasks"] == ["sciq", "lambada"]
    assert seen["model"] == str(trained.model_dir)
    assert result.eval_key == "k" and result.scores[0]["value"] == 0.5


def test_loose_eval_options_are_refused_not_ignored():
    with pytest.raises(ValidationError, match="unknown eval options"):
        EvalSpec(options={"full": True})
