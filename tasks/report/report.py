"""The leaderboard: one row per arm, ranked by the suite's declared decision metric, with
95% paired-bootstrap intervals, P(A better than B) for every pair, the SNR of every metric,
and plots.

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

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tasks.report import decide as D
from tasks.report.funnel import plot_funnel
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
    if not vals or any(_missing(v) for v in vals):
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
    by_arm: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        arm = by_arm[r["arm"]]
        arm["arm"] = r["arm"]
        arm[r["metric"]] = r["mean"]
        arm[f"{r['metric']}:std"] = r["std"]
        arm["n_seeds"] = max(arm.get("n_seeds", 0), int(r["n_seeds"]))
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
        for name, s in summaries.items():
            for i, a in enumerate(s.arms):
                if math.isnan(s.mean[i]):
                    continue
                board_arm = by_arm[a]
                board_arm[name] = s.mean[i]
                board_arm[f"{name}:lo"], board_arm[f"{name}:hi"] = s.lo[i], s.hi[i]
                board_arm[f"{name}:se"] = s.std[i]
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
    if decided is None:
        for entry in by_arm.values():
            value = _fallback_value(entry, decision)
            if value is not None:
                entry[key] = value
    sign = -1.0 if decision.higher_is_better else 1.0
    board = sorted(
        by_arm.values(),
        key=lambda a: (math.inf if _missing(a.get(key)) else sign * a[key], a["arm"]),
    )
    ties = set(decided.ties_with_best) if decided else set()
    if verdict is not None:
        ties = set(verdict.plausible_best) - {verdict.leader}
    for rank, arm in enumerate(board, 1):
        arm["rank"] = rank if not _missing(arm.get(key)) else None
        arm["within_noise_of_best"] = arm["arm"] in ties
    if verdict is not None and verdict.noise.known:
        idx = {a: i for i, a in enumerate(verdict.arms)}
        for above, below in zip(board, board[1:]):
            if not _missing(above.get(key)) and not _missing(below.get(key)):
                above["p_better_than_next"] = verdict.p_better[idx[above["arm"]]][idx[below["arm"]]]
    elif decided and verdict is None:
        idx = {a: i for i, a in enumerate(decided.arms)}
        for above, below in zip(board, board[1:]):
            if above["arm"] in idx and below["arm"] in idx:
                above["p_better_than_next"] = decided.p_better[idx[above["arm"]]][idx[below["arm"]]]
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
    return Report(board, decision, summaries, chance, shown, hidden, n_seeds, verdict, snr_training, sources)


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


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def shown_metrics(report: Report) -> list[str]:
    """Metrics in display order: the decision, aggregates, per-text bpb, per-benchmark prob,
    accuracy where above chance, per-benchmark bpb of the gold answer."""
    from tasks.evaluate.eval_data import BENCHMARKS, LM_TEXTS

    names = list(report.summaries)
    order = [report.decision.name, "bpb/lm", "prob/benchmarks"]
    order += [f"bpb/{t}" for t in LM_TEXTS] + [f"prob/{t}" for t in BENCHMARKS]
    order += [f"acc/{t}" for t in report.accuracy_shown] + [f"bpb/{t}" for t in BENCHMARKS]
    out = []
    for n in order:
        if n in names and n not in out:
            out.append(n)
    return out


def _fmt_num(v: float) -> str:
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def _fmt(arm: dict, col: str) -> str:
    v: Any = arm.get(col)
    if _missing(v):
        return "–"
    if col in ("documents", "tokens"):
        s = f"{v:,.0f}"
    elif col.endswith("removed"):
        s = f"{100 * v:.1f}%"
    else:
        s = _fmt_num(v)
    if f"{col}:lo" in arm:
        return f"{s} [{_fmt_num(arm[f'{col}:lo'])}, {_fmt_num(arm[f'{col}:hi'])}]"
    std = arm.get(f"{col}:std")
    if arm.get("n_seeds", 1) > 1 and not _missing(std):
        s += f" ± {std:.4f}"
    return s


def _fmt_snr(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2f}"


def verdict_cells(arm: dict[str, Any]) -> list[str]:
    """P(rank 1), the 95% rank interval and the token contract of one board row."""
    p1 = arm.get("p_rank1")
    lo, hi = arm.get("rank_lo"), arm.get("rank_hi")
    rank = "–" if not lo else (str(lo) if lo == hi else f"{lo}–{hi}")
    return ["–" if p1 is None else D.fmt_p(p1), rank, arm.get("contract", "–")]


def noise_sentence(report: Report) -> str:
    """Which noise the decision's intervals hold, in words."""
    v = report.verdict
    if v is None:
        return "Intervals over eval items only."
    n = v.noise
    seeds = f"{min(v.n_seeds)}–{max(v.n_seeds)}" if min(v.n_seeds) != max(v.n_seeds) else str(max(v.n_seeds))
    if n.source == "none":
        return (
            f"{seeds} seed(s) per arm and no checkpoint snapshots: intervals over eval items only, no training noise."
        )
    parts = []
    if n.seed_df:
        parts.append(f"seed variance pooled over arms ({n.seed_df} df)")
    if math.isfinite(n.ckpt_var):
        parts.append(f"checkpoint snapshots ({n.ckpt_df} df, x{D.CKPT_INFLATION:g} as a {D.PRIOR_DF:g}-df prior)")
    return (
        f"95% intervals with training noise (sd {math.sqrt(n.var):.4f} per run, from {' and '.join(parts)}) "
        f"and eval-item noise; {seeds} seed(s) per arm."
    )


