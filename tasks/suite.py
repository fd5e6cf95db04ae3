"""Suites: a list of arms (recipes) compared at the same token budget and model.

A suite names where each source comes from (`sources: {name: [uri or glob, ...]}`, with
`${SHARED_DATA}` and `${EXTERNAL}` expanded), the arms (recipe files or inline recipes),
and what every arm shares: preset, token budget, training tokens, eval settings, seeds.
Shared settings override the arms' own, so arms differ only in their data.

`decision` names the metric that ranks the arms (docs/decisions.md): a per-item metric
family (`bpb`, `prob`, `acc`) on a list of eval tasks or the groups `benchmarks` / `lm`;
several tasks are averaged unweighted, as declared. Each seed of a suite varies model
init and data order, and for sampling selections (random, DSIR) the sample too
(`arm_for_seed`).

`sweep` (tasks/sweep/design.py, docs/sweeps.md) is a grid or random design over recipe
fields; its points are added to `arms` when the suite is validated, before any work runs.
`ablate` (tasks/attribution/design.py, docs/attribution.md) expands one recipe into the
arms that measure each of its components (leave one out, or add one to the baseline).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from tasks.attribution.spec import AblateError, AblateSpec
from tasks.core.external import external_dir
from tasks.core.paths import PACKAGE_ROOT as REPO
from tasks.core.paths import shared_data
from tasks.core.spec import Strict
from tasks.evaluate.registry import ALL_TASKS, BENCHMARKS, LM_TEXTS, resolve_tasks
from tasks.evaluate.spec import EvalSpec
from tasks.recipe import Recipe, load_recipe, load_yaml_model
from tasks.selection.registry import get_method
from tasks.sweep.spec import SweepError, SweepSpec
from tasks.train.spec import PRESETS

if TYPE_CHECKING:
    from tasks.attribution.design import AblationDesign

_VAR = re.compile(r"\$\{([A-Z_]+)\}")


def expand(uri: str) -> str:
    values = {
        "SHARED_DATA": str(shared_data()),
        "EXTERNAL": str(external_dir()),
        "REPO": str(REPO),
    }
    return _VAR.sub(lambda m: values.get(m.group(1), os.environ.get(m.group(1), m.group(0))), uri)


# Per-item metric families the report can decide on, and whether higher is better.
DECISION_METRICS = {"bpb": False, "prob": True, "acc": True}
TASK_GROUPS = {"benchmarks": BENCHMARKS, "lm": LM_TEXTS}


class DecisionSpec(Strict):
    """What ranks the arms: `metric` (bpb: bits per byte of the gold text, lower is better;
    prob: probability of the correct answer; acc: the task's accuracy) on `on` (eval task
    names or the groups benchmarks / lm; several are averaged unweighted)."""

    metric: Literal["bpb", "prob", "acc"] = "bpb"
    on: list[str] = Field(default_factory=lambda: ["wiki_leads_heldout"], min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_key(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads an unquoted `on:` key as the boolean True.
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("on")
    @classmethod
    def _known_tasks(cls, v: list[str]) -> list[str]:
        out = []
        for name in v:
            name = name.removeprefix("winnow_")
            if name not in ALL_TASKS and name not in TASK_GROUPS:
                raise ValueError(
                    f"decision.on: unknown eval task {name!r}; known: {', '.join(ALL_TASKS)}, benchmarks, lm"
                )
            if name not in out:
                out.append(name)
        return out

    @model_validator(mode="after")
    def _metric_fits_tasks(self) -> DecisionSpec:
        if self.metric != "bpb":
            texts = [t for t in self.tasks() if t in LM_TEXTS]
            if texts:
                raise ValueError(
                    f"decision.metric {self.metric!r} needs benchmarks (questions with a correct answer); "
                    f"{texts} are held-out texts: use metric bpb"
                )
        return self

    def tasks(self) -> tuple[str, ...]:
        out: list[str] = []
        for name in self.on:
            for t in TASK_GROUPS.get(name, (name,)):
                if t not in out:
                    out.append(t)
        return tuple(out)

    @property
    def name(self) -> str:
        """The leaderboard's name of the metric, e.g. `bpb/wiki_leads_heldout`, `prob/benchmarks`."""
        return f"{self.metric}/{'+'.join(self.on)}"

    @property
    def higher_is_better(self) -> bool:
        return DECISION_METRICS[self.metric]


