"""Decisions that include training noise: intervals, P(A>B), ranks and a verdict.

At proxy scale the order of two arms moves more with the training run (init, data order,
the sampled subset) than with the eval items, so an interval over items alone is far too
narrow (docs/decisions.md, "Calibration"). This module combines three noise sources:

* **seeds**: the spread of an arm's run values over its seeds, pooled over arms
  (`sigma_T^2`, with `sum(n_a - 1)` degrees of freedom);
* **checkpoints**: the spread of one run's metric over its last evaluation snapshots
  (tasks/evaluate/snapshots.py). It is an estimate of training noise that costs no extra
  training, but it misses what a new seed changes (init, order, sample), so it enters as
  a prior: `CKPT_INFLATION x` the mean checkpoint variance, worth `PRIOR_DF` degrees of
  freedom, combined with the seed variance as a scaled-inverse-chi^2 posterior;
* **items**: the paired bootstrap over eval items (tasks/report/stats.py), one draw for
  every arm, so shared item difficulty cancels.

A run's value is the mean over its snapshots when it has them (checkpoint averaging, as
"Signal and Noise", Heineman et al. 2025, recommend) and its final score otherwise.

One replicate draws a training variance `s2 ~ sigma_T^2 * df / chi2(df)`, then for every
arm `mean_a + item_dev[b, a] + N(0, s2 / n_a)`, where `item_dev` is the arm's deviation in
item-bootstrap replicate b. P(A better than B), P(rank 1), the rank interval and the
interval of every difference are fractions and quantiles of these replicates; marginally
each difference is a Student-t with the pooled degrees of freedom, plus item noise.

The verdict: the leader (best mean) against every other arm, one-sided, Holm-adjusted.
The leader is decided when every adjusted P(other at least as good) is at most
`1 - p`; the plausible-best set is the leader and every arm it is not separated from.
With no training-noise estimate at all (one seed, no snapshots) every comparison is
"undecided", whatever the items say.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.report.stats import TaskScores, bootstrap

N_REP = 4000
LEVEL = 0.95
# Checkpoint spread understates seed spread (the last snapshots share init, data order and
# sample): seed variance / snapshot variance was 39 over 8 seeds of the default suite's
# `no_filter` arm at nano (bench/decision_calibration.py, docs/decisions.md "Calibration").
CKPT_INFLATION = 40.0
# How much the checkpoint-based prior weighs against seed replicates, in degrees of freedom.
PRIOR_DF = 4.0


def fmt_p(p: float) -> str:
    """A probability as the verdict prints it: never 1.000 or 0.000."""
    if not np.isfinite(p):
        return "–"
    if p > 0.999:
        return "> 0.999"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"


@dataclass(frozen=True)
class RunTable:
    """Per arm and seed: the run value, its checkpoint variance and snapshot count."""

    arms: list[str]
    seeds: list[int]
    value: np.ndarray  # (arm, seed) run value; NaN where the run is missing
    ckpt_var: np.ndarray  # (arm, seed) variance over the run's snapshots; NaN without >= 2
    n_ckpt: np.ndarray  # (arm, seed) snapshots scored


@dataclass(frozen=True)
class TrainingNoise:
    """The training variance of one run's value, and where it comes from."""

    var: float  # NaN when there is no estimate
    df: float
    seed_var: float  # pooled over arms; NaN without replicate seeds
    seed_df: int
    ckpt_var: float  # mean over runs of the snapshot variance (of one snapshot); NaN without
    ckpt_df: int
    source: str  # "seeds+checkpoints", "seeds", "checkpoints", "none"

    @property
    def known(self) -> bool:
        return bool(np.isfinite(self.var) and self.df > 0)


