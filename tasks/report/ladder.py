"""A proxy ladder's report: does the ranking of arms at a small size predict the ranking
at the largest size? (DataDecide, Magnusson et al. 2025.)

`ladder_table` scores every smaller rung against the reference, per metric
(tasks/report/ladder_accuracy.py) from each rung's numbers (tasks/report/ladder_scores.py);
`to_markdown` and `ladder_result` write it out (ladder.md, ladder.json). The rungs and their
token rule are tasks/report/ladder_plan.py, the plot tasks/report/ladder_plot.py, the
extrapolation of the smaller rungs to the reference tasks/report/ladder_extrapolate.py.

Pure functions over plain dicts; flows/ladder.py reads the numbers from the catalog.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tasks.report.ladder_accuracy import (
    NO_CEILING,
    accuracy_interval,
    decision_accuracy,
    is_finite,
    kendall_tau,
    noise_ceiling,
    weighted_decision_accuracy,
)
from tasks.report.ladder_plan import Rung
from tasks.report.ladder_scores import RungScores, is_score
from tasks.report.stats import N_BOOT

if TYPE_CHECKING:
    from tasks.report.model import Decision


@dataclass(frozen=True)
class RungRow:
    rung: str
    metric: str
    decision_accuracy: float
    pairs: int
    kendall_tau: float
    tau_p: float
    flops: float  # per arm
    device_seconds: float  # training + evaluation, all arms
    arms: int
    acc_lo: float = math.nan  # 95% interval of decision_accuracy, bootstrap over arms
    acc_hi: float = math.nan
    weighted_accuracy: float = math.nan  # pairs weighted by |2 P_ref(A>B) - 1|; NaN without item scores
    weighted_lo: float = math.nan
    weighted_hi: float = math.nan
    noise_ceiling: float = math.nan  # reference seed against reference seed; NaN with one seed
    ceiling_seed_pairs: int = 0  # unordered pairs of reference seeds behind noise_ceiling
    decision: bool = False  # the suite's declared decision metric
    failed: str | None = None  # the rung (or the reference) failed: nothing of it is scored

    @property
    def ceiling_note(self) -> str | None:
        return NO_CEILING if self.ceiling_seed_pairs == 0 else None

    def as_dict(self) -> dict:
        return {**asdict(self), "noise_ceiling_note": self.ceiling_note}


ALL_METRICS = "(every metric)"


def _as_scores(x: RungScores | Mapping[str, Mapping[str, float]]) -> RungScores:
    """A plain metric -> arm -> value mapping is one seed per arm."""
    if isinstance(x, RungScores):
        return x
    means = {m: dict(v) for m, v in x.items()}
    return RungScores(means=means, per_seed={m: {0: v} for m, v in means.items()})


def ladder_table(
    scores: Mapping[str, RungScores | Mapping[str, Mapping[str, float]]],
    order: Sequence[str],
    flops: Mapping[str, float],
    device_seconds: Mapping[str, float],
    decision: str | None = None,
    failed: Mapping[str, str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> list[RungRow]:
    """Every smaller rung against the largest (`order[-1]`), per metric the largest rung
    scores, and always the `decision` metric (first, marked; with no pair when it has no
    values). `scores[rung]` is a RungScores or `[metric][arm]` (one seed). A rung in
    `failed` (rung -> error) is not scored: it gets one row naming the failure, and a failed
    reference makes every rung's row failed."""
    if len(order) < 2:
        raise ValueError(f"a ladder needs at least two rungs, got {list(order)}")
    top = order[-1]
    failed = dict(failed or {})
    data = {r: _as_scores(scores.get(r, {})) for r in order}
    ref = data[top]
    metrics = sorted(m for m in ref.means if is_score(m) and m != decision)
    if decision is not None:
        metrics.insert(0, decision)
    rows = []
    for rung in order[:-1]:
        fl, secs = float(flops.get(rung, math.nan)), float(device_seconds.get(rung, math.nan))
        reason = f"reference rung {top} failed: {failed[top]}" if top in failed else failed.get(rung)
        if reason is not None:
            nan = math.nan
            metric = decision or ALL_METRICS
            rows.append(
                RungRow(rung, metric, nan, 0, nan, nan, fl, secs, 0, decision=decision is not None, failed=reason)
            )
            continue
        for metric in metrics:
            small, large = data[rung].means.get(metric, {}), ref.means.get(metric, {})
            acc, pairs = decision_accuracy(small, large)
            lo, hi = accuracy_interval(small, large, None, n_boot, seed)
            p = ref.p_better.get(metric)
            wacc, wlo, whi = math.nan, math.nan, math.nan
            if p is not None:
                wacc = weighted_decision_accuracy(small, large, p)
                wlo, whi = accuracy_interval(small, large, p, n_boot, seed)
            tau, tau_p = kendall_tau(small, large)
            ceiling, seed_pairs = noise_ceiling(ref.per_seed.get(metric, {}))
            rows.append(
                RungRow(
                    rung,
                    metric,
                    acc,
                    pairs,
                    tau,
                    tau_p,
                    fl,
                    secs,
                    len([a for a in small if a in large]),
                    acc_lo=lo,
                    acc_hi=hi,
                    weighted_accuracy=wacc,
                    weighted_lo=wlo,
                    weighted_hi=whi,
                    noise_ceiling=ceiling,
                    ceiling_seed_pairs=seed_pairs,
                    decision=metric == decision,
                )
            )
    return rows


