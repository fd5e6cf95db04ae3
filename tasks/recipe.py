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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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


KeepPolicy = Literal["first", "longest", "quality"]


class ExactDedupSpec(Strict):
    """Exact duplicates: same text after the chosen normalisation."""
    lower_case: bool = True
    whitespace: bool = True
    punctuation: bool = False
    digits: bool = False
    keep: KeepPolicy = Field("first", description="which member of a duplicate group survives")


class UrlDedupSpec(Strict):
    """Same normalised URL (scheme, www., fragment, tracking parameters ignored)."""
    strip_query: bool = Field(False, description="also ignore the whole query string")
    keep: Literal["latest", "longest", "first"] = Field("latest", description="latest crawl_date or longest text")


class MinhashDedupSpec(Strict):
    """Near duplicates by MinHash LSH (defaults: FineWeb's 5-grams, 14 bands x 8 rows)."""
    n_grams: int = Field(5, ge=1)
    num_bands: int = Field(14, ge=1)
    rows_per_band: int = Field(8, ge=1)
    seed: int = 1
    verify: Literal["none", "estimate", "exact"] = Field(
        "exact", description="check candidate pairs by exact or estimated (signature) Jaccard; "
                             "none = FineWeb (every LSH candidate is a duplicate)")
    threshold: float = Field(0.8, ge=0.0, le=1.0, description="Jaccard a verified pair must reach")
    keep: KeepPolicy = "first"


class LinesDedupSpec(Strict):
    """CCNet-style: drop lines (or paragraphs) that occur more than `max_count` times."""
    max_count: int = Field(2, ge=1, description="a line seen more often than this is boilerplate")
    paragraphs: bool = Field(False, description="compare paragraphs (blank-line separated), not lines")


def _mode_spec(value: Any, model: type[BaseModel]) -> Any:
    # `exact: true` (the original boolean form) means the defaults; `false`/null: off.
    if value is True:
        return model()
    if value is False:
        return None
    return value


class DedupSpec(Strict):
    """Which deduplication steps run, in order exact -> url -> minhash -> lines.

    Each mode is `true` (defaults), `false` (off) or a mapping of its options.
    """
    exact: ExactDedupSpec | None = None
    url: UrlDedupSpec | None = None
    minhash: MinhashDedupSpec | None = None
    lines: LinesDedupSpec | None = None
    scope: Literal["source", "global"] = Field(
        "global", description="find duplicates within each source, or across all sources")
    against: list[str] = Field(default_factory=list,
                               description="earlier datasets' sources: documents matching them are removed")
    quality_column: str | None = Field(None, description="score column for the `quality` keep policy")
    options: dict[str, Any] = Field(default_factory=dict, description="per-step options (legacy form)")

    @field_validator("exact", mode="before")
    @classmethod
    def _exact(cls, v: Any) -> Any:
        return _mode_spec(v, ExactDedupSpec)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, v: Any) -> Any:
        return _mode_spec(v, UrlDedupSpec)

    @field_validator("minhash", mode="before")
    @classmethod
    def _minhash(cls, v: Any) -> Any:
        return _mode_spec(v, MinhashDedupSpec)

    @field_validator("lines", mode="before")
    @classmethod
    def _lines(cls, v: Any) -> Any:
        return _mode_spec(v, LinesDedupSpec)

    @model_validator(mode="after")
    def _legacy_options_and_policy(self) -> "DedupSpec":
        # Legacy `options: {minhash: {...}}` fill a mode switched on by `minhash: true`.
        models = {"exact": ExactDedupSpec, "url": UrlDedupSpec, "minhash": MinhashDedupSpec,
                  "lines": LinesDedupSpec}
        for mode, model in models.items():
            extra = self.options.get(mode)
            if isinstance(extra, dict) and getattr(self, mode) is not None:
                merged = {**getattr(self, mode).model_dump(), **extra}
                setattr(self, mode, model.model_validate(merged))
        uses_quality = any(getattr(getattr(self, m), "keep", None) == "quality" for m in ("exact", "minhash"))
        if uses_quality and not self.quality_column:
            raise ValueError("keep policy 'quality' needs dedup.quality_column")
        return self

    def modes(self) -> list[str]:
        return [m for m in ("exact", "url", "minhash", "lines") if getattr(self, m) is not None]


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