def training_noise(runs: RunTable, inflation: float = CKPT_INFLATION, prior_df: float = PRIOR_DF) -> TrainingNoise:
    """Pooled training variance of a run value (see the module docstring)."""
    v = runs.value
    ss, df = 0.0, 0
    for a in range(v.shape[0]):
        x = v[a][np.isfinite(v[a])]
        if x.size >= 2:
            ss += float(((x - x.mean()) ** 2).sum())
            df += x.size - 1
    seed_var = ss / df if df else float("nan")
    ok = np.isfinite(runs.ckpt_var) & (runs.n_ckpt >= 2) & np.isfinite(v)
    ckpt_var = float(runs.ckpt_var[ok].mean()) if ok.any() else float("nan")
    ckpt_df = int((runs.n_ckpt[ok] - 1).sum()) if ok.any() else 0
    if np.isfinite(ckpt_var):
        # The prior is on the variance of a single snapshot's value across seeds. A run value
        # averaged over snapshots keeps most of it (snapshots of one run are close to one
        # another), so no division by the snapshot count.
        prior = inflation * ckpt_var
        if df:
            var = (prior_df * prior + df * seed_var) / (prior_df + df)
            return TrainingNoise(var, prior_df + df, seed_var, df, ckpt_var, ckpt_df, "seeds+checkpoints")
        return TrainingNoise(prior, prior_df, seed_var, df, ckpt_var, ckpt_df, "checkpoints")
    if df:
        return TrainingNoise(seed_var, float(df), seed_var, df, ckpt_var, ckpt_df, "seeds")
    return TrainingNoise(float("nan"), 0.0, seed_var, df, ckpt_var, ckpt_df, "none")


@dataclass
class Decision:
    """Every comparison of one metric over a suite's arms, training noise included."""

    metric: str
    arms: list[str]
    higher_is_better: bool
    mean: list[float]  # per arm: mean over seeds of the run values (checkpoint-averaged)
    lo: list[float]  # 95% interval of the arm's value (items + training noise)
    hi: list[float]
    n_seeds: list[int]
    n_ckpt: list[float]  # mean snapshots per run
    p_better: list[list[float]]  # [i][j] = P(arm i better than arm j)
    p_rank1: list[float]
    rank_lo: list[int]
    rank_hi: list[int]
    noise: TrainingNoise
    leader: str | None
    plausible_best: list[str]
    holm_p: dict[str, float]  # arm -> Holm-adjusted P(arm at least as good as the leader)
    decided: bool
    p_target: float
    failed: list[str] = field(default_factory=list)
    contract_failed: list[str] = field(default_factory=list)
    snr: float = float("nan")  # relative dispersion over relative training noise
    reason: str = ""

    def index(self, arm: str) -> int:
        return self.arms.index(arm)

    def diff_interval(self, a: str, b: str) -> tuple[float, float, float]:
        """Mean difference A - B and its 95% interval (from the stored replicates)."""
        i, j = self.index(a), self.index(b)
        d = self._reps[:, i] - self._reps[:, j]
        q = (1 - LEVEL) / 2
        return float(self.mean[i] - self.mean[j]), float(np.nanquantile(d, q)), float(np.nanquantile(d, 1 - q))

    _reps: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    def replicates(self, arm: str) -> np.ndarray:
        """The arm's value in every replicate (item and training noise drawn together for
        every arm, so differences of two arms' replicates are paired); NaN without a score."""
        return self._reps[:, self.index(arm)]

    def verdict(self) -> str:
        """One line: decided, or undecided and why."""
        tail = ""
        if self.failed:
            tail += " " + " ".join(f"No verdict against `{a}`: it failed." for a in self.failed)
        if self.contract_failed:
            tail += " Token contract failed for " + ", ".join(f"`{a}`" for a in self.contract_failed) + "."
        if self.leader is None:
            return ("Undecided: no arm has a score." + tail).strip()
        if not self.noise.known:
            return (
                f"Undecided: one seed per arm and no checkpoint snapshots, so training noise is unknown "
                f"(`{self.leader}` leads on eval items alone; add seeds)." + tail
            )
        if len(self.plausible_best) == 1 and not self.decided:
            return f"Undecided: only `{self.leader}` has a score, nothing to compare it with." + tail
        i = self.index(self.leader)
        if self.decided:
            others = [a for a in self.arms if a != self.leader and np.isfinite(self.mean[self.index(a)])]
            worst = min((self.p_better[i][self.index(a)] for a in others), default=float("nan"))
            return (
                f"`{self.leader}` beats every other arm (P >= {self.p_target:.2f} each, Holm-adjusted; "
                f"smallest P = {fmt_p(worst)})." + tail
            )
        rivals = [a for a in self.plausible_best if a != self.leader]
        ps = ", ".join(f"P({self.leader}>{a}) = {fmt_p(self.p_better[i][self.index(a)])}" for a in rivals)
        why = f" {self.reason}" if self.reason else ""
        return f"Undecided among {', '.join(self.plausible_best)} ({ps}).{why}" + tail

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "verdict": self.verdict(),
            "decided": self.decided,
            "leader": self.leader,
            "plausible_best": self.plausible_best,
            "p_target": self.p_target,
            "failed": self.failed,
            "contract_failed": self.contract_failed,
            "snr": self.snr,
            "training_noise": {
                "var": self.noise.var,
                "df": self.noise.df,
                "source": self.noise.source,
                "seed_var": self.noise.seed_var,
                "seed_df": self.noise.seed_df,
                "checkpoint_var": self.noise.ckpt_var,
                "checkpoint_df": self.noise.ckpt_df,
            },
            "arms": {
                a: {
                    "mean": self.mean[i],
                    "lo": self.lo[i],
                    "hi": self.hi[i],
                    "n_seeds": self.n_seeds[i],
                    "n_checkpoints": self.n_ckpt[i],
                    "p_rank1": self.p_rank1[i],
                    "rank_interval": [self.rank_lo[i], self.rank_hi[i]],
                    "holm_p_vs_leader": self.holm_p.get(a),
                }
                for i, a in enumerate(self.arms)
            },
            "p_better": {a: dict(zip(self.arms, row)) for a, row in zip(self.arms, self.p_better)},
        }


