"""The cost of repetition on the decision metric (Muennighoff et al. 2023, "Scaling
Data-Constrained Language Models"; Xue et al. 2023, "To Repeat or Not To Repeat").

Two forms of the `epochs` axis (tasks/sweep/design.py):

- fixed training tokens, unique tokens = train / epochs: the same compute on less
  unique data. The cost per doubling of epochs is what repetition costs at fixed compute.
- fixed unique tokens, training tokens = unique x epochs: more compute on the same
  data. The change per doubling is what one more pass over the data buys (or costs).

`repetition_cost` fits the decision metric against log2(epochs) (least squares) and
takes the differences between neighbouring epochs, each with a 95% interval from the
paired bootstrap replicates of tasks/report/stats.py (one draw of items and seeds for
every arm, so the shared item difficulty cancels). A cost is signed so that positive
means worse: bits per byte up, or accuracy / probability down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tasks.report.render import json_safe as _clean
from tasks.report.stats import LEVEL, Boot


def slope(x: Sequence[float] | np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis (y: (..., len(x)))."""
    xa = np.asarray(x, float)
    if len(xa) < 2 or np.ptp(xa) == 0:
        raise ValueError(f"a slope needs at least two distinct x values, got {list(xa)}")
    xc = xa - xa.mean()
    y = np.asarray(y, float)
    return ((y - y.mean(axis=-1, keepdims=True)) * xc).sum(axis=-1) / (xc**2).sum()


@dataclass(frozen=True)
class Interval:
    value: float
    lo: float
    hi: float
    p_worse: float  # P(the cost is > 0) under the bootstrap


@dataclass
class RepetitionCost:
    form: str  # "fixed training tokens" / "fixed unique tokens"
    metric: str
    higher_is_better: bool
    arms: list[str]
    epochs: list[float]
    values: list[float]
    lo: list[float]
    hi: list[float]
    per_doubling: Interval  # cost per doubling of epochs (slope on log2 epochs)
    steps: list[dict[str, Any]] = field(default_factory=list)  # neighbouring epochs: cost from -> to

    def as_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def _interval(point: float, reps: np.ndarray, level: float) -> Interval:
    ok = reps[~np.isnan(reps)]
    q = (1 - level) / 2
    if not len(ok):
        return Interval(point, math.nan, math.nan, math.nan)
    return Interval(
        float(point),
        float(np.quantile(ok, q)),
        float(np.quantile(ok, 1 - q)),
        float(((ok > 0).sum() + 0.5 * (ok == 0).sum()) / len(ok)),
    )


def repetition_cost(
    arms: Sequence[str],
    epochs: Sequence[float],
    boot: Boot,
    higher_is_better: bool,
    form: str,
    metric: str,
    level: float = LEVEL,
) -> RepetitionCost:
    """Cost of repetition from a bootstrap whose arms are `arms` (in that order), trained
    for `epochs` passes over their data: per doubling of epochs and per neighbouring step."""
    if len(arms) != len(epochs) or boot.point.shape[0] != len(arms):
        raise ValueError(f"need one epoch count and one bootstrap column per arm: {len(arms)}, {len(epochs)}")
    order = np.argsort(np.asarray(epochs, float), kind="stable")
    ep = [float(epochs[i]) for i in order]
    point = boot.point[order]
    reps = boot.replicates[:, order]
    sign = -1.0 if higher_is_better else 1.0  # cost > 0 means worse
    x = np.log2(ep)
    with np.errstate(invalid="ignore"):
        rep_slope = slope(x, reps) * sign
    per_doubling = _interval(float(slope(x, point) * sign), rep_slope, level)
    lo, hi = np.nanquantile(reps, (1 - level) / 2, axis=0), np.nanquantile(reps, 1 - (1 - level) / 2, axis=0)
    steps = []
    for i in range(len(ep) - 1):
        if ep[i + 1] == ep[i]:
            continue
        d = _interval(float((point[i + 1] - point[i]) * sign), (reps[:, i + 1] - reps[:, i]) * sign, level)
        doublings = math.log2(ep[i + 1] / ep[i])
        steps.append(
            {
                "from_epochs": ep[i],
                "to_epochs": ep[i + 1],
                "cost": d.value,
                "lo": d.lo,
                "hi": d.hi,
                "p_worse": d.p_worse,
                "cost_per_doubling": d.value / doublings,
            }
        )
    return RepetitionCost(
        form=form,
        metric=metric,
        higher_is_better=higher_is_better,
        arms=[arms[i] for i in order],
        epochs=ep,
        values=[float(v) for v in point],
        lo=[float(v) for v in lo],
        hi=[float(v) for v in hi],
        per_doubling=per_doubling,
        steps=steps,
    )


def _n(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:+.4f}"


def to_markdown(costs: Sequence[RepetitionCost], suite: str) -> str:
    lines = [f"## Repetition: {suite}", ""]
    for c in costs:
        better = "higher" if c.higher_is_better else "lower"
        p = c.per_doubling
        lines += [
            f"### {c.form}",
            "",
            f"Cost of repetition on `{c.metric}` ({better} is better; a cost > 0 means worse): "
            f"**{_n(p.value)} per doubling of epochs** [{_n(p.lo)}, {_n(p.hi)}] (95% paired bootstrap, "
            f"least-squares slope on log2 epochs), P(cost > 0) {p.p_worse:.3f}.",
            "",
            "| arm | epochs | value [95%] |",
            "|---|---:|---|",
        ]
        for a, e, v, lo, hi in zip(c.arms, c.epochs, c.values, c.lo, c.hi):
            lines.append(f"| {a} | {e:g} | {v:.4f} [{lo:.4f}, {hi:.4f}] |")
        lines += ["", "| step | cost [95%] | per doubling | P(worse) |", "|---|---|---:|---:|"]
        for s in c.steps:
            lines.append(
                f"| {s['from_epochs']:g} -> {s['to_epochs']:g} epochs | {_n(s['cost'])} [{_n(s['lo'])}, "
                f"{_n(s['hi'])}] | {_n(s['cost_per_doubling'])} | {s['p_worse']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(costs: Sequence[RepetitionCost], path) -> Any:
    """The decision metric against epochs (log2 axis), one line per form, 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for c in costs:
        v = np.asarray(c.values)
        ax.errorbar(
            c.epochs,
            v,
            yerr=np.clip(
                [v - np.asarray(c.lo), np.asarray(c.hi) - v], 0, None
            ),  # a percentile interval can miss the point
            fmt="o-",
            capsize=3,
            label=f"{c.form}: {c.per_doubling.value:+.4f}/doubling",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("epochs")
    if costs:
        ax.set_ylabel(costs[0].metric)
        ax.legend(fontsize=7)
    ax.set_title("Decision metric vs epochs (95% paired-bootstrap intervals)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