def _summary_cols(report: Report) -> list[str]:
    return [c for c in SUMMARY if any(c in a for a in report.board)]


def _describe(decision: Decision) -> str:
    on = ", ".join(decision.on)
    better = "higher" if decision.higher_is_better else "lower"
    return f"{FAMILY_LABEL[decision.metric]} on {on} (`{decision.name}`, {better} is better)"


def to_markdown(report: Report, title: str = "Leaderboard") -> str:
    d, s = report.decision, report.decided
    lines = [f"## {title}", "", f"**Verdict:** {report.verdict_line()}", ""]
    if s is not None:
        items = ", ".join(f"{t} {n}" for t, n in s.n_items.items())
        lines.append(
            f"**Ranked by {_describe(d)}**. {noise_sentence(report)} Eval items: {items} (paired bootstrap, "
            f"one draw for all arms). SNR {_fmt_snr(report.snr_training.get(d.name))} over these arms "
            f"(largest gap over training noise; items only: {s.snr:.2f})."
        )
    else:
        lines.append(f"Decided by {_describe(d)}. No per-item scores in the catalog: no intervals.")
    lines.append("")
    cols = [d.name] + _summary_cols(report)
    has_p = any("p_better_than_next" in a for a in report.board)
    has_v = report.verdict is not None
    head = (
        ["rank", "arm", "seeds"]
        + cols
        + (["P(better than next)"] if has_p else [])
        + (["P(rank 1)", "rank [95%]", "token contract"] if has_v else [])
    )
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm in report.board:
        mark = " ~" if arm.get("within_noise_of_best") else ""
        cells = [f"{arm.get('rank') or ''}{mark}", arm["arm"], str(arm.get("n_seeds", ""))]
        cells += [_fmt(arm, c) for c in cols]
        if has_p:
            p = arm.get("p_better_than_next")
            cells.append("" if p is None else D.fmt_p(p))
        if has_v:
            cells += verdict_cells(arm)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`~`: plausibly the best: not separated from the leader at P >= "
        f"{report.verdict.p_target if report.verdict else D.LEVEL:.2f} (Holm-adjusted). "
        "The decision metric's interval, P(A>B) and ranks include training noise (seeds and checkpoint "
        "snapshots) and eval-item noise; an arm's own interval also holds item difficulty, which every arm "
        "shares and which cancels in comparisons: compare arms by P(A>B), not by overlapping intervals. "
        "Dataset and training columns are means over seeds (± std with several).",
    ]
    return "\n".join(lines + ["", detail_markdown(report)]).rstrip() + "\n"