def holm(pvals: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of a family of p-values."""
    order = sorted(pvals, key=lambda k: pvals[k])
    m = len(order)
    out: dict[str, float] = {}
    running = 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvals[k]))
        out[k] = running
    return out


def decide(
    metric: str,
    tasks: Sequence[TaskScores],
    arms: Sequence[str],
    higher_is_better: bool,
    runs: RunTable,
    *,
    p_target: float = LEVEL,
    failed: Sequence[str] = (),
    contract_failed: Sequence[str] = (),
    n_rep: int = N_REP,
    seed: int = 0,
    inflation: float = CKPT_INFLATION,
    prior_df: float = PRIOR_DF,
) -> Decision:
    """The decision over `arms` on one metric. `tasks` are the final models' per-item
    scores (values[arm, seed, item], the runs' seeds in `runs.seeds`) for the item
    bootstrap; `runs` holds each run's value and checkpoint variance."""
    arms = list(arms)
    n = len(arms)
    noise = training_noise(runs, inflation, prior_df)
    present, n_seeds, mean = _run_means(runs)
    ok = np.isfinite(mean)
    reps = _replicates(tasks, mean, n_seeds, noise, n_rep, seed)
    reps[:, ~ok] = np.nan

    sign = 1.0 if higher_is_better else -1.0
    q = (1 - LEVEL) / 2
    lo = np.where(ok, np.nanquantile(np.where(ok, reps, 0), q, axis=0), np.nan)
    hi = np.where(ok, np.nanquantile(np.where(ok, reps, 0), 1 - q, axis=0), np.nan)
    score = sign * reps  # higher is better from here on
    p = _p_better(score, ok)
    p_rank1, rank_lo, rank_hi = _ranks(score, ok, q)
    leader, plausible, adj, decided, reason = _verdict(arms, sign * mean, ok, p, noise, p_target)
    snr = relative_snr(mean[ok], noise)
    return Decision(
        metric=metric,
        arms=arms,
        higher_is_better=higher_is_better,
        mean=[float(x) for x in mean],
        lo=[float(x) for x in lo],
        hi=[float(x) for x in hi],
        n_seeds=[int(x) for x in n_seeds],
        n_ckpt=[float(np.nanmean(np.where(present[i], runs.n_ckpt[i], np.nan))) if ok[i] else 0.0 for i in range(n)],
        p_better=[[float(x) for x in row] for row in p],
        p_rank1=p_rank1,
        rank_lo=rank_lo,
        rank_hi=rank_hi,
        noise=noise,
        leader=leader,
        plausible_best=plausible,
        holm_p=adj,
        decided=decided,
        p_target=p_target,
        failed=list(failed),
        contract_failed=list(contract_failed),
        snr=snr,
        reason=reason,
        _reps=reps,
    )


def _run_means(runs: RunTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which runs have a value, seeds per arm, and each arm's mean over its seeds (NaN
    for an arm with none)."""
    present = np.isfinite(runs.value)
    n_seeds = present.sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.where(
            n_seeds > 0, np.nansum(np.where(present, runs.value, 0), axis=1) / np.maximum(n_seeds, 1), np.nan
        )
    return present, n_seeds, mean


def _replicates(
    tasks: Sequence[TaskScores], mean: np.ndarray, n_seeds: np.ndarray, noise: TrainingNoise, n_rep: int, seed: int
) -> np.ndarray:
    """Replicates [n_rep, arm] of every arm's value: its mean, plus its deviation in one
    item-bootstrap replicate, plus one draw of training noise."""
    rng = np.random.default_rng(seed)
    # item noise: paired bootstrap of the final scores, seeds held fixed (they are the
    # training-noise part, drawn below)
    boot = bootstrap(list(tasks), n_rep, seed, resample_seeds=False)
    item_dev = boot.replicates - boot.point[None, :]
    item_dev = np.where(np.isfinite(item_dev), item_dev, 0.0)
    n = len(mean)
    if noise.known:
        s2 = noise.var * noise.df / rng.chisquare(noise.df, size=n_rep)
        eps = rng.standard_normal((n_rep, n)) * np.sqrt(s2[:, None] / np.maximum(n_seeds, 1)[None, :])
    else:
        eps = np.zeros((n_rep, n))
    return mean[None, :] + item_dev + eps


def _p_better(score: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """P(arm i better than arm j) over the replicates (ties count half; NaN without a score)."""
    n = score.shape[1]
    p = np.full((n, n), 0.5)
    for i in range(n):
        for j in range(n):
            if i != j and ok[i] and ok[j]:
                d = score[:, i] - score[:, j]
                p[i, j] = float((d > 0).mean() + 0.5 * (d == 0).mean())
            elif i != j:
                p[i, j] = float("nan")
    return p


def _ranks(score: np.ndarray, ok: np.ndarray, q: float) -> tuple[list[float], list[int], list[int]]:
    """P(rank 1) and the rank interval of every arm, from its rank per replicate among the
    arms with a score (1 = best)."""
    n_rep, n = score.shape
    valid = np.where(ok)[0]
    ranks = np.full((n_rep, n), np.nan)
    if valid.size:
        order = np.argsort(-score[:, valid], axis=1, kind="stable")
        r = np.empty_like(order)
        np.put_along_axis(r, order, np.arange(1, valid.size + 1)[None, :].repeat(n_rep, 0), axis=1)
        ranks[:, valid] = r
    p_rank1 = [float((ranks[:, i] == 1).mean()) if ok[i] else float("nan") for i in range(n)]
    rank_lo = [int(np.quantile(ranks[:, i], q, method="lower")) if ok[i] else 0 for i in range(n)]
    rank_hi = [int(np.quantile(ranks[:, i], 1 - q, method="higher")) if ok[i] else 0 for i in range(n)]
    return p_rank1, rank_lo, rank_hi


def _verdict(
    arms: list[str], signed_mean: np.ndarray, ok: np.ndarray, p: np.ndarray, noise: TrainingNoise, p_target: float
) -> tuple[str | None, list[str], dict[str, float], bool, str]:
    """(leader, plausible best, Holm-adjusted P per rival, decided, why undecided): the
    leader is the best mean (`signed_mean`: higher is better)."""
    valid = np.where(ok)[0]
    if not valid.size:
        return None, [], {}, False, ""
    li = int(valid[np.argmax(signed_mean[valid])])
    leader = arms[li]
    if valid.size == 1:
        return leader, [leader], {}, False, "Only one arm has a score."
    # one-sided: P(arm j at least as good as the leader)
    raw = {arms[j]: 1.0 - p[li, j] for j in valid if j != li}
    adj = holm(raw)
    alpha = 1.0 - p_target
    # the leader, then its rivals least separated from it first (raw P: Holm's running
    # maximum ties them)
    rivals = sorted(adj, key=lambda a: (-raw[a], a))
    plausible = [leader] + [a for a in rivals if adj[a] > alpha or not noise.known]
    return leader, plausible, adj, noise.known and len(plausible) == 1, ""


def relative_snr(means: np.ndarray, noise: TrainingNoise) -> float:
    """SNR as "Signal and Noise" (Heineman et al., 2025) define it: relative dispersion of
    the arms (largest pairwise gap over the mean) over relative training noise (the
    standard deviation of one run's value over the same mean). The means cancel."""
    means = means[np.isfinite(means)]
    if means.size < 2 or not noise.known or noise.var <= 0:
        return float("nan")
    return float((means.max() - means.min()) / np.sqrt(noise.var))


def contenders(dec: Decision, max_seeds: int) -> list[str]:
    """Arms that should get another seed: the plausible best (not separated from the
    leader at p) that are below the seed cap. Empty when decided or when every contender
    is at the cap."""
    if dec.decided:
        return []
    # plausible_best is ordered: the leader, then the rivals least separated from it
    return [a for a in dec.plausible_best if dec.n_seeds[dec.index(a)] < max_seeds]


# ---------------------------------------------------------------- from long catalog rows


def run_table(
    item_rows: Sequence[Mapping[str, Any]],
    snapshot_rows: Sequence[Mapping[str, Any]],
    family: str,
    tasks: Sequence[str],
    arms: Sequence[str],
    seeds: Sequence[int],
) -> RunTable:
    """Run values of a metric (family on the unweighted mean of `tasks`) per arm and seed:
    the mean over the run's snapshots when it has them for every task, else its final
    score; and the variance over its snapshots."""
    a_ix = {a: i for i, a in enumerate(arms)}
    s_ix = {s: i for i, s in enumerate(seeds)}
    shape = (len(arms), len(seeds))

    def per_task_means(
        rows: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], int | None]
    ) -> dict[tuple, float]:
        acc: dict[tuple, list[float]] = {}
        for r in rows:
            if r["metric"] != family or r["task"] not in tasks or r["arm"] not in a_ix or int(r["seed"]) not in s_ix:
                continue
            w = 1.0 if r.get("weight") is None else float(r["weight"])
            k = (r["arm"], int(r["seed"]), key(r), r["task"])
            cell = acc.setdefault(k, [0.0, 0.0])
            cell[0] += float(r["value"]) * w
            cell[1] += w
        out: dict[tuple, dict[str, float]] = {}
        for (arm, s, kk, t), (num, den) in acc.items():
            if den > 0:
                out.setdefault((arm, s, kk), {})[t] = num / den
        return {k: float(np.mean(list(v.values()))) for k, v in out.items() if len(v) == len(tasks)}

    final = per_task_means(item_rows, lambda r: None)
    snaps = per_task_means(snapshot_rows, lambda r: int(r["step"]))
    value = np.full(shape, np.nan)
    ckpt_var = np.full(shape, np.nan)
    n_ckpt = np.zeros(shape)
    by_run: dict[tuple[str, int], list[float]] = {}
    for (arm, s, _step), v in sorted(snaps.items()):
        by_run.setdefault((arm, s), []).append(v)
    for (arm, s, _), v in final.items():
        i, j = a_ix[arm], s_ix[s]
        vals = by_run.get((arm, s), [])
        if len(vals) >= 2:
            value[i, j] = float(np.mean(vals))
            ckpt_var[i, j] = float(np.var(vals, ddof=1))
            n_ckpt[i, j] = len(vals)
        else:
            value[i, j] = v
            n_ckpt[i, j] = len(vals)
    return RunTable(list(arms), list(seeds), value, ckpt_var, n_ckpt)
