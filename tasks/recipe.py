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
    """How the proxy model trains (tasks/train.py). Null fields take the preset's value."""
    preset: Literal["nano", "tiny", "small", "base"] = "nano"
    seed: int = Field(0, description="model init, packing shuffle and data order")
    tokens: int | None = Field(None, gt=0, description="token budget; default from the preset")
    tokens_per_param: float | None = Field(
        None, gt=0, description="Chinchilla-style budget (e.g. 20): tokens = this x parameters; "
                                "used when `tokens` is null")
    batch_size: int | None = Field(None, gt=0, description="sequences per optimizer step")
    micro_batch_size: int | None = Field(None, gt=0, description="sequences per forward (grad accumulation)")
    lr: float | None = Field(None, gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final lr as a fraction of the peak")
    schedule: Literal["cosine", "wsd"] = Field("cosine", description="warmup + cosine, or warmup-stable-decay")
    warmup: float = Field(0.05, ge=0, lt=1, description="warmup, fraction of the steps")
    decay: float = Field(0.2, gt=0, le=1, description="WSD: final decay, fraction of the steps")
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, gt=0, lt=1)
    beta2: float = Field(0.95, gt=0, lt=1)
    grad_clip: float = Field(1.0, gt=0, description="max global gradient norm")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast where the hardware has bf16 (CUDA, AVX512-BF16/AMX CPUs)")
    compile: bool | None = Field(None, description="torch.compile; null = on CUDA only")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = Field(50, gt=0, description="steps between checkpoints (not part of the hash)")
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
