"""The leaderboard's numbers: one row per arm, ranked by the suite's declared decision
metric, with 95% paired-bootstrap intervals, P(A better than B) for every pair and the
SNR of every metric (`build_report` -> `Report`; tasks/report/render.py writes it out,
tasks/report/plots.py draws it).

Inputs: the catalog's `leaderboard` rows (arm, metric, mean over seeds, std, n_seeds) for
dataset and training numbers, and the per-item eval scores of every arm and seed
(`suite_items`), which tasks/report/stats.py resamples (items within each task, and seeds)
with the same draw for every arm. Ranking: the decision metric's mean; an arm is marked
`~` (tied with the best) when the 95% interval of its paired difference to the best arm
contains 0. Continuous metrics (bits per byte, probability of the correct answer) are shown
for every task; accuracy only for tasks where some arm is above chance by more than its
standard error. Without per-item scores (evaluations from before they were kept) the
board ranks by the catalog means and shows no intervals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.report import decide as D
from tasks.report.stats import N_BOOT, MetricDef, MetricSummary, suite_summary, task_arrays

SUMMARY = ["documents", "tokens", "epochs", "filter_removed", "dedup_removed", "kl_reduction", "train_loss"]
FAMILIES = {"bpb": False, "prob": True, "acc": True}  # higher is better
FAMILY_LABEL = {
    "bpb": "bits per byte",
    "prob": "probability of the correct answer",
    "acc": "accuracy",
}


@dataclass(frozen=True)
class Decision:
    """The metric that ranks (tasks.suite.DecisionSpec without the suite import)."""

    metric: str = "bpb"
    on: tuple[str, ...] = ("wiki_leads_heldout",)
    tasks: tuple[str, ...] = ("wiki_leads_heldout",)

    @property
    def name(self) -> str:
        return f"{self.metric}/{'+'.join(self.on)}"

    @property
    def higher_is_better(self) -> bool:
        return FAMILIES[self.metric]

    @classmethod
    def from_spec(cls, spec: Any) -> Decision:
        return cls(metric=spec.metric, on=tuple(spec.on), tasks=tuple(spec.tasks()))

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "on": list(self.on), "tasks": list(self.tasks), "name": self.name}


@dataclass
class Report:
    board: list[dict[str, Any]]
    decision: Decision
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    accuracy_shown: list[str] = field(default_factory=list)
    accuracy_hidden: list[str] = field(default_factory=list)
    n_seeds: int = 1
    verdict: D.Decision | None = None  # the decision metric with training noise (decide.py)
    snr_training: dict[str, float] = field(default_factory=dict)  # per metric, as the paper defines it
    training_source: dict[str, str] = field(default_factory=dict)  # per metric: where its noise came from

    @property
    def decided(self) -> MetricSummary | None:
        return self.summaries.get(self.decision.name)

    def verdict_line(self) -> str:
        """The one-line verdict every output starts with."""
        if self.verdict is not None:
            return self.verdict.verdict()
        return "Undecided: no per-item scores in the catalog, so no comparison can be made."


def metric_defs(items: Sequence[dict[str, Any]], decision: Decision) -> dict[str, MetricDef]:
    """Every metric the items support: per task bpb / prob / acc, the aggregates
    `bpb/lm` and `prob/benchmarks`, and the decision metric."""
    from tasks.evaluate.eval_data import ALL_TASKS, BENCHMARKS, LM_TEXTS

    present = defaultdict(set)
    for r in items:
        present[r["metric"]].add(r["task"])
    out = {decision.name: MetricDef(decision.metric, decision.tasks, decision.higher_is_better)}
    lm = tuple(t for t in LM_TEXTS if t in present["bpb"])
    bench = tuple(t for t in BENCHMARKS if t in present["prob"])
    if lm:
        out.setdefault("bpb/lm", MetricDef("bpb", lm, False))
    if bench:
        out.setdefault("prob/benchmarks", MetricDef("prob", bench, True))
    for family in ("bpb", "prob", "acc"):
        for t in ALL_TASKS:
            if t in present[family]:
                out.setdefault(f"{family}/{t}", MetricDef(family, (t,), FAMILIES[family]))
    return out


def _fallback_value(arm: dict[str, Any], decision: Decision) -> float | None:
    """The decision metric from catalog means when there are no per-item scores."""
    prefix = {"acc": "acc_centered"}.get(decision.metric, decision.metric)
    vals = [arm.get(f"{prefix}/{t}") for t in decision.tasks]
    if not vals or any(is_missing(v) for v in vals):
        return None
    return sum(float(v) for v in vals if v is not None) / len(vals)


def build_report(
    rows: list[dict[str, Any]],
    items: Sequence[dict[str, Any]] = (),
    decision: Decision | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    snapshots: Sequence[dict[str, Any]] = (),
    runs: Sequence[dict[str, Any]] = (),
    p_target: float = D.LEVEL,
) -> Report:
    """Catalog leaderboard rows + per-item rows (+ per-snapshot rows and the arm runs with
    their status) -> the ranked report. The decision metric's mean, interval, P(A>B),
    ranks and verdict include training noise (tasks/report/decide.py); the other metrics'
    intervals are over eval items (and seeds)."""
    decision = decision or Decision()
    by_arm = _arms_from_rows(rows)
    items = [r for r in items if r["arm"] in by_arm or not by_arm]
    for r in items:
        by_arm[r["arm"]].setdefault("arm", r["arm"])
    arms = sorted(by_arm)
    summaries: dict[str, MetricSummary] = {}
    chance: dict[str, float] = {}
    defs = metric_defs(items, decision) if items else {}
    if items:
        chance_sum: dict[str, list[float]] = defaultdict(list)
        for r in items:
            if r["metric"] == "chance":
                chance_sum[r["task"]].append(float(r["value"]))
        chance = {t: sum(v) / len(v) for t, v in chance_sum.items()}
        summaries = suite_summary(items, defs, arms=arms, n_boot=n_boot, seed=seed)
        _add_summaries(by_arm, summaries)
    n_seeds = (
        len({int(r["seed"]) for r in items})
        if items
        else max((a.get("n_seeds", 1) for a in by_arm.values()), default=1)
    )
    decided = summaries.get(decision.name)
    key = decision.name
    verdict = None
    snr_training: dict[str, float] = {}
    sources: dict[str, str] = {}
    if items:
        seeds = sorted({int(r["seed"]) for r in items})
        failed, contract = _failed_arms(runs, arms)
        verdict = _decide(items, snapshots, decision, arms, seeds, failed, contract, p_target, seed)
        for name, m in defs.items():
            if name in summaries:
                rt = D.run_table(items, snapshots, m.family, m.tasks, arms, seeds)
                tn = D.training_noise(rt)
                snr_training[name] = D.relative_snr(np.nanmean(rt.value, axis=1), tn)
                sources[name] = tn.source
        for entry in by_arm.values():
            entry["contract"] = contract_status(runs, entry["arm"])
    if verdict is not None:
        _add_verdict(by_arm, verdict, key)
    if decided is None:
        for entry in by_arm.values():
            value = _fallback_value(entry, decision)
            if value is not None:
                entry[key] = value
    board = _ranked(by_arm, decision, decided, verdict)
    shown, hidden = _accuracy_above_chance(summaries, chance)
    return Report(board, decision, summaries, chance, shown, hidden, n_seeds, verdict, snr_training, sources)


def _arms_from_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """arm -> its board row from the catalog's leaderboard rows (mean, std, seeds per metric)."""
    by_arm: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        arm = by_arm[r["arm"]]
        arm["arm"] = r["arm"]
        arm[r["metric"]] = r["mean"]
        arm[f"{r['metric']}:std"] = r["std"]
        arm["n_seeds"] = max(arm.get("n_seeds", 0), int(r["n_seeds"]))
    return by_arm


