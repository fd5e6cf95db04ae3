"""A suite's `sweep:` section: a grid or random design over recipe fields, expanded into
arms before any work runs.

The section's models are in tasks/sweep/spec.py.

    sweep:
      name: mix                 # optional prefix of the arm names (needed to tell several sweeps apart)
      base: {sources: [crawl, wiki], language: {allowed: [en]}}   # what every point shares
      design: random            # grid (every combination) | random (n points, seeded)
      n: 8
      seed: 0
      axes:
        mixture.weights: {dirichlet: 1.0}          # random only: weights over the base's sources
        selection.keep_fraction: {low: 0.2, high: 0.8, num: 4}   # grid: num points; random: uniform
        filters.0.params.max_symbol_word_ratio: [0.05, 0.1]      # a list: these values
        epochs: [1, 2, 4, 8]                       # derived axis, see below

An axis is a dotted path into the recipe (`filters.0` is the base's first filter; a dict
field such as `mixture.weights` takes keys). Paths the suite's shared settings override
(`train.preset`, `train.seed`, and `token_budget` / `train.tokens` / `eval` when the suite
sets them) are errors: the sweep would silently do nothing.

`epochs` is the repetition axis. As a list it varies the side the suite leaves free: with
the suite's `train_tokens` fixed, each point's dataset is cut to train_tokens / epochs
unique tokens; with the suite's `token_budget` fixed, each point trains on
token_budget x epochs tokens. As `{values, fix: train_tokens|unique_tokens, tokens}` it
states the fixed amount itself (then the suite sets neither), so one suite can hold both
forms as two sweeps.

Every point becomes an arm named from its values (`ep4`, `keep0.5`,
`mix_crawl0.62_wiki0.38`), validated as a Recipe; a bad path or value is an error naming
the sweep, the axis and the point.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ValidationError

from tasks.core.paths import PACKAGE_ROOT
from tasks.recipe import Recipe, load_recipe
from tasks.selection.spec import TopicsSpec
from tasks.sweep.spec import EPOCHS, DirichletAxis, EpochsAxis, RangeAxis, SweepError, SweepSpec

# Last path segment -> short label in arm names.
LABELS = {
    "keep_fraction": "keep",
    "token_budget": "budget",
    "tokens": "tt",
    "weights": "mix",
    "min_score": "min",
    "max_score": "max",
    "temperature": "temp",
    "max_epochs": "maxep",
}
MIX_DECIMALS = 2  # Dirichlet weights are rounded to this (and still sum to 1): names state them exactly
SIG_DIGITS = 4  # continuous random values are rounded to this many significant digits


@dataclass(frozen=True)
class SweepPoint:
    """One point of a design: its arm and the value of every axis."""

    name: str
    values: dict[str, Any]
    recipe: Recipe


# ---------------------------------------------------------------- paths


def _unwrap(ann: Any) -> Any:
    """Optional[X] -> X."""
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return ann


def check_path(path: str, base: Mapping[str, Any]) -> None:
    """A dotted path names a field of the Recipe (list items by index into the base's
    list, dict fields by key); anything else is a SweepError listing what exists."""
    if path == EPOCHS:
        return
    cur: Any = Recipe
    node: Any = base
    walked: list[str] = []
    for seg in path.split("."):
        cur = _unwrap(cur)
        where = ".".join(walked) or "the recipe"
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            if seg not in cur.model_fields:
                raise SweepError(
                    f"axis {path!r}: {seg!r} is not a field of {where} ({cur.__name__}); "
                    f"fields: {', '.join(cur.model_fields)}"
                )
            cur = cur.model_fields[seg].annotation
        elif get_origin(cur) in (list, tuple):
            if not seg.isdigit():
                raise SweepError(f"axis {path!r}: {where} is a list; {seg!r} is not an index")
            items = node if isinstance(node, list) else []
            if int(seg) >= len(items):
                raise SweepError(f"axis {path!r}: the base's {where} has {len(items)} item(s), no index {seg}")
            cur = get_args(cur)[0]
        elif get_origin(cur) is dict:
            cur = get_args(cur)[1]
        else:
            raise SweepError(f"axis {path!r}: {where} is a value, it has no field {seg!r}")
        node = node[int(seg)] if isinstance(node, list) else node.get(seg) if isinstance(node, Mapping) else None
        walked.append(seg)


def _overridden(path: str, suite: Mapping[str, Any]) -> str | None:
    """Why the suite's shared settings would overwrite this axis (None when they do not)."""
    if path in ("train.preset",) or path.startswith("train.preset."):
        return "the suite's `preset` sets every arm's"
    if path == "train.seed":
        return "the suite's `seeds` set every arm's"
    if path == "token_budget" and suite.get("token_budget"):
        return "the suite's `token_budget` sets every arm's"
    if path == "train.tokens" and suite.get("train_tokens"):
        return "the suite's `train_tokens` sets every arm's"
    if path == "train.vocab_size" and suite.get("tokenizer_vocab"):
        return "the suite's `tokenizer_vocab` sets every arm's"
    if (path == "eval" or path.startswith("eval.")) and suite.get("eval") is not None:
        return "the suite's `eval` sets every arm's"
    return None


