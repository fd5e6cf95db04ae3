"""A suite's `ablate:` section: one recipe expanded into the arms that measure what each
of its components does to the model (docs/attribution.md).

    ablate:
      recipe: hdf                 # an arm of the suite, else recipes/<name>.yaml, else a path
      over: [filters, dedup, selection]   # component kinds, or component names
      mode: leave_one_out         # or add_one
      name: hdf                   # prefix of the generated arm names (default: the recipe's name)

A component is a filter family (`gopher_repetition`; a raw SQL filter by its label), a
single rule of one (`fineweb.line_punct_ratio`, kind `rules`), a dedup mode
(`dedup.minhash`) or the selection step (`selection`). `over` lists kinds (every component
of that kind in the recipe) or component names.

- leave_one_out: the full recipe and, per component, the recipe without it
  (`hdf-gopher_repetition`, `hdf-dedup.minhash`, `hdf-selection`);
- add_one: the full recipe, the baseline (the recipe without every listed component:
  `hdf.base`) and, per component, the baseline with it alone (`hdf.base+fineweb`).

A rule is switched off through its filter's `skip` list; a filter whose rules are all
skipped is dropped. Without the selection step the suite's token budget cuts the pool in
the budget's seeded order, so every arm stays token-matched. The arms are ordinary arms of
the suite: the suite's budget, model, seeds and decision apply to them as to any other.

The section itself is tasks/attribution/spec.py; this module imports the recipe, the specs
and, inside functions, the filter files (tasks/suite.py imports it for an `ablate:` section).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tasks.attribution.spec import KINDS, AblateError, AblateSpec
from tasks.core.paths import PACKAGE_ROOT
from tasks.core.spec import RecipeError
from tasks.recipe import Recipe, load_recipe
from tasks.selection.spec import SelectionSpec


@dataclass(frozen=True)
class Component:
    """One removable part of a recipe."""

    name: str  # gopher_repetition, fineweb.line_punct_ratio, dedup.minhash, selection
    kind: str  # filter | rule | dedup | selection
    index: int | None = None  # position in recipe.filters (filter, rule)
    rule: str | None = None  # the rule's name within its filter (named filters)
    family: str | None = None  # the filter component a rule belongs to

    def related(self, other: Component) -> bool:
        """A filter family and one of its own rules: removing one changes the other."""
        return self.index is not None and self.index == other.index and self.kind != other.kind


@dataclass(frozen=True)
class ComponentArm:
    """A component with the arm that measures it and the arm it is compared with."""

    component: str
    kind: str
    arm: str  # leave_one_out: the recipe without it; add_one: the baseline with it alone
    reference: str  # leave_one_out: the full recipe; add_one: the baseline
    step: str  # what `python -m flows.inspect --step` takes for its exclusion samples
    family: str | None = None


@dataclass
class AblationDesign:
    """The expansion of `ablate:`: what the report compares (stored in the catalog)."""

    full: str
    mode: str
    components: list[ComponentArm]
    baseline: str | None = None
    rules: list[str] = field(default_factory=list)  # every rule of the full recipe (for slices)
    topics: dict[str, Any] | None = None  # the slices' k-means topics (TopicsSpec as a dict)
    p_target: float = 0.95  # the suite's `decide.p`: what separates an effect from zero

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AblationDesign:
        return cls(
            full=d["full"],
            mode=d["mode"],
            components=[ComponentArm(**c) for c in d["components"]],
            baseline=d.get("baseline"),
            rules=list(d.get("rules") or []),
            topics=d.get("topics"),
            p_target=float(d.get("p_target") or 0.95),
        )

    def references(self) -> dict[str, str]:
        """Generated arm -> the arm its dataset is compared with (reused when identical)."""
        out = {c.arm: c.reference for c in self.components if c.arm != c.reference}
        if self.baseline is not None:
            out.setdefault(self.baseline, self.full)
        return out


# ---------------------------------------------------------------- components


def _filter_label(recipe: Recipe, i: int) -> str:
    """A filter entry's component name: the named filter, or a raw SQL filter's label
    (`sql_<k>` when unlabelled, as tasks/signals/filters.py names its rule)."""
    spec = recipe.filters[i]
    if not spec.sql:
        assert spec.name is not None
        return spec.name
    k = sum(1 for f in recipe.filters[: i + 1] if f.sql)
    return spec.name or f"sql_{k}"


def active_rules(recipe: Recipe, i: int) -> list[str]:
    """Names of the rules filter entry `i` applies (not skipped, no threshold set to null)."""
    from tasks.signals.filters import named_filter_rules

    spec = recipe.filters[i]
    if spec.sql:
        return [_filter_label(recipe, i)]
    return [r.name for r in named_filter_rules(spec)]


def components_of(recipe: Recipe) -> dict[str, list[Component]]:
    """Every component of the recipe, by kind, in the recipe's order."""
    out: dict[str, list[Component]] = {k: [] for k in KINDS}
    for i, spec in enumerate(recipe.filters):
        family = _filter_label(recipe, i)
        out["filters"].append(Component(family, "filter", index=i))
        if spec.sql:
            out["rules"].append(Component(f"sql.{family}", "rule", index=i, family=family))
        else:
            for rule in active_rules(recipe, i):
                out["rules"].append(Component(f"{family}.{rule}", "rule", index=i, rule=rule, family=family))
    for mode in recipe.dedup.modes():
        out["dedup"].append(Component(f"dedup.{mode}", "dedup"))
    if recipe.selection.method != "none":
        out["selection"].append(Component("selection", "selection"))
    return out