def arm_for_seed(recipe: Recipe, seed: int) -> Recipe:
    """The arm as run under suite seed `seed`: model init and data order take the seed;
    a sampling selection (random, DSIR) takes its own seed + `seed`, so seeds also vary
    which documents are sampled (seed 0 is the recipe as written)."""
    update: dict[str, Any] = {"train": recipe.train.model_copy(update={"seed": seed})}
    if get_method(recipe.selection.method).seeded:  # declared in tasks/selection/registry.py
        update["selection"] = recipe.selection.model_copy(update={"seed": recipe.selection.seed + seed})
    return recipe.model_copy(update=update)


class DecideSpec(Strict):
    """`decide:` — add seeds until the leader is separated (flows/ablation.py). After one
    round of the suite's seeds, every arm still plausibly the best (not separated from the
    leader at `p`, Holm-adjusted, training noise included: tasks/report/decide.py) gets one
    more seed, round after round, until the leader is separated from every other arm, every
    contender has `max_seeds`, or the next round would end past `budget_minutes` from the
    start of the suite run. Every added seed is an ordinary cached, tracked arm run."""

    p: float = Field(0.95, gt=0.5, lt=1, description="P(leader better) each comparison must reach")
    max_seeds: int = Field(3, ge=1, le=50, description="seeds per arm at most")
    budget_minutes: float | None = Field(None, gt=0, description="wall time of the whole suite run; null = none")


