"""Confidence for comparisons of arms: paired bootstrap over eval items and seeds.

Every arm of a suite is evaluated on the same items (the eval config is shared), so
comparisons are *paired*: one bootstrap replicate draws one multiset of items (per task,
stratified) and one multiset of seeds, and applies the same draw to every arm. Item
difficulty, which all arms share, then cancels in every difference instead of being
counted as noise.

Inputs are arrays `values[arm, seed, item]` (NaN where an arm/seed has no score, e.g. a
failed run) with optional per-item `weights` (bytes, for byte-weighted bits per byte; a
weighted mean with weights 1 is the plain mean). A metric over several tasks (e.g. bits
per byte over `[wiki_leads_heldout, news_heldout]`) is the unweighted mean of the
per-task values; items are resampled within each task.

Public API (also used by the proxy-ladder code):

* `bootstrap(tasks, n_boot, seed) -> Boot`: point estimates (arm,) and replicates
  (n_boot, arm) of a metric.
* `paired_bootstrap(a, b, ...) -> PairedDiff`: the difference A - B of two arms with its
  95% interval and P(A better than B).
* `prob_better(a, b, ...) -> float`: P(A better than B) alone.
* `snr(boot) -> float`: signal-to-noise ratio of a metric over a set of arms.
* `summarize(tasks, arms, higher_is_better, ...) -> MetricSummary`: per-arm means with
  95% intervals, the pairwise P(row better than column) matrix, ties with the best, SNR.
* `suite_summary(rows, metrics, ...) -> dict[name, MetricSummary]`: the same from a long
  per-item table (arm, seed, task, item, metric, value, weight), as
  `tasks.report.items.suite_items` reads it from the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

N_BOOT = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class TaskScores:
    """One task's per-item scores: values[arm, seed, item]; weights[item] or same shape."""

    values: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=float)
        if v.ndim == 1:
            v = v[None, None, :]
        elif v.ndim == 2:
            v = v[:, None, :]
        if v.ndim != 3:
            raise ValueError(f"values must be (arm, seed, item), got shape {np.shape(self.values)}")
        if v.shape[2] == 0:
            raise ValueError("a task needs at least one item")
        w = np.ones(v.shape[2]) if self.weights is None else np.asarray(self.weights, dtype=float)
        w = np.broadcast_to(w, v.shape).copy()
        if (w < 0).any():
            raise ValueError("weights must be >= 0")
        w[np.isnan(v)] = 0.0
        object.__setattr__(self, "values", np.nan_to_num(v))
        object.__setattr__(self, "weights", w)

    @property
    def shape(self) -> tuple[int, int, int]:
        a, s, i = self.values.shape
        return int(a), int(s), int(i)

    @property
    def w(self) -> np.ndarray:
        """The weights, (arm, seed, item); 0 where a score is missing."""
        assert self.weights is not None  # set by __post_init__
        return self.weights


@dataclass(frozen=True)
class Boot:
    point: np.ndarray  # (arm,) the metric on the observed items and seeds
    replicates: np.ndarray  # (n_boot, arm)

    # A replicate can miss an arm (none of its seeds drawn when a seed failed): NaN, skipped.
    def std(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanstd(self.replicates, axis=0, ddof=1)

    def interval(self, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
        a = (1 - level) / 2
        with np.errstate(invalid="ignore"):
            return np.nanquantile(self.replicates, a, axis=0), np.nanquantile(self.replicates, 1 - a, axis=0)


def _seed_mean(per_seed: np.ndarray, present: np.ndarray, seed_counts: np.ndarray | None) -> np.ndarray:
    """Mean over seeds (last axis) of the seeds an arm has, weighted by resample counts."""
    c = present.astype(float) if seed_counts is None else present * seed_counts
    total = c.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (per_seed * c).sum(axis=-1) / total, np.nan)


def _task_values(t: TaskScores, item_counts: np.ndarray | None) -> np.ndarray:
    """Weighted item mean per (arm, seed); with item_counts (B, item) -> (B, arm, seed)."""
    vw = t.values * t.w
    if item_counts is None:
        num, den = vw.sum(axis=-1), t.w.sum(axis=-1)
    else:
        num = np.einsum("asi,bi->bas", vw, item_counts)
        den = np.einsum("asi,bi->bas", t.w, item_counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def bootstrap(
    tasks: Sequence[TaskScores] | TaskScores, n_boot: int = N_BOOT, seed: int = 0, resample_seeds: bool = True
) -> Boot:
    """Paired bootstrap of a metric that is the mean over `tasks` of each task's weighted
    item mean, averaged over seeds. Items are resampled with replacement within each
    task and (unless `resample_seeds` is off: tasks/report/decide.py models seeds itself)
    seeds with replacement, the same draw for every arm."""
    if isinstance(tasks, TaskScores):
        tasks = [tasks]
    if not tasks:
        raise ValueError("no tasks to bootstrap")
    n_arms, n_seeds = tasks[0].shape[:2]
    for t in tasks:
        if t.shape[:2] != (n_arms, n_seeds):
            raise ValueError(f"every task needs the same arms and seeds: {t.shape[:2]} vs {(n_arms, n_seeds)}")
    rng = np.random.default_rng(seed)
    present = np.asarray(np.stack([(t.w.sum(axis=-1) > 0) for t in tasks]).all(axis=0), dtype=bool)  # (arm, seed)
    seed_counts = (
        rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot) if n_seeds > 1 and resample_seeds else None
    )

    point_parts, rep_parts = [], []
    for t in tasks:
        n_items = t.shape[2]
        counts = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=n_boot).astype(float)
        point_parts.append(_seed_mean(np.nan_to_num(_task_values(t, None)), present, None))
        per_seed = np.nan_to_num(_task_values(t, counts))  # (B, arm, seed)
        sc = None if seed_counts is None else seed_counts[:, None, :]
        rep_parts.append(_seed_mean(per_seed, present[None], sc))
    return Boot(point=np.mean(point_parts, axis=0), replicates=np.mean(rep_parts, axis=0))


