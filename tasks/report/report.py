"""The leaderboard: one row per arm, every number that explains its rank, and plots.

Ranking: mean bits per byte over the held-out texts (lower is better; at CPU scale it is
the sensitive signal), then mean centered accuracy. With several seeds per arm, numbers
are mean +- std and an arm whose gap to the best is inside seed noise is marked `~`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

SUMMARY = ["documents", "tokens", "filter_removed", "dedup_removed", "kl_reduction", "train_loss"]
PRIMARY, SECONDARY = "bpb_mean", "acc_centered_mean"
NOISE_SIGMAS = 2.0  # a gap smaller than 2 pooled standard deviations is noise


def build_leaderboard(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Long rows (arm, metric, mean, std, n_seeds) -> ranked wide rows, one per arm."""
    by_arm: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        arm = by_arm[r["arm"]]
        arm["arm"] = r["arm"]
        arm[r["metric"]] = r["mean"]
        arm[f"{r['metric']}:std"] = r["std"]
        arm["n_seeds"] = max(arm.get("n_seeds", 0), int(r["n_seeds"]))
    board = list(by_arm.values())
    board.sort(key=lambda a: (_or_inf(a.get(PRIMARY)), -_or_ninf(a.get(SECONDARY))))
    if board and board[0].get(PRIMARY) is not None:
        best = board[0]
        for rank, arm in enumerate(board, 1):
            arm["rank"] = rank
            arm["within_noise_of_best"] = rank > 1 and _within_noise(arm, best, PRIMARY)
    return board


def _within_noise(a: dict, b: dict, metric: str) -> bool:
    sa, sb = a.get(f"{metric}:std"), b.get(f"{metric}:std")
    if a.get(metric) is None or b.get(metric) is None or sa is None or sb is None:
        return False  # one seed: no noise estimate
    pooled = math.sqrt((sa**2 + sb**2) / 2)
    return abs(a[metric] - b[metric]) <= NOISE_SIGMAS * pooled


def _or_inf(x):
    return math.inf if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _or_ninf(x):
    return -math.inf if x is None or (isinstance(x, float) and math.isnan(x)) else x


def metric_columns(board: list[dict[str, Any]]) -> list[str]:
    """Column order: summary, bits per byte per text, accuracy per task, the means."""
    names = {
        k for arm in board for k in arm if ":" not in k and k not in ("arm", "rank", "n_seeds", "within_noise_of_best")
    }
    bpb = sorted(n for n in names if n.startswith("bpb/"))
    acc = sorted(n for n in names if n.startswith("acc_centered/"))
    cols = [c for c in SUMMARY if c in names] + bpb + [c for c in (PRIMARY,) if c in names]
    cols += acc + [c for c in (SECONDARY,) if c in names]
    return cols


def _fmt(arm: dict, col: str) -> str:
    v = arm.get(col)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if col in ("documents", "tokens"):
        s = f"{v:,.0f}"
    elif col.endswith("removed"):
        s = f"{100 * v:.1f}%"
    else:
        s = f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    std = arm.get(f"{col}:std")
    if arm.get("n_seeds", 1) > 1 and std is not None and not math.isnan(std):
        s += f" ± {std:.4f}"
    return s


def to_markdown(board: list[dict[str, Any]], title: str = "Leaderboard") -> str:
    cols = metric_columns(board)
    lines = [f"## {title}", "", "| rank | arm | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for arm in board:
        mark = " ~" if arm.get("within_noise_of_best") else ""
        lines.append(f"| {arm.get('rank', '')}{mark} | {arm['arm']} | " + " | ".join(_fmt(arm, c) for c in cols) + " |")
    lines += [
        "",
        f"Ranked by {PRIMARY} (lower is better), then {SECONDARY}. "
        "`~`: the gap to the best arm is inside seed noise (2 pooled std).",
    ]
    return "\n".join(lines)


def to_csv(board: list[dict[str, Any]]) -> str:
    cols = ["rank", "arm", "n_seeds"] + [c for col in metric_columns(board) for c in (col, f"{col}:std")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(board)
    return buf.getvalue()


def to_json(board: list[dict[str, Any]]) -> str:
    return json.dumps(board, indent=2, default=lambda v: None)


def plot_all(
    board: list[dict[str, Any]], curves: dict[str, list[Path]], out_dir: Path, random_arm: str | None = "random"
) -> list[Path]:
    """Loss curves per arm, score bars with the random arm's band, removal funnel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

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
    ax.legend(fontsize=7)
    written.append(_save(fig, out_dir / "loss_curves.png"))

    for metric, label in (
        (PRIMARY, "mean bits per byte (lower is better)"),
        (SECONDARY, "mean centered accuracy (higher is better)"),
    ):
        arms = [a for a in board if a.get(metric) is not None]
        if not arms:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        ys = [a[metric] for a in arms]
        errs = [a.get(f"{metric}:std") or 0 for a in arms]
        ax.bar([a["arm"] for a in arms], ys, yerr=errs, color="tab:blue", alpha=0.8)
        rand = next((a for a in arms if a["arm"] == random_arm), None)
        if rand is not None:
            sd = rand.get(f"{metric}:std") or 0
            ax.axhspan(
                rand[metric] - max(sd, 1e-9),
                rand[metric] + max(sd, 1e-9),
                color="tab:red",
                alpha=0.25,
                label="random arm (± std)",
            )
            ax.axhline(rand[metric], color="tab:red", lw=1)
            ax.legend(fontsize=7)
        lo, hi = min(ys), max(ys)
        pad = (hi - lo) * 0.5 or abs(hi) * 0.05 or 0.1
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=30)
        written.append(_save(fig, out_dir / f"scores_{metric}.png"))

    funnel_keys = sorted({k for a in board for k in a if k.startswith("funnel/") and ":" not in k})
    if funnel_keys:
        fig, ax = plt.subplots(figsize=(7, 4))
        for a in board:
            ax.plot(
                [k.split("/", 1)[1] for k in funnel_keys],
                [float("nan") if a.get(k) is None else a[k] for k in funnel_keys],
                marker="o",
                label=a["arm"],
            )
        ax.set_ylabel("documents remaining")
        ax.set_title("Removal funnel per arm")
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7)
        written.append(_save(fig, out_dir / "removal_funnel.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
