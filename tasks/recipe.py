"""Recipes: one arm of an ablation, loaded from YAML, validated and hashed.

A recipe is only a *choice* over data computed once per source (signals, MinHash,
scores): which sources, which filters, which dedup policy, which selection and mixture,
then how to train and evaluate. Each section is a pydantic model so that a bad recipe
fails before any work runs, and the Prefect UI renders the recipe as a form.

Each section is declared by the stage that owns it, in a light module beside it:
`language` and `filters` (tasks/signals/spec.py), `dedup` (tasks/dedup/spec.py),
`selection` and `mixture` (tasks/selection/spec.py), `train` (tasks/train/spec.py),
`eval` (tasks/evaluate/spec.py), `decontamination` (tasks/decontam/spec.py); `validation`
is a map of expectation names (tasks/validation/). This module composes them and imports
only specs and registries: no stage logic, nothing heavy (tests/test_architecture.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from tasks.core.hashing import hash_json
from tasks.core.spec import RecipeError, Strict
from tasks.decontam.spec import DecontaminationSpec
from tasks.dedup.spec import DedupSpec, drop_later_modes_off, drop_unset_rehydrate
from tasks.evaluate.spec import EvalSpec
from tasks.selection.spec import MixtureSpec, SelectionSpec
from tasks.signals.spec import FilterSpec, LanguageSpec, check_filters
from tasks.train.spec import TOKENIZER_VERSION, TrainSpec, get_preset


class Recipe(Strict):
    # `+` for generated add-one arms (`hdf.base+fineweb`, tasks/attribution/design.py)
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
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
        default_factory=dict, description="expectation name -> severity override"
    )
    decontamination: DecontaminationSpec = Field(default_factory=DecontaminationSpec)

    @field_validator("filters", mode="before")
    @classmethod
    def _names_as_specs(cls, v: Any) -> Any:
        # `- gopher_quality` is shorthand for `- {name: gopher_quality}`.
        return [{"name": f} if isinstance(f, str) else f for f in (v or [])]

    @field_validator("filters")
    @classmethod
    def _filters_resolve(cls, v: list[FilterSpec]) -> list[FilterSpec]:
        # Every filter checked when the recipe is: named filters and their params against
        # sql/filters/, raw SQL (untrusted: the UI form, deployment parameters) against
        # DuckDB's parse tree and the signals schema. So a bad predicate in any arm fails
        # the suite before any ingest or signal work (tasks/signals/spec.py).
        check_filters(v)
        return v

    @model_validator(mode="after")
    def _rehydrate_alone(self) -> Recipe:
        # Selection and the mixer plan their own `repeat` and would overwrite the copies;
        # the mixer's own FineWeb2 upsampling is mixture.upsample.
        if self.dedup.rehydrates() and (self.selection.method != "none" or self.mixture.asked):
            raise ValueError(
                "dedup.minhash.keep: rehydrate repeats documents before the budget cut; it cannot be "
                "combined with a selection method or a mixture (use mixture.upsample there)"
            )
        return self

    def counts_tokens(self) -> bool:
        """Does curation cut to a number of tokens (so it needs the suite tokenizer)?"""
        m = self.mixture
        mixture = bool(m.weights or m.temperature or m.upsample or m.final_phase)
        return bool(self.token_budget or self.selection.tokens or mixture)

    def tokenizer_vocab(self) -> int:
        """Vocabulary of the suite tokenizer: the train section's, else its preset's."""
        return self.train.vocab_size or get_preset(self.train.preset).vocab_size

    def data_hash(self) -> str:
        """Hash of everything that decides the dataset (not the name, training or eval).
        Token budgets are counted with the suite tokenizer, so its vocabulary is part of it."""
        fields = self.model_dump(
            include={
                "sources",
                "language",
                "filters",
                "dedup",
                "selection",
                "mixture",
                "token_budget",
                "decontamination",
            }
        )
        _keep_old_hash(fields)
        fields["mixture"].pop("online", None)  # how training samples the dataset, not what it holds
        if self.counts_tokens():
            fields["budget_tokenizer"] = {"vocab_size": self.tokenizer_vocab(), "version": TOKENIZER_VERSION}
        return hash_json(fields)

    def content_hash(self) -> str:
        fields = self.model_dump(exclude={"name", "description"})
        _keep_old_hash(fields)
        return hash_json(fields)


def _keep_old_hash(fields: dict[str, Any]) -> None:
    """Drop fields added later while they hold their defaults, so that recipes without them
    keep the hashes (dataset keys, cached stages) they had."""
    # (train's later fields drop themselves: TrainSpec's serializer)
    for section, key in (("mixture", "topics"), ("mixture", "online")):
        if fields.get(section, {}).get(key, 0) is None:
            fields[section].pop(key)
    drop_unset_rehydrate(fields["dedup"])
    if "eval" in fields and fields["eval"].get("min_k") is None:
        fields["eval"].pop("min_k", None)
    for f in fields["filters"]:
        if not f.get("skip"):
            f.pop("skip", None)
    drop_later_modes_off(fields["dedup"])


def load_yaml_model(path: str | Path, model: type[BaseModel], kind: str) -> Any:
    """Read a YAML mapping into `model` (name defaults to the file stem); any problem is a
    RecipeError naming the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a {kind} is a YAML mapping, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RecipeError(f"{path}: invalid {kind}: {errors}") from exc


def load_recipe(path: str | Path) -> Recipe:
    return load_yaml_model(path, Recipe, "recipe")