def _add_summaries(by_arm: dict[str, dict[str, Any]], summaries: dict[str, MetricSummary]) -> None:
    """Each metric's item-bootstrap mean, interval and standard error into the arms' rows."""
    for name, s in summaries.items():
        for i, a in enumerate(s.arms):
            if math.isnan(s.mean[i]):
                continue
            board_arm = by_arm[a]
            board_arm[name] = s.mean[i]
            board_arm[f"{name}:lo"], board_arm[f"{name}:hi"] = s.lo[i], s.hi[i]
            board_arm[f"{name}:se"] = s.std[i]


def _add_verdict(by_arm: dict[str, dict[str, Any]], verdict: D.Decision, key: str) -> None:
    """The decision metric with training noise (and, when that noise is known, P(rank 1)
    and the rank interval) into the arms' rows."""
    for i, a in enumerate(verdict.arms):
        if math.isnan(verdict.mean[i]):
            continue
        entry = by_arm[a]
        entry[key], entry[f"{key}:lo"], entry[f"{key}:hi"] = verdict.mean[i], verdict.lo[i], verdict.hi[i]
        entry["plausible_best"] = a in verdict.plausible_best
        entry["n_seeds"] = verdict.n_seeds[i]
        if verdict.noise.known:  # without training noise these would be item-only certainties
            entry["p_rank1"] = verdict.p_rank1[i]
            entry["rank_lo"], entry["rank_hi"] = verdict.rank_lo[i], verdict.rank_hi[i]


