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

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.decontaminate import DecontaminationSpec
from tasks.hashing import hash_json


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a recipe must not silently do nothing."""
    model_config = ConfigDict(extra="forbid")


class LanguageSpec(Strict):
    """The first curate step: documents whose language is `allowed` (the `language`
    signal, an ISO 639-1 code) with a language-ID probability >= `min_score`."""
    allowed: list[str] | None = Field(None, description="ISO 639-1 codes to keep; null keeps all")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="minimum language-ID probability")

    @field_validator("allowed")
    @classmethod
    def _codes(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [c for c in v if not isinstance(c, str) or not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]{4})?", c)]
        if bad:
            raise ValueError(f"not language codes (ISO 639-1, e.g. en): {bad}")
        return sorted(set(v))


class FilterSpec(Strict):
    """A named filter from `sql/filters/<name>.sql` with threshold overrides, or a raw
    SQL predicate over signal columns (then `name` is an optional label). tasks/filters.py
    checks names, params and SQL against the filter files and the signals schema."""
    name: str | None = Field(None, description="named filter, e.g. gopher_quality; or a label for `sql`")
    params: dict[str, Any] = Field(default_factory=dict, description="threshold overrides (numbers; null = rule off)")
    sql: str | None = Field(None, description="a raw SQL predicate over signal columns")

    @field_validator("sql")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if v else v

    @model_validator(mode="after")
    def _one_kind(self) -> "FilterSpec":
        if not self.name and not self.sql:
            raise ValueError("a filter needs a `name` (named filter) or `sql` (raw predicate)")
        if self.sql and self.params:
            raise ValueError("`params` apply to named filters, not to raw `sql`")
        if self.name and not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"bad filter name {self.name!r} (lower-case letters, digits, _)")
        return self


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
    tasks: list[str] | None = Field(None, description="lm-eval task names; null = the default set")
    limit: int | None = Field(None, gt=0, description="items per task (subsample)")
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
    decontamination: DecontaminationSpec = Field(default_factory=DecontaminationSpec)

    @field_validator("filters", mode="before")
    @classmethod
    def _names_as_specs(cls, v: Any) -> Any:
        # `- gopher_quality` is shorthand for `- {name: gopher_quality}`.
        return [{"name": f} if isinstance(f, str) else f for f in (v or [])]

    def data_hash(self) -> str:
        """Hash of everything that decides the dataset (not the name, training or eval)."""
        return hash_json(self.model_dump(
            include={"sources", "language", "filters", "dedup", "selection", "mixture", "token_budget",
                     "decontamination"}))

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
