"""One ladder rung's numbers from the catalog's rows (`rung_scores`): per metric and seed
per arm, the suite's decision metric computed from the per-item scores (any decision
form: one or several texts, `benchmarks`, `lm`, `acc/<task>`), the reference rung's
P(A better than B), and the arms that failed."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.report.ladder_accuracy import is_finite
from tasks.report.stats import N_BOOT, MetricDef, suite_summary, task_arrays

if TYPE_CHECKING:
    from tasks.report.model import Decision


# Arm numbers that describe the data or the run, not a score to rank arms by.
NOT_SCORES = {
    "documents",
    "est_tokens",
    "unique_tokens",
    "pool_tokens",
    "kl_reduction",
    "filter_removed",
    "dedup_removed",
    "train_loss",  # each arm's loss on its own data: not comparable across arms
    "train_tokens",
    "tokens",
    "epochs",
}


def is_score(metric: str) -> bool:
    return metric not in NOT_SCORES and not metric.startswith("funnel/")


# Metric heads of the catalog (arm_metrics) -> per-item family of eval_items; the order of
# arms by acc_centered/<task> is the order by acc (centering is the same affine map for
# every arm on one task's items).
ITEM_FAMILY = {"bpb": "bpb", "prob": "prob", "acc": "acc", "acc_centered": "acc"}
HIGHER_IS_BETTER = {"bpb": False, "prob": True, "acc": True}

# The decision metric from the catalog's per-seed numbers when a rung has no per-item scores
# (evaluations from before they were kept): as tasks/report/model.py's fallback.
FALLBACK_PREFIX = {"acc": "acc_centered"}


def item_defs(
    metrics: Iterable[str], items: Sequence[Mapping[str, Any]], decision: Decision | None = None
) -> dict[str, MetricDef]:
    """The item-level definition (tasks/report/stats.py MetricDef) of every metric that has
    one: the decision metric, `bpb/<task>`, `prob/<task>`, `acc/<task>`,
    `acc_centered/<task>` (ordered as acc) and `bpb_mean` (the mean over the held-out
    texts). None for `acc_centered_mean` (a mean of per-task centred values, not of items)."""
    from tasks.evaluate.eval_data import LM_TEXTS

    present = {(r["metric"], r["task"]) for r in items}
    out: dict[str, MetricDef] = {}
    if decision is not None:
        out[decision.name] = MetricDef(decision.metric, tuple(decision.tasks), decision.higher_is_better)
    for m in metrics:
        if m in out:
            continue
        if m == "bpb_mean":
            texts = tuple(t for t in LM_TEXTS if ("bpb", t) in present)
            if texts:
                out[m] = MetricDef("bpb", texts, False)
            continue
        head, _, task = m.partition("/")
        family = ITEM_FAMILY.get(head)
        if family is not None and (family, task) in present:
            out[m] = MetricDef(family, (task,), HIGHER_IS_BETTER[family])
    return out


def item_values(items: Sequence[Mapping[str, Any]], metric: MetricDef) -> dict[int, dict[str, float]]:
    """seed -> arm -> the metric from per-item rows (arm, seed, task, item, metric, value,
    weight): each task's weighted item mean, averaged over the metric's tasks (unweighted).
    Tasks without rows are left out; an arm and seed missing one of the others has no value.
    The mean over seeds of these is the paired bootstrap's point estimate (stats.bootstrap)."""
    rows = [r for r in items if r["metric"] == metric.family and r["task"] in metric.tasks]
    arms = sorted({r["arm"] for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    per_task = []
    for task in metric.tasks:
        ts = task_arrays([r for r in rows if r["task"] == task], metric.family, task, arms, seeds)
        if ts is None:
            continue
        num, den = (ts.values * ts.w).sum(axis=-1), ts.w.sum(axis=-1)
        per_task.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))
    if not per_task:
        return {}
    v = np.mean(per_task, axis=0)  # (arm, seed); NaN where any task is missing
    return {s: {a: float(v[i, j]) for i, a in enumerate(arms) if np.isfinite(v[i, j])} for j, s in enumerate(seeds)}


@dataclass
class RungScores:
    """One rung's numbers, as the ladder compares them."""

    means: dict[str, dict[str, float]]  # metric -> arm -> mean over the arm's completed seeds
    per_seed: dict[str, dict[int, dict[str, float]]]  # metric -> seed -> arm -> value
    p_better: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # metric -> A -> B -> P(A>B)
    failed_arms: list[dict[str, Any]] = field(default_factory=list)  # arm, seed, error: left out of every score
    decision_source: str | None = None  # "per-item scores", "catalog means" or None (no value at this rung)


