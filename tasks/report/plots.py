"""The leaderboard's plots (loss curves, the decision metric with its P(A>B) heatmap, SNR
per metric, the removal funnel) and `save_figure`, which other report and attribution plots use too."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tasks.report.funnel import plot_funnel
from tasks.report.model import Report, is_missing
from tasks.report.render import shown_metrics


def plot_all(
    report: Report, curves: dict[str, list[Path]], out_dir: Path, random_arm: str | None = "random"
) -> list[Path]:
    """Loss curves per arm; the decision metric per arm with 95% intervals beside the
    P(A>B) heatmap; SNR per metric; the removal funnel."""
    import matplotlib

    matplotlib.use("Agg")

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_plot_losses(curves, out_dir)]
    decision_png = _plot_decision(report, out_dir, random_arm)
    if decision_png is not None:
        written.append(decision_png)
    snr_png = _plot_snr(report, out_dir)
    if snr_png is not None:
        written.append(snr_png)
    # one x-axis of named stages for every arm (tasks/report/funnel.py)
    funnel_png = plot_funnel(report.board, out_dir / "removal_funnel.png")
    if funnel_png is not None:
        written.append(funnel_png)
    return written


def _plot_losses(curves: dict[str, list[Path]], out_dir: Path) -> Path:
    """Training loss per arm (every seed's curve; the arm named once)."""
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

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
    return save_figure(fig, out_dir / "loss_curves.png")


def _plot_decision(report: Report, out_dir: Path, random_arm: str | None) -> Path | None:
    """The decision metric per arm with its 95% intervals (the random arm's as a band),
    beside the P(row better than column) heatmap; None without a ranked arm."""
    import matplotlib.pyplot as plt

    board = report.board
    d, s = report.decision, report.decided
    arms = [a for a in board if not is_missing(a.get(d.name))]
    if not arms:
        return None
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
    return save_figure(fig, out_dir / "decision.png")


def _plot_snr(report: Report, out_dir: Path) -> Path | None:
    """SNR per shown metric, the decision metric in red; None without summaries."""
    import matplotlib.pyplot as plt

    if not report.summaries:
        return None
    d = report.decision
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
    return save_figure(fig, out_dir / "snr.png")


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns `path`."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
