"""The removal funnel: documents remaining after each named curate stage, the same list of
stages for every arm (a step an arm does not run keeps its count), so arms line up on one
x-axis and each draws a funnel."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tasks.curate.pipeline import STEPS

STAGES: tuple[str, ...] = ("input", *STEPS)  # input, language, filters, dedup, decontaminate, selection, budget
_NUMBERED = re.compile(r"^\d+_")  # older catalogs wrote funnel/<i>_<step>


def _after(counts: Any) -> int | None:
    for k in ("kept", "documents_out", "documents"):
        if isinstance(counts, dict) and k in counts:
            return int(counts[k])
    return None


def stage_counts(stats: dict[str, Any]) -> dict[str, int]:
    """stage -> documents remaining after it, for every stage in STAGES (from stats.json)."""
    n = int(stats.get("documents_in") or 0)
    out = {"input": n}
    removals = stats.get("removals", {})
    for stage in STAGES[1:]:
        if stage in stats.get("steps", []):
            after = _after(removals.get(stage, {}))
            n = after if after is not None else n
        out[stage] = n
    return out


def funnel_metrics(stats: dict[str, Any]) -> dict[str, int]:
    return {f"funnel/{stage}": n for stage, n in stage_counts(stats).items()}


def stage_name(metric: str) -> str:
    """`funnel/filters` (or an older `funnel/2_filters`) -> `filters`."""
    return _NUMBERED.sub("", metric.split("/", 1)[1])


def arm_funnel(arm: dict[str, Any]) -> dict[str, float]:
    """A leaderboard row's funnel on the common stages (older rows' numbered names mapped,
    missing stages carried from the stage before)."""
    got = {stage_name(k): v for k, v in arm.items() if k.startswith("funnel/") and ":" not in k and v is not None}
    out, last = {}, None
    for stage in STAGES:
        last = got.get(stage, last)
        if last is not None:
            out[stage] = last
    return out


def plot_funnel(board: list[dict[str, Any]], path: Path) -> Path | None:
    """One line per arm over STAGES, documents remaining (None when no arm has a funnel)."""
    funnels = {a["arm"]: arm_funnel(a) for a in board}
    funnels = {k: v for k, v in funnels.items() if v}
    if not funnels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    x = list(range(len(STAGES)))
    for arm, f in funnels.items():
        ax.plot([i for i, s in enumerate(STAGES) if s in f], [f[s] for s in STAGES if s in f], marker="o", label=arm)
    ax.set_xticks(x, STAGES, rotation=30)
    ax.set_ylabel("documents remaining")
    ax.set_title("Removal funnel per arm")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
