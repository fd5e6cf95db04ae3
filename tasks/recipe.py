"""Recipes: one arm of an ablation, loaded from YAML, validated and hashed.

A recipe is only a *choice* over data computed once per source (signals, MinHash,
scores): which sources, which filters, which dedup policy, which selection and mixture,
then how to train and evaluate. Each section is a pydantic model so that a bad recipe
fails before any work runs, and the Prefect UI renders the recipe as a form.

Sections owned by stages: `filters` (tasks/filters.py), `dedup` (tasks/dedup.py),
`selection` and `mixture` (tasks/selection.py, tasks/mixing.py), `train`
(tasks/train.py), `eval` (tasks/evaluate.py), `validation` and `decontamination`
(tasks/validation.py, tasks/decontaminate.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tasks.hashing import hash_json


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a recipe must not silently do nothing."""
    model_config = ConfigDict(extra="forbid")


class LanguageSpec(Strict):
    allowed: list[str] | None = Field(None, description="ISO 639-1 codes to keep; null keeps all")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="minimum language-ID probability")


class FilterSpec(Strict):
    """A named filter from `sql/filters/<name>.sql` with threshold overrides, or raw SQL."""
    name: str | None = Field(None, description="named filter, e.g. gopher_quality")
    params: dict[str, Any] = Field(default_factory=dict, description="threshold overrides")
    sql: str | None = Field(None, description="a raw SQL predicate over signal columns")

    @field_validator("sql")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if v else v


class DedupSpec(Strict):
    """Which deduplication steps run, in order exact -> url -> minhash -> lines."""
    exact: bool = False
    url: bool = False
    minhash: bool = False
    lines: bool = False
    options: dict[str, Any] = Field(default_factory=dict, description="per-step options")


class SelectionSpec(Strict):
    method: Literal["none", "random", "fasttext", "dsir", "perplexity", "semdedup"] = "none"
    options: dict[str, Any] = Field(default_factory=dict)


class MixtureSpec(Strict):
    weights: dict[str, float] | None = Field(None, description="per-source weights")
    options: dict[str, Any] = Field(default_factory=dict)


class TrainSpec(Strict):
    preset: Literal["nano", "tiny", "small", "base"] = "nano"
    seed: int = 0
    tokens: int | None = Field(None, gt=0, description="token budget; default from the preset")
    options: dict[str, Any] = Field(default_factory=dict)


class EvalSpec(Strict):
    """What tasks/evaluate.py runs: the task YAMLs in `evals/` through lm-eval."""
    tasks: list[str] | None = Field(
        None, description="short task names (hellaswag, arc_easy, ..., lambada, wikitext2, "
                          "wiki_leads_heldout, news_heldout) or groups benchmarks / lm; null = all")
    limit: int | None = Field(None, gt=0, description="items per task (a fixed seeded subsample); "
                                                     "null = the CI default (tasks.evaluate.DEFAULT_LIMIT)")
    full: bool = Field(False, description="every item of every task (overrides limit)")
    batch_size: int = Field(16, gt=0, description="lm-eval batch size")
    options: dict[str, Any] = Field(default_factory=dict)


class Recipe(Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    sources: list[str] = Field(..., min_length=1, description="ingested source names")
    language: LanguageSpec = Field(default_factory=LanguageSpec)
    filters: list[FilterSpec] = Field(default_factory=list)
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    mixture: MixtureSpec = Field(default_factory=MixtureSpec)
    token_budget: int | None = Field(None, gt=0, description="tokens the dataset is cut to")
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    validation: dict[str, Literal["warn", "fail"]] = Field(
        default_factory=dict, description="expectation name -> severity override")

    @field_validator("filters", mode="before")
    @classmethod
    def _names_as_specs(cls, v: Any) -> Any:
        # `- gopher_quality` is shorthand for `- {name: gopher_quality}`.
        return [{"name": f} if isinstance(f, str) else f for f in (v or [])]

    def data_hash(self) -> str:
        """Hash of everything that decides the dataset (not the name, training or eval)."""
        return hash_json(self.model_dump(
            include={"sources", "language", "filters", "dedup", "selection", "mixture", "token_budget"}))

    def content_hash(self) -> str:
        return hash_json(self.model_dump(exclude={"name", "description"}))


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file and the field."""


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read recipe: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RecipeError(f"{path}: invalid recipe: {errors}") from exc