def detail_markdown(report: Report) -> str:
    """The P(row better than column) matrix on the decision metric and every metric with its
    interval per arm and its SNR (the full leaderboard's second half; the HTML page's too)."""
    d, s = report.decision, report.decided
    lines: list[str] = []
    if s is not None and len(s.arms) > 1:
        order = [a["arm"] for a in report.board if a["arm"] in s.arms]
        idx = {a: i for i, a in enumerate(s.arms)}
        pm = report.verdict.p_better if report.verdict is not None else s.p_better
        vidx = {a: i for i, a in enumerate(report.verdict.arms)} if report.verdict is not None else idx
        known = report.verdict is not None and report.verdict.noise.known
        noise = "training and item noise" if known else "eval items only: training noise unknown, not a decision"
        lines += [f"### P(row better than column) on `{d.name}` ({noise})", ""]
        lines += ["| | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
        for a in order:
            row = [("–" if a == b else D.fmt_p(pm[vidx[a]][vidx[b]])) for b in order]
            lines.append(f"| {a} | " + " | ".join(row) + " |")
    names = shown_metrics(report)
    if names:
        order = [a["arm"] for a in report.board]
        lines += [""] if lines else []
        lines += ["### Every metric: mean [95% interval] per arm, and its signal-to-noise ratio", ""]
        head = "| metric | SNR (training noise) | SNR (items only) | "
        lines += [head + " | ".join(order) + " |", "|---|---|---|" + "---|" * len(order)]
        by_name = {a["arm"]: a for a in report.board}
        for n in names:
            label = f"**{n}** (decides)" if n == d.name else n
            snr = report.summaries[n].snr
            cells = [_fmt(by_name[a], n) for a in order]
            lines.append(
                f"| {label} | {_fmt_snr(report.snr_training.get(n))} | {_fmt_snr(snr)} | " + " | ".join(cells) + " |"
            )
        lines += [
            "",
            "SNR (training noise), as Heineman et al. (2025) define it: the largest gap between two arms over "
            "the standard deviation of one run's value from seeds and checkpoint snapshots (`–` when neither "
            "is there: one seed, no snapshots of that metric). SNR (items only): standard deviation of the arm "
            "means over the paired-bootstrap noise of the eval items; it leaves training noise out. Intervals "
            "of metrics other than the decision's are over eval items and seeds. "
            "bpb/<benchmark>: bits per byte of the correct answer.",
        ]
        if report.accuracy_hidden:
            lines.append(
                "Accuracy not shown (no arm above chance by more than its standard error): "
                + ", ".join(report.accuracy_hidden)
                + "."
            )
    return "\n".join(lines)


# The compact table's removal columns: share of the arm's input documents each named stage
# removed (tasks/report/funnel.py's common stages; budget folded into selection).
REMOVAL_COLS = (("language", "lang"), ("filters", "filters"), ("dedup", "dedup"), ("decontaminate", "decon"))


def removal_shares(arm: dict[str, Any]) -> dict[str, float]:
    """Stage label -> documents that stage removed / documents in (from the arm's funnel)."""
    from tasks.report.funnel import STAGES, arm_funnel

    f = arm_funnel(arm)
    n_in = f.get("input")
    if not n_in:
        return {}
    out: dict[str, float] = {}
    before = n_in
    labels = dict(REMOVAL_COLS)
    for stage in STAGES[1:]:
        after = f.get(stage, before)
        label = labels.get(stage, "select")  # selection and the budget cut
        out[label] = out.get(label, 0.0) + (before - after) / n_in
        before = after
    return out


def to_compact_markdown(report: Report, title: str = "Leaderboard") -> str:
    """The terminal table (`flows.report --format md`): the decision metric with its 95%
    interval, P(better than the next arm), real tokens and the removal share of each stage.
    Every other metric, the pairwise table and the plots are in leaderboard.md / index.html."""
    d, s = report.decision, report.decided
    better = "higher" if d.higher_is_better else "lower"
    head = f"## {title}\n\n**Verdict:** {report.verdict_line()}\n\nRanked by `{d.name}` ({better} is better)"
    if s is not None:
        items = sum(s.n_items.values())
        head += (
            f"; {noise_sentence(report)} SNR {_fmt_snr(report.snr_training.get(d.name))}; {items:,} eval items, paired."
        )
    else:
        head += "; no per-item scores in the catalog, so no intervals."
    labels = [lab for _, lab in REMOVAL_COLS] + ["select"]
    cols = ["rank", "arm", "seeds", f"{d.name} [95%]", "P(>next)", "P(rank 1)", "rank [95%]", "contract", "tokens"]
    cols += [f"-{lab}" for lab in labels]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for arm in report.board:
        p = arm.get("p_better_than_next")
        shares = removal_shares(arm)
        tokens = arm.get("tokens", arm.get("unique_tokens"))  # real tokens of the arm's dataset
        cells = [
            f"{arm.get('rank') or ''}{' ~' if arm.get('within_noise_of_best') else ''}",
            arm["arm"],
            str(arm.get("n_seeds", "")),
            _fmt(arm, d.name),
            "" if p is None else D.fmt_p(p),
            *verdict_cells(arm),
            "–" if _missing(tokens) else f"{tokens:,.0f}",
        ] + [f"{100 * shares[lab]:.1f}%" if lab in shares else "–" for lab in labels]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`~`: plausibly the best (not separated from the leader, Holm-adjusted). Intervals, P and ranks "
        "include training noise. -stage: share of the arm's input documents that stage removed.",
    ]
    return "\n".join(lines)