def rule_keys(recipe: Recipe) -> list[str]:
    """Every rule of the recipe as the curate step names it (`<filter>.<rule>`, `sql.<label>`)."""
    from tasks.signals.filters import resolve_rules

    return [r.key for r in resolve_rules(recipe.filters)]


def select_components(recipe: Recipe, over: Sequence[str]) -> list[Component]:
    """The components `over` names (kinds or names), in the recipe's order, without a
    rule that would duplicate its own single-rule family."""
    by_kind = components_of(recipe)
    every = [c for k in KINDS for c in by_kind[k]]
    names = {c.name: c for c in every}
    chosen: list[Component] = []
    for item in over:
        if item in KINDS:
            chosen += by_kind[item]
        elif item in names:
            chosen.append(names[item])
        else:
            raise AblateError(
                f"ablate.over: {item!r} is neither a kind ({', '.join(KINDS)}) nor a component of recipe "
                f"{recipe.name!r} (components: {', '.join(names) or 'none'})"
            )
    seen: set[str] = set()
    out = []
    families = {c.index for c in chosen if c.kind == "filter"}
    for c in every:  # the recipe's order, each once
        if c not in chosen or c.name in seen:
            continue
        if c.kind == "rule" and c.index in families and len(active_rules(recipe, c.index or 0)) == 1:
            continue  # the same arm as its family's
        seen.add(c.name)
        out.append(c)
    if not out:
        raise AblateError(f"ablate: recipe {recipe.name!r} has no {'/'.join(over)} to ablate")
    return out


def without(recipe: Recipe, removed: Sequence[Component], name: str, description: str) -> Recipe:
    """The recipe with the components removed, renamed."""
    data = copy.deepcopy(recipe.model_dump())
    drop: set[int] = set()
    skips: dict[int, set[str]] = {}
    for c in removed:
        if c.kind == "filter" or (c.kind == "rule" and c.rule is None):  # a raw SQL filter is its one rule
            assert c.index is not None
            drop.add(c.index)
        elif c.kind == "rule":
            assert c.index is not None and c.rule is not None
            skips.setdefault(c.index, set()).add(c.rule)
        elif c.kind == "dedup":
            data["dedup"][c.name.split(".", 1)[1]] = None
        elif c.kind == "selection":
            data["selection"] = SelectionSpec().model_dump()
    for i, rules in skips.items():
        active = active_rules(recipe, i)
        if set(active) <= rules:
            drop.add(i)  # every rule off: the filter is gone
        else:
            spec = data["filters"][i]
            off = set(spec.get("skip") or []) | rules
            order = [r for r, _ in _filter_rules(spec["name"])]
            spec["skip"] = [r for r in order if r in off]
    data["filters"] = [f for i, f in enumerate(data["filters"]) if i not in drop]
    data["name"], data["description"] = name, description
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise AblateError(f"ablate: arm {name}: {msgs}") from None


def _filter_rules(name: str) -> tuple[tuple[str, str], ...]:
    from tasks.signals.filters import load_filter

    return load_filter(name).rules


def alone(recipe: Recipe, every: Sequence[Component], c: Component, name: str, description: str) -> Recipe:
    """The baseline (the recipe without `every`) with `c` alone put back."""
    removed = [x for x in every if x != c and not x.related(c)]
    family_ablated = any(x.kind == "filter" and x.index == c.index for x in every)
    if c.kind == "rule" and c.rule is not None and family_ablated:  # the family comes back with only this rule
        assert c.index is not None
        removed += [
            Component(f"{c.family}.{r}", "rule", index=c.index, rule=r, family=c.family)
            for r in active_rules(recipe, c.index)
            if r != c.rule
        ]
    return without(recipe, removed, name, description)