def _ranked(
    by_arm: dict[str, dict[str, Any]],
    decision: Decision,
    decided: MetricSummary | None,
    verdict: D.Decision | None,
) -> list[dict[str, Any]]:
    """The arms' rows sorted by the decision metric, with rank, the tie-with-best mark and
    P(better than the next arm)."""
    key = decision.name
    sign = -1.0 if decision.higher_is_better else 1.0
    board = sorted(
        by_arm.values(),
        key=lambda a: (math.inf if is_missing(a.get(key)) else sign * a[key], a["arm"]),
    )
    ties = set(decided.ties_with_best) if decided else set()
    if verdict is not None:
        ties = set(verdict.plausible_best) - {verdict.leader}
    for rank, arm in enumerate(board, 1):
        arm["rank"] = rank if not is_missing(arm.get(key)) else None
        arm["within_noise_of_best"] = arm["arm"] in ties
    if verdict is not None and verdict.noise.known:
        idx = {a: i for i, a in enumerate(verdict.arms)}
        for above, below in zip(board, board[1:]):
            if not is_missing(above.get(key)) and not is_missing(below.get(key)):
                above["p_better_than_next"] = verdict.p_better[idx[above["arm"]]][idx[below["arm"]]]
    elif decided and verdict is None:
        idx = {a: i for i, a in enumerate(decided.arms)}
        for above, below in zip(board, board[1:]):
            if above["arm"] in idx and below["arm"] in idx:
                above["p_better_than_next"] = decided.p_better[idx[above["arm"]]][idx[below["arm"]]]
    return board


def _accuracy_above_chance(
    summaries: dict[str, MetricSummary], chance: dict[str, float]
) -> tuple[list[str], list[str]]:
    """(shown, hidden) accuracy tasks: shown where some arm is above chance by more than
    its standard error."""
    shown: list[str] = []
    hidden: list[str] = []
    for name, summary in summaries.items():
        if not name.startswith("acc/"):
            continue
        task = name.split("/", 1)[1]
        c = chance.get(task)
        above_chance = c is not None and any(
            m - c > se for m, se in zip(summary.mean, summary.std) if not math.isnan(m)
        )
        (shown if above_chance else hidden).append(task)
    return shown, hidden


def _failed_arms(runs: Sequence[dict[str, Any]], arms: Sequence[str]) -> tuple[list[str], list[str]]:
    """Arms with no completed run (they failed), and arms whose token contract failed."""
    done = {r["arm"] for r in runs if r.get("status") == "completed"}
    failed = sorted({r["arm"] for r in runs if r.get("status") != "completed"} - done)
    contract = sorted({r["arm"] for r in runs if contract_status(runs, r["arm"]) == "failed"})
    return failed, contract


def contract_status(runs: Sequence[dict[str, Any]], arm: str) -> str:
    """The arm's matched-token contract: `failed` when a run of it stopped on the contract,
    `ok` when a run completed (the contract runs before training), else `–`."""
    mine = [r for r in runs if r.get("arm") == arm]
    if any("TokenBudgetError" in str(r.get("error") or "") for r in mine):
        return "failed"
    if any(r.get("status") == "completed" for r in mine):
        return "ok"
    return "–"


def _decide(
    items: Sequence[dict[str, Any]],
    snapshots: Sequence[dict[str, Any]],
    decision: Decision,
    arms: list[str],
    seeds: list[int],
    failed: list[str],
    contract: list[str],
    p_target: float,
    seed: int,
) -> D.Decision | None:
    """The decision metric over the arms, with training noise (tasks/report/decide.py)."""
    tasks = []
    for t in decision.tasks:
        ts = task_arrays([r for r in items if r["task"] == t], decision.metric, t, arms, seeds)
        if ts is not None:
            tasks.append(ts)
    if not tasks:
        return None
    runs = D.run_table(items, snapshots, decision.metric, decision.tasks, arms, seeds)
    return D.decide(
        decision.name,
        tasks,
        arms,
        decision.higher_is_better,
        runs,
        p_target=p_target,
        failed=failed,
        contract_failed=contract,
        seed=seed,
    )


def is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
