"""The recipe section `eval:`: which eval tasks (tasks/evaluate/registry.py) run, on how
many items and at what batch size (tasks/evaluate/harness.py runs them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from tasks.core.spec import Strict, refuse_options


class MinKSpec(Strict):
    """Min-K% Prob membership scores of the eval items (tasks/membership/mink.py)."""

    k: float = Field(0.2, gt=0, le=1, description="share of each item's least likely tokens averaged (Shi et al.: 20%)")


class EvalSpec(Strict):
    """What tasks/evaluate/harness.py runs: the task YAMLs in `evals/` through lm-eval."""

    tasks: list[str] | None = Field(
        None,
        description="short task names (hellaswag, arc_easy, ..., lambada, wikitext2, "
        "wiki_leads_heldout, news_heldout) or groups benchmarks / lm; null = all",
    )
    limit: int | None = Field(
        None,
        gt=0,
        description="items per task (a fixed seeded subsample); "
        "null = the CI default (tasks.evaluate.harness.DEFAULT_LIMIT)",
    )
    full: bool = Field(False, description="every item of every task (overrides limit)")
    batch_size: int = Field(16, gt=0, description="lm-eval batch size")
    min_k: MinKSpec | None = Field(
        None, description="also score each eval item's Min-K% Prob (was it in the training data?)"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="reserved; use the typed fields")

    @field_validator("options")
    @classmethod
    def _no_loose_options(cls, v):
        # `options: {full: true}` was once read by the ablation flow; now it would be ignored
        return refuse_options(v, "eval", "use eval.full / eval.limit / eval.batch_size")