def expand(spec: AblateSpec, full: Recipe) -> tuple[AblationDesign, list[Recipe]]:
    """The design and the generated arms (the full recipe not included)."""
    prefix = spec.name or full.name
    comps = select_components(full, spec.over)
    arms: list[Recipe] = []
    out: list[ComponentArm] = []
    baseline = None
    if spec.mode == "leave_one_out":
        for c in comps:
            arm = without(full, [c], f"{prefix}-{c.name}", f"{full.name} without {c.name} (generated: ablate)")
            arms.append(arm)
            out.append(ComponentArm(c.name, c.kind, arm.name, full.name, _exclusion_step(full, c), c.family))
    else:
        base = without(full, comps, f"{prefix}.base", f"{full.name} without {', '.join(c.name for c in comps)}")
        baseline = base.name
        arms.append(base)
        for c in comps:
            arm = alone(full, comps, c, f"{prefix}.base+{c.name}", f"{base.name} with {c.name} (generated: ablate)")
            arms.append(arm)
            out.append(ComponentArm(c.name, c.kind, arm.name, base.name, _exclusion_step(full, c), c.family))
    topics = spec.topics.model_dump() if spec.topics is not None else None
    return AblationDesign(full.name, spec.mode, out, baseline, rule_keys(full), topics), arms


def _exclusion_step(recipe: Recipe, c: Component) -> str:
    """The `--step` of flows.inspect for the component's exclusion samples: a named
    filter, `<filter>.<rule>`, `sql.<label>` (a raw SQL filter's reason), `dedup.<mode>`
    or `selection`."""
    if c.kind == "filter" and c.index is not None and recipe.filters[c.index].sql:
        return f"sql.{c.name}"
    return c.name


# ---------------------------------------------------------------- the suite


def _arm_named(arms: Sequence[Any], name: str) -> Recipe | None:
    for a in arms:
        if isinstance(a, Recipe) and a.name == name:
            return a
        if isinstance(a, Mapping) and a.get("name") == name:
            return Recipe.model_validate(a)
        if isinstance(a, str):
            path = Path(a) if Path(a).is_absolute() else PACKAGE_ROOT / a
            r = load_recipe(path)
            if r.name == name:
                return r
    return None


def full_recipe(spec: AblateSpec, arms: Sequence[Any]) -> tuple[Recipe, bool]:
    """The recipe to ablate and whether the suite already lists it as an arm."""
    found = _arm_named(arms, spec.recipe)
    if found is not None:
        return found, True
    for path in (PACKAGE_ROOT / "recipes" / f"{spec.recipe}.yaml", Path(spec.recipe), PACKAGE_ROOT / spec.recipe):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            try:
                recipe = load_recipe(path)
            except RecipeError as exc:
                raise AblateError(f"ablate.recipe: {exc}") from None
            if spec.name:
                recipe = recipe.model_copy(update={"name": spec.name})
            return recipe, False
    raise AblateError(
        f"ablate.recipe: {spec.recipe!r} is neither an arm of the suite nor a recipe (recipes/{spec.recipe}.yaml)"
    )


def ablation_of(data: Any) -> tuple[AblationDesign, list[Recipe]] | None:
    """The design and every arm it needs (the full recipe first) of a suite (a dict or a
    tasks.suite.Suite); None without `ablate:`."""
    raw = data.get("ablate") if isinstance(data, Mapping) else getattr(data, "ablate", None)
    if not raw:
        return None
    try:
        spec = raw if isinstance(raw, AblateSpec) else AblateSpec.model_validate(raw)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise AblateError(f"ablate: {msgs}") from None
    arms = (data.get("arms") if isinstance(data, Mapping) else getattr(data, "arms", None)) or []
    full, _ = full_recipe(spec, arms)
    design, generated = expand(spec, full)
    return design, [full, *generated]


def with_ablation_arms(data: Mapping[str, Any]) -> list[Any]:
    """The suite's arms followed by the arms `ablate:` needs. Idempotent: an arm already
    listed with the same content (a suite that went through the Prefect form) is not added
    twice; a listed arm of the same name and other content is an error."""
    found = ablation_of(data)
    arms = list(data.get("arms") or [])
    if found is None:
        return arms
    existing: dict[str, Any] = {}
    for a in arms:
        if isinstance(a, str):
            a = load_recipe(Path(a) if Path(a).is_absolute() else PACKAGE_ROOT / a)
        name = a.name if isinstance(a, Recipe) else a.get("name") if isinstance(a, Mapping) else None
        if name:
            existing[name] = a
    for recipe in found[1]:
        if recipe.name in existing:
            other = existing[recipe.name]
            other_dump = other.model_dump() if isinstance(other, Recipe) else Recipe.model_validate(other).model_dump()
            if other_dump != recipe.model_dump():
                raise AblateError(
                    f"ablate arm {recipe.name!r} has the name of an arm the suite lists with other content"
                )
            continue
        arms.append(recipe)
    return arms