def _acc_cell(x: float, lo: float, hi: float) -> str:
    if not is_finite(x):
        return "–"
    return f"{x:.3f} [{lo:.2f}, {hi:.2f}]" if is_finite(lo) else f"{x:.3f}"


def _num(x: float, fmt: str) -> str:
    return format(x, fmt) if is_finite(x) else "–"


def to_markdown(
    rows: Sequence[RungRow],
    rungs: Sequence[Rung],
    reference: str,
    walls: Mapping[str, float],
    decision: str | None = None,
    failed_rungs: Mapping[str, str] | None = None,
    failed_arms: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    decision_source: Mapping[str, str | None] | None = None,
) -> str:
    """The ladder report: the rungs (rule, compute, repetition); the decision metric, its
    noise ceiling and how it was computed; per smaller rung and metric, decision accuracy
    with its interval, the weighted accuracy, Kendall's tau and the noise ceiling against
    the reference rung; and what failed (not scored)."""
    failed_rungs = failed_rungs or {}
    lines = _rungs_table(rungs, reference, walls, failed_rungs)
    lines.append("")
    if decision is not None:
        sources = decision_source or {}
        how = ", ".join(f"{p}: {sources.get(p) or 'no value'}" for p in (r.preset for r in rungs))
        lines.append(f"**Decision metric:** `{decision}` (the suite's declared decision; computed from {how}).")
        ref_row = next((r for r in rows if r.decision and r.failed is None), None)
        if ref_row is not None:
            ceiling = (
                ref_row.ceiling_note
                if ref_row.ceiling_note
                else f"**{_num(ref_row.noise_ceiling, '.3f')}** over {ref_row.ceiling_seed_pairs} pair(s) of seeds"
            )
            lines += ["", f"**Noise ceiling** on `{decision}`: {ceiling}."]
        lines.append("")
    lines += [
        "Decision accuracy: of the arm pairs the reference rung separates, the fraction the smaller "
        "rung orders the same way (ties count 1/2), with a 95% interval from a bootstrap over arms "
        "(pairs share arms, so arms are resampled, not pairs). With n arms there are n(n-1)/2 pairs "
        "and they are not independent: read it with the pair count. Weighted: each pair counts by "
        "|2 P(A>B) - 1| at the reference rung (paired bootstrap over eval items and seeds), so pairs "
        "the reference cannot separate count little (– without per-item scores, e.g. "
        "acc_centered_mean). Noise ceiling: how often two seeds of the reference rung order the "
        "arms the same way (seed i against seed j, averaged over seed pairs); "
        f"{NO_CEILING} with one seed.",
        "",
        "| rung | metric | decision accuracy [95%] | weighted [95%] | pairs | Kendall tau | tau p | "
        "noise ceiling | FLOPs/arm | device s (all arms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rank = {r.preset: i for i, r in enumerate(rungs)}
    for row in sorted(
        rows, key=lambda x: (rank.get(x.rung, len(rank)), not x.decision, -_nan_low(x.decision_accuracy), x.metric)
    ):
        metric = f"**{row.metric}** (decides)" if row.decision else row.metric
        if row.failed is not None:
            lines.append(f"| {row.rung} | {metric} | failed: {row.failed} | – | 0 | – | – | – | {row.flops:.3g} | – |")
            continue
        ceiling = "n/a" if row.ceiling_note else _num(row.noise_ceiling, ".3f")
        lines.append(
            f"| {row.rung} | {metric} | {_acc_cell(row.decision_accuracy, row.acc_lo, row.acc_hi)} | "
            f"{_acc_cell(row.weighted_accuracy, row.weighted_lo, row.weighted_hi)} | {row.pairs} | "
            f"{_num(row.kendall_tau, '+.3f')} | {_num(row.tau_p, '.3f')} | {ceiling} | {row.flops:.3g} | "
            f"{row.device_seconds:.0f} |"
        )
    failures = [f"- rung **{p}** failed, not scored: {e}" for p, e in failed_rungs.items()]
    for preset, arms in (failed_arms or {}).items():
        failures += [
            f"- rung {preset}, arm **{f['arm']}** seed {f['seed']} failed, left out of every accuracy: {f['error']}"
            for f in arms
        ]
    if failures:
        lines += ["", "## Failed", "", *failures]
    return "\n".join(lines) + "\n"


def _rungs_table(
    rungs: Sequence[Rung], reference: str, walls: Mapping[str, float], failed_rungs: Mapping[str, str]
) -> list[str]:
    """The report's title and its table of rungs: the token rule, compute, repetition, status."""
    lines = [
        f"# Proxy ladder: {', '.join(r.preset for r in rungs)} (reference: {reference})",
        "",
        "| rung | params | train tokens | steps | tokens/param wanted | capped by pool | epochs | FLOPs/arm | "
        "hparams (peak lr, batch) | wall s | status |",
        "|---|---:|---:|---:|---:|---|---:|---:|---|---:|---|",
    ]
    for r in rungs:
        status = f"failed: {failed_rungs[r.preset]}" if r.preset in failed_rungs else "ok"
        lines.append(
            f"| {r.preset} | {r.plan.n_params:,} | {r.plan.trained:,} | {r.plan.steps:,} | {r.plan.wanted:,} | "
            f"{'yes' if r.plan.capped else 'no'} | {r.plan.epochs:.2f} | {r.flops:.3g} | "
            f"{r.hparams} ({r.peak_lr:.3g}, {r.batch_size}) | {walls.get(r.preset, math.nan):.0f} | {status} |"
        )
    return lines


def ladder_result(
    suite: str,
    decision: Decision,
    rungs: Sequence[Rung],
    rows: Sequence[RungRow],
    walls: Mapping[str, float],
    failed: Mapping[str, str],
    data: Mapping[str, RungScores],
    extrapolation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """ladder.json: the decision metric (and what it was computed from at each rung), its
    noise ceiling, the rungs with their status, what failed, every row and each rung's
    scores (none of a failed rung: they are never scored), and the extrapolation to the
    reference rung (tasks/report/ladder_extrapolate.py `as_json`). NaN -> null."""
    ref_row = next((r for r in rows if r.decision and r.failed is None), None)
    result = {
        "suite": suite,
        "decision": {**decision.as_dict(), "computed_from": {p: d.decision_source for p, d in data.items()}},
        "noise_ceiling": None
        if ref_row is None
        else {
            "metric": decision.name,
            "value": ref_row.noise_ceiling,
            "seed_pairs": ref_row.ceiling_seed_pairs,
            "note": ref_row.ceiling_note,
        },
        "rungs": [
            {
                "preset": r.preset,
                "suite": r.suite.name,
                **asdict(r.plan),
                "flops": r.flops,
                "hparams": r.hparams,
                "peak_lr": r.peak_lr,
                "batch_size": r.batch_size,
                "wall_s": walls.get(r.preset),
                "status": "failed" if r.preset in failed else "ok",
                "error": failed.get(r.preset),
            }
            for r in rungs
        ],
        "failed_rungs": dict(failed),
        "failed_arms": {p: d.failed_arms for p, d in data.items() if d.failed_arms},
        "rows": [r.as_dict() for r in rows],
        "scores": {p: d.means for p, d in data.items() if p not in failed},
        "extrapolation": extrapolation,
    }
    return _json_safe(result)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


def _nan_low(x: float) -> float:
    return -math.inf if x is None or math.isnan(x) else x
