"""The report's paired bootstrap over a subset of a suite's arms, for sweep reports.

`decision_boot` draws exactly as tasks/report/stats.py does for the leaderboard (items
within each task, seeds, one draw for every arm; the draws depend only on the numbers of
items and seeds), so a sweep's intervals agree with the leaderboard's. `difference`
turns two arms' replicates into the difference with its 95% interval and P(A better).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tasks.report.stats import LEVEL, N_BOOT, Boot, bootstrap, task_arrays


def decision_boot(
    items: Sequence[Mapping[str, Any]],
    family: str,
    tasks: Sequence[str],
    arms: Sequence[str],
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Boot:
    """Bootstrap of the metric `family` averaged over `tasks`, for `arms` in this order."""
    seeds = sorted({int(r["seed"]) for r in items})
    parts = []
    for t in tasks:
        rows = [r for r in items if r["metric"] == family and r["task"] == t]
        ts = task_arrays(rows, family, t, arms, seeds)
        if ts is not None:
            parts.append(ts)
    if not parts:
        raise ValueError(f"no per-item scores of {family} on {list(tasks)} for arms {list(arms)}")
    return bootstrap(parts, n_boot, seed)


def difference(boot: Boot, a: int, b: int, higher_is_better: bool, level: float = LEVEL) -> dict[str, float]:
    """Arm a - arm b: the observed difference, its `level` percentile interval, P(a better)."""
    d = boot.replicates[:, a] - boot.replicates[:, b]
    q = (1 - level) / 2
    ok = d[~np.isnan(d)]
    s = ok if higher_is_better else -ok
    p = float(((s > 0).sum() + 0.5 * (s == 0).sum()) / max(len(s), 1))
    return {
        "diff": float(boot.point[a] - boot.point[b]),
        "lo": float(np.quantile(ok, q)) if len(ok) else float("nan"),
        "hi": float(np.quantile(ok, 1 - q)) if len(ok) else float("nan"),
        "p_better": p,
    }