@dataclass(frozen=True)
class PairedDiff:
    diff: float  # A - B on the observed data
    lo: float
    hi: float
    prob_a_better: float


def _better(d: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """P(A better) from replicate differences A - B; an exact tie counts one half;
    replicates where either arm is missing (NaN) are left out."""
    s = d if higher_is_better else -d
    ok = ~np.isnan(s)
    n = np.maximum(ok.sum(axis=0), 1)
    return ((s > 0) & ok).sum(axis=0) / n + 0.5 * ((s == 0) & ok).sum(axis=0) / n


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    weights: np.ndarray | None = None,
    higher_is_better: bool = True,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> PairedDiff:
    """Two arms' per-item scores, `(item,)` or `(seed, item)`, on the same items: the
    difference A - B, its percentile interval and P(A better than B)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same items (and seeds): {a.shape} vs {b.shape}")
    boot = bootstrap(TaskScores(np.stack([a, b]), weights), n_boot, seed)
    d = boot.replicates[:, 0] - boot.replicates[:, 1]
    q = (1 - level) / 2
    return PairedDiff(
        diff=float(boot.point[0] - boot.point[1]),
        lo=float(np.nanquantile(d, q)),
        hi=float(np.nanquantile(d, 1 - q)),
        prob_a_better=float(_better(d, higher_is_better)),
    )


def prob_better(a, b, weights=None, higher_is_better: bool = True, n_boot: int = N_BOOT, seed: int = 0) -> float:
    """P(A better than B) under the paired bootstrap (see `paired_bootstrap`)."""
    return paired_bootstrap(a, b, weights, higher_is_better, n_boot, seed).prob_a_better


def prob_matrix(boot: Boot, higher_is_better: bool = True) -> np.ndarray:
    """P[i, j] = P(arm i better than arm j); the diagonal is 0.5."""
    r = boot.replicates
    d = r[:, :, None] - r[:, None, :]
    return _better(d, higher_is_better)


def paired_noise(boot: Boot) -> float:
    """Per-arm noise as comparisons see it: the root mean over pairs of arms of
    var(A - B) / 2 under the paired bootstrap (for independent arms with equal noise
    this is the per-arm standard deviation)."""
    r = boot.replicates
    n = r.shape[1]
    if n < 2:
        return float("nan")
    iu = np.triu_indices(n, 1)
    d = r[:, :, None] - r[:, None, :]
    with np.errstate(invalid="ignore"):
        var = np.nanvar(d, axis=0, ddof=1)[iu] / 2
    return float(np.sqrt(var.mean()))


def snr(boot: Boot) -> float:
    """Signal-to-noise ratio of a metric over a set of arms: the standard deviation of
    the arm means (signal) over `paired_noise` (noise). About 1 when the arms do not
    differ at all; a metric that separates arms reliably has SNR well above 1."""
    finite = boot.point[np.isfinite(boot.point)]
    if finite.size < 2:
        return float("nan")
    noise = paired_noise(boot)
    signal = float(np.std(finite, ddof=1))
    if noise == 0:
        return float("inf") if signal > 0 else float("nan")
    return signal / noise


@dataclass
class MetricSummary:
    name: str
    arms: list[str]
    higher_is_better: bool
    mean: list[float]
    lo: list[float]
    hi: list[float]
    std: list[float]
    p_better: list[list[float]]  # [i][j] = P(arm i better than arm j)
    snr: float
    n_items: dict[str, int]
    n_seeds: int
    best: str | None = None
    ties_with_best: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "higher_is_better": self.higher_is_better,
            "snr": self.snr,
            "n_items": self.n_items,
            "n_seeds": self.n_seeds,
            "best": self.best,
            "ties_with_best": self.ties_with_best,
            "arms": {
                a: {"mean": self.mean[i], "lo": self.lo[i], "hi": self.hi[i], "std": self.std[i]}
                for i, a in enumerate(self.arms)
            },
            "p_better": {a: dict(zip(self.arms, row)) for a, row in zip(self.arms, self.p_better)},
        }


def summarize(
    tasks: Mapping[str, TaskScores],
    arms: Sequence[str],
    higher_is_better: bool,
    name: str = "metric",
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> MetricSummary:
    """Per-arm means with `level` intervals, P(i better than j), SNR, and the arms tied
    with the best: those whose paired `level` interval of the difference to the best
    contains 0."""
    boot = bootstrap(list(tasks.values()), n_boot, seed)
    lo, hi = boot.interval(level)
    p = prob_matrix(boot, higher_is_better)
    point = boot.point
    ok = np.isfinite(point)
    best = ties = None
    if ok.any():
        i_best = int(np.nanargmax(point) if higher_is_better else np.nanargmin(point))
        best = arms[i_best]
        q = (1 - level) / 2
        ties = []
        for j in range(len(arms)):
            if j == i_best or not ok[j]:
                continue
            d = boot.replicates[:, i_best] - boot.replicates[:, j]
            if np.nanquantile(d, q) <= 0 <= np.nanquantile(d, 1 - q):
                ties.append(arms[j])
    first = next(iter(tasks.values()))
    return MetricSummary(
        name=name,
        arms=list(arms),
        higher_is_better=higher_is_better,
        mean=[float(x) for x in point],
        lo=[float(x) for x in lo],
        hi=[float(x) for x in hi],
        std=[float(x) for x in boot.std()],
        p_better=[[float(x) for x in row] for row in p],
        snr=snr(boot),
        n_items={t: int(s.shape[2]) for t, s in tasks.items()},
        n_seeds=int(first.shape[1]),
        best=best,
        ties_with_best=ties or [],
    )


# ---------------------------------------------------------------- from a long item table


@dataclass(frozen=True)
class MetricDef:
    """A metric over a suite: a per-item metric family (`prob`, `bpb`, `acc`) on the
    unweighted mean of `tasks`."""

    family: str
    tasks: tuple[str, ...]
    higher_is_better: bool


def task_arrays(
    rows: Iterable[Mapping[str, Any]], family: str, task: str, arms: Sequence[str], seeds: Sequence[int]
) -> TaskScores | None:
    """values[arm, seed, item] of one metric family and task from long rows; items are
    the union over arms (a missing score is NaN and carries no weight)."""
    cells: dict[tuple[str, int, str], tuple[float, float]] = {}
    items: dict[str, int] = {}
    for r in rows:
        if r["metric"] != family or r["task"] != task:
            continue
        item = str(r["item"])
        items.setdefault(item, len(items))
        w = r.get("weight")
        cells[(r["arm"], int(r["seed"]), item)] = (float(r["value"]), 1.0 if w is None else float(w))
    if not items:
        return None
    a_ix = {a: i for i, a in enumerate(arms)}
    s_ix = {s: i for i, s in enumerate(seeds)}
    values = np.full((len(arms), len(seeds), len(items)), np.nan)
    weights = np.zeros_like(values)
    for (arm, s, item), (v, w) in cells.items():
        if arm in a_ix and s in s_ix:
            values[a_ix[arm], s_ix[s], items[item]] = v
            weights[a_ix[arm], s_ix[s], items[item]] = w
    return TaskScores(values, weights)


def suite_summary(
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, MetricDef],
    arms: Sequence[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, MetricSummary]:
    """Per-item rows (arm, seed, task, item, metric, value, weight) -> one MetricSummary
    per named metric (tasks without rows are left out of that metric; a metric with no
    task left is skipped)."""
    rows = list(rows)
    arms = list(arms) if arms is not None else sorted({r["arm"] for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    by_key: dict[tuple[str, str], list] = {}
    for r in rows:
        by_key.setdefault((r["metric"], r["task"]), []).append(r)
    out = {}
    for name, m in metrics.items():
        tasks = {}
        for t in m.tasks:
            ts = task_arrays(by_key.get((m.family, t), []), m.family, t, arms, seeds)
            if ts is not None:
                tasks[t] = ts
        if tasks:
            out[name] = summarize(tasks, arms, m.higher_is_better, name, n_boot, seed, level)
    return out
