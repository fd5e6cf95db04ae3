"""The ladder's plot: decision accuracy against training compute, per metric family, with
the decision metric's interval, weighted accuracy and the noise ceiling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tasks.report.ladder import RungRow
from tasks.report.ladder_accuracy import is_finite


def metric_family(metric: str) -> str:
    """bpb / prob / acc (accuracy, centered or not) for a per-task metric (`family/task`);
    other for the rest, e.g. the aggregates bpb_mean, acc_centered_mean and a decision over
    several tasks (`bpb/lm`, `prob/benchmarks`, `bpb/a+b`), so a family's mean is over tasks."""
    if "/" not in metric:
        return "other"
    task = metric.split("/", 1)[1]
    if "+" in task or task in ("lm", "benchmarks"):
        return "other"
    head = metric.split("/", 1)[0]
    if head.startswith("bpb"):
        return "bpb"
    if head.startswith("prob"):
        return "prob"
    if head.startswith("acc"):
        return "acc"
    return "other"


FAMILY_STYLE = {"bpb": ("tab:blue", 1 / 1.12), "prob": ("tab:orange", 1.0), "acc": ("tab:red", 1.12)}


def plot_decision_accuracy(rows: Sequence[RungRow], path, highlight: str | None = None) -> Any:
    """Decision accuracy against training compute (FLOPs per arm, log scale): every metric
    as a faint point (line with several smaller rungs) coloured by family, each family's
    mean bold, and the suite's decision metric (`highlight`, else the row marked
    `decision`) as a star with its 95% interval (bootstrap over arms), its weighted
    accuracy (open diamond) and the reference rung's noise ceiling (dashed). The families
    are set a little apart on x so a single rung's points do not hide each other. The
    reference rung is 1 by definition and is not drawn; failed rungs are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if highlight is None:
        highlight = next((r.metric for r in rows if r.decision), None)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    by_metric: dict[str, list[RungRow]] = {}
    for r in rows:
        if r.failed is None and not math.isnan(r.decision_accuracy):
            by_metric.setdefault(r.metric, []).append(r)
    for family, (color, shift) in FAMILY_STYLE.items():
        metrics = {m: sorted(p, key=lambda r: r.flops) for m, p in by_metric.items() if metric_family(m) == family}
        if not metrics:
            continue
        for pts in metrics.values():
            ax.plot([p.flops * shift for p in pts], [p.decision_accuracy for p in pts], "o-", color=color, alpha=0.25)
        flops = sorted({p.flops for pts in metrics.values() for p in pts})
        means = [
            sum(p.decision_accuracy for pts in metrics.values() for p in pts if p.flops == f)
            / sum(1 for pts in metrics.values() for p in pts if p.flops == f)
            for f in flops
        ]
        ax.plot(
            [f * shift for f in flops],
            means,
            "D-",
            color=color,
            ms=9,
            lw=2.5,
            label=f"{family}: mean of {len(metrics)}",
        )
    if highlight in by_metric:
        pts = sorted(by_metric[highlight], key=lambda r: r.flops)
        shift = FAMILY_STYLE.get(metric_family(highlight), ("k", 1.0))[1]
        xs = [p.flops * shift for p in pts]
        ys = [p.decision_accuracy for p in pts]
        lo = [y - p.acc_lo if is_finite(p.acc_lo) else 0.0 for y, p in zip(ys, pts)]
        hi = [p.acc_hi - y if is_finite(p.acc_hi) else 0.0 for y, p in zip(ys, pts)]
        ax.errorbar(
            xs, ys, yerr=[lo, hi], fmt="*", color="black", ms=14, capsize=4, label=f"{highlight} (decides), 95%"
        )
        weighted = [(x, p.weighted_accuracy) for x, p in zip(xs, pts) if is_finite(p.weighted_accuracy)]
        if weighted:
            ax.plot(
                [x for x, _ in weighted],
                [w for _, w in weighted],
                "D",
                mfc="none",
                mec="black",
                ms=10,
                label=f"{highlight}: weighted by reference confidence",
            )
        ceiling = next((p.noise_ceiling for p in pts if is_finite(p.noise_ceiling)), None)
        if ceiling is not None:
            ax.axhline(ceiling, color="black", linestyle="--", linewidth=1, label=f"noise ceiling ({ceiling:.2f})")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training compute per arm of the smaller rung (FLOPs, 6ND)")
    ax.set_ylabel("pairwise decision accuracy vs reference")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