def _csv_cols(report: Report) -> list[str]:
    cols = ["rank", "arm", "n_seeds", "within_noise_of_best", "p_better_than_next"]
    cols += ["p_rank1", "rank_lo", "rank_hi", "plausible_best", "contract", "verdict"] + _summary_cols(report)
    for n in shown_metrics(report) or [report.decision.name]:
        cols += [n, f"{n}:lo", f"{n}:hi"]
    return cols


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_csv_cols(report), extrasaction="ignore")
    writer.writeheader()
    line = report.verdict_line()
    writer.writerows({**a, "verdict": line} for a in report.board)
    return buf.getvalue()


def to_json(report: Report) -> str:
    data = {
        "verdict": report.verdict_line(),
        "decision": {
            **report.decision.as_dict(),
            "snr": report.snr_training.get(report.decision.name),
            "snr_items_only": report.decided.snr if report.decided else None,
            **({"with_training_noise": report.verdict.as_dict()} if report.verdict is not None else {}),
        },
        "n_seeds": report.n_seeds,
        "board": report.board,
        "metrics": {n: s.as_dict() for n, s in report.summaries.items()},
        "snr": {n: report.snr_training.get(n) for n in report.summaries},
        "snr_items_only": {n: s.snr for n, s in report.summaries.items()},
        "training_noise_source": report.training_source,
        "chance": report.chance,
        "accuracy_shown": report.accuracy_shown,
        "accuracy_hidden": report.accuracy_hidden,
    }
    return json.dumps(json_safe(data), indent=2, default=str)


def json_safe(x: Any) -> Any:
    """NaN / inf -> None, recursively, so the JSON is standard."""
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def table_rows(report: Report) -> list[dict[str, Any]]:
    """Flat rows for a table artifact: rank, arm, the decision metric with its interval."""
    n = report.decision.name
    return [
        {
            "rank": a.get("rank"),
            "arm": a["arm"],
            "tied_with_best": a.get("within_noise_of_best", False),
            n: a.get(n),
            f"{n}:lo": a.get(f"{n}:lo"),
            f"{n}:hi": a.get(f"{n}:hi"),
            "p_better_than_next": a.get("p_better_than_next"),
            "p_rank1": a.get("p_rank1"),
            "rank_interval": f"{a.get('rank_lo')}-{a.get('rank_hi')}" if a.get("rank_lo") else None,
            "contract": a.get("contract"),
            "verdict": report.verdict_line(),
            **{c: a.get(c) for c in _summary_cols(report)},
        }
        for a in report.board
    ]