class LadderSpec(Strict):
    """`ladder:` — the same arms at several model sizes (flows/ladder.py). Every rung uses
    the same data (one suite tokenizer, the same token-matched datasets); training tokens
    follow the stated rule: `tokens_per_param x parameters`, capped at `max_epochs` passes
    over the datasets (the pool cap); the trainer completes the last optimizer step."""

    presets: list[str] = Field(
        ..., min_length=2, description="model presets, smallest first; the last is the reference"
    )
    tokens_per_param: float = Field(20.0, gt=0, description="training tokens per parameter (Chinchilla: 20)")
    max_epochs: float = Field(4.0, gt=0, description="cap: passes over each arm's dataset")
    vocab_size: int | None = Field(
        None, ge=300, description="suite tokenizer for every rung; null = the suite preset's"
    )

    @field_validator("presets")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [p for p in v if p not in PRESETS]
        if unknown:
            raise ValueError(f"unknown preset(s) {unknown}; known: {', '.join(PRESETS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"presets repeat: {v}")
        return v


class Suite(Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    sources: dict[str, list[str]] = Field(..., description="source name -> URIs / globs / manifests")
    arms: list[Recipe] = Field(default_factory=list, description="recipes; a `sweep:` adds its points")
    sweep: SweepSpec | list[SweepSpec] | None = Field(
        None, description="a grid or random design over recipe fields, expanded into arms (tasks/sweep/design.py)"
    )
    ablate: AblateSpec | None = Field(
        None,
        description="one recipe expanded into leave-one-out or add-one arms per component (tasks/attribution/design.py)",
    )
    preset: str = "nano"
    token_budget: int | None = Field(None, gt=0, description="every arm's dataset is cut to this")
    train_tokens: int | None = Field(None, gt=0, description="tokens every arm trains on")
    eval: EvalSpec | None = None
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    decision: DecisionSpec = Field(
        default_factory=DecisionSpec, description="the metric that ranks the arms (default: bpb on wiki_leads_heldout)"
    )
    decide: DecideSpec | None = Field(
        None, description="add seeds to the arms still plausibly best until decided (null: run `seeds` once)"
    )

    tokenizer_vocab: int | None = Field(
        None, ge=300, description="vocabulary of the suite tokenizer (budgets and training); null = the preset's"
    )
    ladder: LadderSpec | None = Field(None, description="model sizes for `python -m flows.ladder`")

    @model_validator(mode="before")
    @classmethod
    def _expand_sweep(cls, data: Any) -> Any:
        # The sweep's points become arms before anything else is validated (docs/sweeps.md).
        # The expansions are the suite's own logic (recipe dicts in, arms out); the sweep's
        # draws need numpy, so they are imported when a suite has a sweep or an ablation.
        if isinstance(data, dict) and data.get("sweep"):
            from tasks.sweep.design import with_sweep_arms

            try:
                data = {**data, "arms": with_sweep_arms(data)}
            except SweepError as exc:
                raise ValueError(str(exc)) from None
        if isinstance(data, dict) and data.get("ablate"):  # its arms too (docs/attribution.md)
            from tasks.attribution.design import with_ablation_arms

            try:
                data = {**data, "arms": with_ablation_arms(data)}
            except (AblateError, ValueError) as exc:
                raise ValueError(str(exc)) from None
        return data

    @field_validator("arms", mode="before")
    @classmethod
    def _load_arm_files(cls, v: Any) -> Any:
        out = []
        for arm in v or []:
            if isinstance(arm, str):
                path = Path(arm) if Path(arm).is_absolute() else REPO / arm
                out.append(load_recipe(path))
            else:
                out.append(arm)
        return out

    def model_post_init(self, _: Any) -> None:
        if not self.arms and not self.sweep:  # a `merge:` sweep picks its arms as it runs
            raise ValueError("a suite needs `arms` or a `sweep` (none given)")
        names = [a.name for a in self.arms]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"arm names must be unique, repeated: {dupes}")
        for arm in self.arms:
            missing = [s for s in arm.sources if s not in self.sources]
            if missing:
                raise ValueError(
                    f"arm {arm.name!r} uses sources {missing} that the suite does not define "
                    f"(defined: {sorted(self.sources)})"
                )
        if self.eval is not None and self.eval.tasks is not None:
            missing = [t for t in self.decision.tasks() if t not in resolve_tasks(self.eval.tasks)]
            if missing:
                raise ValueError(f"decision.on needs eval tasks {missing} that the suite's eval.tasks leaves out")

    def resolved_arms(self) -> list[Recipe]:
        """Arms with the suite's shared settings applied (same budget, model and eval)."""
        arms = []
        for arm in self.arms:
            train: dict[str, Any] = {"preset": self.preset}
            if self.tokenizer_vocab:
                train["vocab_size"] = self.tokenizer_vocab
            update: dict[str, Any] = {"train": arm.train.model_copy(update=train)}
            if self.token_budget:
                update["token_budget"] = self.token_budget
                sel = arm.selection
                if sel.method != "none" and sel.keep_fraction is None and sel.tokens is None:
                    # A scored selection fills the shared budget by score (top-k), not at random.
                    update["selection"] = sel.model_copy(update={"tokens": self.token_budget})
            if self.train_tokens:
                update["train"] = update["train"].model_copy(update={"tokens": self.train_tokens})
            if self.eval is not None:
                update["eval"] = self.eval
            arms.append(arm.model_copy(update=update))
        return arms

    def ablation(self) -> AblationDesign | None:
        """What `ablate:` compares: each component's arm and its reference arm (None without)."""
        from tasks.attribution.design import ablation_of

        found = ablation_of(self)
        if found is None:
            return None
        design = found[0]
        if self.decide is not None:  # effects are separated at the suite's own P
            design.p_target = self.decide.p
        return design

    def source_uris(self, name: str) -> list[str]:
        return [expand(u) for u in self.sources[name]]


def load_suite(path: str | Path) -> Suite:
    return load_yaml_model(path, Suite, "suite")


def suite_from_recipe(recipe_path: str | Path, sources: dict[str, list[str]]) -> Suite:
    """A one-arm suite for `python -m flows.ablation RECIPE.yaml`."""
    recipe = load_recipe(recipe_path)
    return Suite(name=recipe.name, sources={k: v for k, v in sources.items() if k in recipe.sources}, arms=[recipe])