def _set(d: dict[str, Any], path: str, value: Any) -> None:
    segs = path.split(".")
    node: Any = d
    for seg in segs[:-1]:
        if isinstance(node, list):
            node = node[int(seg)]
        else:
            node = node.setdefault(seg, {})
    last = segs[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


# ---------------------------------------------------------------- values


def round_simplex(w: np.ndarray, decimals: int = MIX_DECIMALS) -> np.ndarray:
    """Round weights on the simplex to `decimals` so that they still sum to exactly 1
    (largest remainder: the units lost to rounding go to the largest fractional parts)."""
    w = np.asarray(w, dtype=float)
    if w.ndim != 1 or w.size == 0 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be a non-empty vector >= 0 with a positive sum, got {w}")
    scale = 10**decimals
    units = w / w.sum() * scale
    floor = np.floor(units).astype(int)
    short = scale - int(floor.sum())
    order = np.argsort(-(units - floor), kind="stable")
    floor[order[:short]] += 1
    return floor / scale


def _sig(x: float, digits: int = SIG_DIGITS) -> float:
    return float(f"{x:.{digits}g}")


def _grid_values(axis: Any) -> list[Any]:
    if isinstance(axis, list):
        return axis
    if isinstance(axis, EpochsAxis):
        return list(axis.values)
    assert isinstance(axis, RangeAxis) and axis.num is not None
    xs = np.geomspace(axis.low, axis.high, axis.num) if axis.log else np.linspace(axis.low, axis.high, axis.num)
    return [int(round(x)) if axis.integer else _sig(float(x)) for x in xs]


def _draw(axis: Any, rng: np.random.Generator, groups: Sequence[str]) -> Any:
    if isinstance(axis, list):
        return axis[int(rng.integers(len(axis)))]
    if isinstance(axis, EpochsAxis):
        return axis.values[int(rng.integers(len(axis.values)))]
    if isinstance(axis, DirichletAxis):
        w = round_simplex(rng.dirichlet(np.full(len(groups), axis.dirichlet)))
        return {g: float(x) for g, x in zip(groups, w)}
    assert isinstance(axis, RangeAxis)
    x = math.exp(rng.uniform(math.log(axis.low), math.log(axis.high))) if axis.log else rng.uniform(axis.low, axis.high)
    return int(round(x)) if axis.integer else _sig(float(x))


def dirichlet_groups(axis: DirichletAxis, base: Mapping[str, Any], path: str) -> list[str]:
    """The groups a Dirichlet axis mixes: `over`, else the base's sources (mixing by source)
    or all its topics (mixing by topic)."""
    if axis.over:
        return list(axis.over)
    group_by = (base.get("mixture") or {}).get("group_by", "source")
    if group_by == "topic":  # every topic id t0..t<n-1> (tasks/selection/topics.py)
        n = TopicsSpec(**((base.get("mixture") or {}).get("topics") or {})).n
        return [f"t{k}" for k in range(n)]
    if group_by != "source":
        raise SweepError(f"axis {path!r}: mixing by {group_by!r} needs `over: [group, ...]` (the groups to weigh)")
    sources = list(base.get("sources") or [])
    if len(sources) < 2:
        raise SweepError(f"axis {path!r}: a mixture needs at least two sources in sweep.base, got {sources}")
    return sources


# ---------------------------------------------------------------- names


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, Mapping):
        return "_".join(f"{k}{_fmt(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return "+".join(_fmt(x) for x in v)
    return str(v)


def point_name(values: Mapping[str, Any]) -> str:
    """`ep4`, `keep0.5`, `mix_crawl0.62_wiki0.38`: each axis's short label and value."""
    parts = []
    for path, v in values.items():
        if path == EPOCHS:
            parts.append(f"ep{_fmt(float(v))}")
            continue
        last = path.split(".")[-1]
        label = LABELS.get(last, last)
        sep = "_" if isinstance(v, Mapping) else "-" if isinstance(v, str | list | tuple) else ""
        parts.append(f"{label}{sep}{_fmt(v)}")
    return re.sub(r"[^A-Za-z0-9_.-]", "-", "_".join(parts)).strip("-_.") or "point"


# ---------------------------------------------------------------- expansion


def _epochs_update(value: float, axis: Any, suite: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Recipe fields of one point of the `epochs` axis."""
    e = float(value)
    if isinstance(axis, EpochsAxis):
        clash = [k for k in ("token_budget", "train_tokens") if suite.get(k)]
        if clash:
            raise SweepError(
                f"{label}: epochs with `fix` states its own tokens; the suite's {clash} would override "
                "every arm's: remove them from the suite"
            )
        if axis.fix == "train_tokens":
            return {"token_budget": int(round(axis.tokens / e)), "train.tokens": axis.tokens}
        return {"token_budget": axis.tokens, "train.tokens": int(round(axis.tokens * e))}
    budget, train = suite.get("token_budget"), suite.get("train_tokens")
    if bool(budget) == bool(train):
        raise SweepError(
            f"{label}: axis 'epochs' as a list varies the side the suite leaves free: set exactly one of the "
            f"suite's train_tokens (fixed training tokens, unique tokens = train_tokens / epochs) or token_budget "
            f"(fixed unique tokens, training tokens = token_budget x epochs); got token_budget={budget}, "
            f"train_tokens={train}. Or write epochs: {{values: [...], fix: train_tokens|unique_tokens, tokens: N}}"
        )
    if train:
        return {"token_budget": int(round(int(train) / e))}
    assert budget is not None  # one of the two is set: checked above
    return {"train.tokens": int(round(int(budget) * e))}


def expand(sweep: SweepSpec, suite: Mapping[str, Any]) -> list[SweepPoint]:
    """The design's points as validated arms. `suite` is the suite's fields (a dict):
    shared settings that would override an axis make it an error."""
    label = f"sweep {sweep.name}" if sweep.name else "sweep"
    base = copy.deepcopy(sweep.base)
    base["filters"] = [{"name": f} if isinstance(f, str) else f for f in base.get("filters") or []]
    groups: dict[str, list[str]] = {}
    for path, axis in sweep.axes.items():
        try:
            check_path(path, base)
        except SweepError as exc:
            raise SweepError(f"{label}: {exc}") from None
        why = _overridden(path, suite)
        if why:
            raise SweepError(f"{label}: axis {path!r}: {why}, so this axis would change nothing")
        if isinstance(axis, DirichletAxis):
            groups[path] = dirichlet_groups(axis, base, path)
    if EPOCHS in sweep.axes and any(p in sweep.axes for p in ("token_budget", "train.tokens")):
        raise SweepError(f"{label}: axis 'epochs' sets token_budget and train.tokens; do not sweep them too")

    paths = list(sweep.axes)
    if sweep.design == "grid":
        size = math.prod(len(_grid_values(sweep.axes[p])) for p in paths)
        if size > sweep.max_arms:
            raise SweepError(f"{label}: the grid has {size} points, more than max_arms={sweep.max_arms}")
        combos = [dict(zip(paths, c)) for c in itertools.product(*(_grid_values(sweep.axes[p]) for p in paths))]
    else:
        assert sweep.n is not None
        if sweep.n > sweep.max_arms:
            raise SweepError(f"{label}: n={sweep.n} is more than max_arms={sweep.max_arms}")
        rng = np.random.default_rng(sweep.seed)
        if all(isinstance(a, list | EpochsAxis) for a in sweep.axes.values()):
            # only discrete axes: n distinct points of the grid, without replacement
            grid = list(itertools.product(*(_grid_values(sweep.axes[p]) for p in paths)))
            if sweep.n > len(grid):
                raise SweepError(f"{label}: n={sweep.n} but the discrete axes have only {len(grid)} points")
            pick = rng.choice(len(grid), size=sweep.n, replace=False)
            combos = [dict(zip(paths, grid[int(i)])) for i in pick]
        else:
            combos = [{p: _draw(sweep.axes[p], rng, groups.get(p, [])) for p in paths} for _ in range(sweep.n)]

    points: list[SweepPoint] = []
    seen: dict[str, int] = {}
    for values in combos:
        name = point_name(values)
        if sweep.name:
            name = f"{sweep.name}_{name}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        recipe = point_recipe(sweep, suite, values, name, base)
        points.append(SweepPoint(name, values, recipe))
    return points


def point_recipe(
    sweep: SweepSpec,
    suite: Mapping[str, Any],
    values: Mapping[str, Any],
    name: str,
    base: Mapping[str, Any] | None = None,
) -> Recipe:
    """The arm of one point: the sweep's base with each axis set to its value, validated.
    (flows/sweep.py also builds the predicted optimum of a mixture search with it.)"""
    label = f"sweep {sweep.name}" if sweep.name else "sweep"
    if base is None:
        base = copy.deepcopy(sweep.base)
        base["filters"] = [{"name": f} if isinstance(f, str) else f for f in base.get("filters") or []]
    data = copy.deepcopy(dict(base))
    for path, v in values.items():
        if path == EPOCHS:
            for p, x in _epochs_update(v, sweep.axes[EPOCHS], suite, label).items():
                _set(data, p, x)
        else:
            _set(data, path, copy.deepcopy(v))
    data["name"] = name
    data.setdefault("description", "sweep point: " + ", ".join(f"{p}={_fmt(v)}" for p, v in values.items()))
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SweepError(f"{label}: point {name}: {msgs}") from None


def sweeps_of(data: Any) -> list[SweepSpec]:
    """The suite's `sweep:` (one spec or a list) as specs; [] when there is none."""
    raw = data.get("sweep") if isinstance(data, Mapping) else getattr(data, "sweep", None)
    if not raw:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, SweepSpec):
            out.append(item)
            continue
        try:
            out.append(SweepSpec.model_validate(item))
        except ValidationError as exc:
            where = "sweep" if not isinstance(raw, list) else f"sweep.{i}"
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise SweepError(f"{where}: {msgs}") from None
    names = [s.name for s in out]
    if len(out) > 1 and (None in names or len(set(names)) != len(names)):
        raise SweepError(f"several sweeps need distinct `name`s (the arm name prefixes), got {names}")
    return out


def suite_fields(data: Any) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    return {k: getattr(data, k, None) for k in ("token_budget", "train_tokens", "tokenizer_vocab", "eval", "preset")}


def sweep_points(data: Any, trained_only: bool = False) -> list[SweepPoint]:
    """Every point of every sweep of a suite (a dict or a tasks.suite.Suite); with
    `trained_only`, not those of a `merge:` sweep (scored by merging; flows/sweep.py trains
    the few it picks)."""
    fields = suite_fields(data)
    return [p for s in sweeps_of(data) if not (trained_only and s.merge) for p in expand(s, fields)]


def _dump(arm: Any) -> dict[str, Any]:
    if isinstance(arm, Recipe):
        return arm.model_dump()
    if isinstance(arm, str):
        path = Path(arm) if Path(arm).is_absolute() else PACKAGE_ROOT / arm
        return load_recipe(path).model_dump()
    return Recipe.model_validate(arm).model_dump()


def with_sweep_arms(data: Mapping[str, Any]) -> list[Any]:
    """The suite's arms followed by its sweep points' arms. Idempotent: a point already
    among the arms with the same content (a suite that went through the Prefect form, or
    was dumped and reloaded) is not added twice; a hand-written arm of the same name and
    other content is an error."""
    arms = list(data.get("arms") or [])
    existing: dict[str, Any] = {}
    for a in arms:
        name = a.name if isinstance(a, Recipe) else a.get("name") if isinstance(a, Mapping) else None
        if name:
            existing[name] = a
    for point in sweep_points(data, trained_only=True):
        if point.name in existing:
            if _dump(existing[point.name]) != point.recipe.model_dump():
                raise SweepError(f"sweep arm {point.name!r} has the name of an arm the suite lists with other content")
            continue
        arms.append(point.recipe)
    return arms