def _means(per_seed: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    vals: dict[str, list[float]] = defaultdict(list)
    for by_arm in per_seed.values():
        for a, v in by_arm.items():
            if is_finite(v):
                vals[a].append(float(v))
    return {a: sum(v) / len(v) for a, v in vals.items()}


def rung_scores(
    seed_rows: Iterable[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]] = (),
    decision: Decision | None = None,
    runs: Iterable[Mapping[str, Any]] = (),
    arms: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    reference: bool = False,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> RungScores:
    """One rung from the catalog's rows of its suite (`<suite>.<preset>`):

    - `seed_rows` (arm, seed, metric, value) and `items` (sql/catalog/suite_items.sql) of
      its *completed* arm runs; `runs` (arm, seed, status, error) of all of them;
    - `arms` x `seeds`: the runs the rung's suite asked for. Rows of other arms (left over
      from an earlier suite of that name) are ignored; an asked-for run that did not complete
      is a failed arm (its error, or "no run recorded"), and has no value.

    The decision metric is computed from the per-item scores (any `metric/on` form), or,
    without them, from the catalog's per-task numbers. With `reference`, P(A better than B)
    of every metric with item-level scores, from the paired bootstrap over items and seeds
    (the weights of the weighted decision accuracy)."""
    keep = set(arms) if arms is not None else None
    per_seed: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in seed_rows:
        if (keep is None or r["arm"] in keep) and is_score(r["metric"]) and is_finite(r["value"]):
            per_seed[r["metric"]][int(r["seed"])][r["arm"]] = float(r["value"])
    items = [r for r in items if keep is None or r["arm"] in keep]
    out = RungScores(means={}, per_seed={m: dict(v) for m, v in per_seed.items()})

    if decision is not None:
        mdef = item_defs([], items, decision)[decision.name]
        from_items = item_values(items, mdef)
        if any(from_items.values()):
            out.per_seed[decision.name], out.decision_source = from_items, "per-item scores"
        else:
            fallback = _fallback_per_seed(out.per_seed, decision)
            out.per_seed.pop(decision.name, None)
            if fallback:
                out.per_seed[decision.name], out.decision_source = fallback, "catalog means"
    out.means = {m: _means(v) for m, v in out.per_seed.items()}

    completed = set()
    for r in runs:
        if keep is not None and r["arm"] not in keep:
            continue
        if r["status"] == "completed":
            completed.add((r["arm"], int(r["seed"])))
        else:
            out.failed_arms.append({"arm": r["arm"], "seed": int(r["seed"]), "error": r.get("error") or r["status"]})
    if arms is not None and seeds is not None:
        recorded = completed | {(f["arm"], f["seed"]) for f in out.failed_arms}
        for a in arms:
            for s in seeds:
                if (a, int(s)) not in recorded:
                    out.failed_arms.append({"arm": a, "seed": int(s), "error": "no run recorded"})
    out.failed_arms.sort(key=lambda f: (f["arm"], f["seed"]))

    if reference and items:
        defs = item_defs(out.means, items, decision)
        item_arms = sorted({r["arm"] for r in items})
        for name, summary in suite_summary(items, defs, arms=item_arms, n_boot=n_boot, seed=seed).items():
            ok = [i for i, m in enumerate(summary.mean) if math.isfinite(m)]
            out.p_better[name] = {
                summary.arms[i]: {summary.arms[j]: summary.p_better[i][j] for j in ok if j != i} for i in ok
            }
    return out


def _fallback_per_seed(
    per_seed: Mapping[str, Mapping[int, Mapping[str, float]]], decision: Decision
) -> dict[int, dict[str, float]]:
    """The decision metric per seed and arm as the unweighted mean of the catalog's
    `<family>/<task>` numbers (acc: acc_centered) over the decision's tasks this rung has."""
    prefix = FALLBACK_PREFIX.get(decision.metric, decision.metric)
    tasks = [t for t in decision.tasks if f"{prefix}/{t}" in per_seed]
    out: dict[int, dict[str, float]] = defaultdict(dict)
    if not tasks:
        return {}
    seeds = {s for t in tasks for s in per_seed[f"{prefix}/{t}"]}
    for s in seeds:
        arms = set.intersection(*(set(per_seed[f"{prefix}/{t}"].get(s, {})) for t in tasks))
        for a in arms:
            out[s][a] = sum(per_seed[f"{prefix}/{t}"][s][a] for t in tasks) / len(tasks)
    return dict(out)