def plot_all(
    report: Report, curves: dict[str, list[Path]], out_dir: Path, random_arm: str | None = "random"
) -> list[Path]:
    """Loss curves per arm; the decision metric per arm with 95% intervals beside the
    P(A>B) heatmap; SNR per metric; the removal funnel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    board = report.board

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm, paths in sorted(curves.items()):
        for i, path in enumerate(paths):
            if not Path(path).exists():
                continue
            t = pq.read_table(path).to_pydict()
            x = t.get("tokens") or t.get("step")
            ax.plot(x, t["loss"], label=arm if i == 0 else None, alpha=0.8)
    ax.set_xlabel("tokens")
    ax.set_ylabel("train loss")
    ax.set_title("Training loss per arm")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    written.append(save_figure(fig, out_dir / "loss_curves.png"))

    d, s = report.decision, report.decided
    arms = [a for a in board if not _missing(a.get(d.name))]
    if arms:
        fig, axes = plt.subplots(1, 2 if s is not None and len(s.arms) > 1 else 1, figsize=(12, 4.5), squeeze=False)
        ax = axes[0][0]
        ys = np.array([a[d.name] for a in arms])
        names = [a["arm"] for a in arms]
        if s is not None:
            lo = np.array([a.get(f"{d.name}:lo", a[d.name]) for a in arms])
            hi = np.array([a.get(f"{d.name}:hi", a[d.name]) for a in arms])
            ax.errorbar(range(len(arms)), ys, yerr=[ys - lo, hi - ys], fmt="o", capsize=4, color="tab:blue")
        else:
            ax.plot(range(len(arms)), ys, "o", color="tab:blue")
        rand = next((a for a in arms if a["arm"] == random_arm), None)
        if rand is not None and f"{d.name}:lo" in rand:
            ax.axhspan(rand[f"{d.name}:lo"], rand[f"{d.name}:hi"], color="tab:red", alpha=0.2, label="random arm 95%")
            ax.legend(fontsize=7)
        for i, a in enumerate(arms):
            if a.get("within_noise_of_best"):
                ax.annotate("~", (i, ys[i]), textcoords="offset points", xytext=(6, 6), fontsize=10)
        ax.set_xticks(range(len(arms)), names, rotation=30, ha="right", fontsize=8)
        better = "higher" if d.higher_is_better else "lower"
        ax.set_ylabel(f"{d.name} ({better} is better)")
        v = report.verdict
        title = "Decision metric per arm, 95% intervals"
        title += " (training + item noise)" if v is not None and v.noise.known else " (eval items only)"
        ax.set_title(title if s else d.name, fontsize=9)
        if s is not None and len(s.arms) > 1:
            pm, arm_list = (v.p_better, v.arms) if v is not None else (s.p_better, s.arms)
            idx = {a: i for i, a in enumerate(arm_list)}
            order = [n for n in names if n in idx]
            m = np.array([[pm[idx[a]][idx[b]] for b in order] for a in order])
            ax2 = axes[0][1]
            im = ax2.imshow(m, vmin=0, vmax=1, cmap="RdBu_r")
            ax2.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
            ax2.set_yticks(range(len(order)), order, fontsize=8)
            for i in range(len(order)):
                for j in range(len(order)):
                    if i != j:
                        color = "white" if abs(m[i, j] - 0.5) > 0.3 else "black"
                        label = ">.99" if m[i, j] > 0.99 else ("<.01" if m[i, j] < 0.01 else f"{m[i, j]:.2f}")
                        ax2.text(j, i, label, ha="center", va="center", fontsize=7, color=color)
            ax2.set_title("P(row better than column)", fontsize=9)
            fig.colorbar(im, ax=ax2, fraction=0.046)
        written.append(save_figure(fig, out_dir / "decision.png"))

    if report.summaries:
        names = shown_metrics(report)
        vals = [report.summaries[n].snr for n in names]
        fig, ax = plt.subplots(figsize=(7, max(3, 0.25 * len(names) + 1)))
        colors = ["tab:red" if n == d.name else "tab:blue" for n in names]
        ax.barh(range(len(names)), [0 if math.isnan(v) else v for v in vals], color=colors)
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("signal-to-noise ratio over the arms (1 = no separation)")
        ax.set_title("SNR per metric (red: the decision metric)", fontsize=9)
        written.append(save_figure(fig, out_dir / "snr.png"))

    # one x-axis of named stages for every arm (tasks/report/funnel.py)
    funnel_png = plot_funnel(board, out_dir / "removal_funnel.png")
    if funnel_png is not None:
        written.append(funnel_png)
    return written


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns `path`."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
