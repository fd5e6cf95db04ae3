"""A sweep's report from the suite's leaderboard: which analysis a sweep gets
(`sweep_kind`), its points' observations (`observed`, `mixture_points`), the grid table,
the rows of the Prefect table artifact and the report files `sweep.{md,json}`.
flows/sweep.py runs the arms and calls these."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tasks.sweep import mixture_search as MS
from tasks.sweep import repetition as R
from tasks.sweep.design import SweepPoint
from tasks.sweep.spec import EPOCHS, DirichletAxis, EpochsAxis, SweepSpec

Board = dict[str, dict[str, Any]]  # arm -> its leaderboard row


def sweep_kind(sweep: SweepSpec) -> str:
    """merge (a `merge:` section), mixture (one Dirichlet axis), repetition (one epochs axis) or grid."""
    if sweep.merge is not None:
        return "merge"
    if len(sweep.axes) == 1:
        (path, axis), *_ = sweep.axes.items()
        if isinstance(axis, DirichletAxis):
            return "mixture"
        if path == EPOCHS:
            return "repetition"
    return "grid"


def observed(board: Board, arm: str, metric: str) -> tuple[float | None, float | None, float | None]:
    """An arm's metric and its 95% interval (None: the arm failed or is not on the board)."""
    a = board.get(arm) or {}
    v = a.get(metric)
    return v, a.get(f"{metric}:lo", v), a.get(f"{metric}:hi", v)


def unique_tokens(board: Board, arm: str) -> float | None:
    v = (board.get(arm) or {}).get("unique_tokens")
    return None if v is None else float(v)


def mixture_point(board: Board, arm: str, weights: dict[str, float], metric: str) -> MS.MixturePoint:
    v, lo, hi = observed(board, arm, metric)
    return MS.MixturePoint(arm, weights, v, lo, hi, None, unique_tokens(board, arm))


def mixture_points(board: Board, points: Sequence[SweepPoint], path: str, metric: str) -> list[MS.MixturePoint]:
    """The sampled mixtures of a Dirichlet sweep on `path` with their observations."""
    return [mixture_point(board, p.name, dict(p.values[path]), metric) for p in points]


def repetition_form(sweep: SweepSpec, train_tokens: bool) -> str:
    """What an epochs sweep holds fixed: its axis's `fix`, else training tokens when the
    suite sets them (`train_tokens`), else unique tokens."""
    axis = sweep.axes[EPOCHS]
    if isinstance(axis, EpochsAxis):
        fixed = axis.fix
    else:
        fixed = "train_tokens" if train_tokens else "unique_tokens"
    return (
        "fixed training tokens (unique tokens varied)"
        if fixed == "train_tokens"
        else "fixed unique tokens (training tokens varied)"
    )


def scored_epochs(board: Board, metric: str, points: Sequence[SweepPoint]) -> list[SweepPoint] | None:
    """The points of an epochs sweep that were scored, or None when they span fewer than
    two epoch counts (no cost of repetition to measure)."""
    scored = [p for p in points if board.get(p.name, {}).get(metric) is not None]
    if len({float(p.values[EPOCHS]) for p in scored}) < 2:
        return None
    return scored


def grid_table(
    board: Board, metric: str, suite: str, sweep: SweepSpec, points: Sequence[SweepPoint]
) -> tuple[str, list[dict]]:
    """The decision metric per point of any other sweep: markdown and rows."""
    paths = list(sweep.axes)
    rows = []
    for p in points:
        v, lo, hi = observed(board, p.name, metric)
        rows.append({"arm": p.name, **{k: json.dumps(p.values[k]) for k in paths}, metric: v, "lo": lo, "hi": hi})
    lines = [f"## Sweep {sweep.name or ''}: {suite}", "", f"| arm | {' | '.join(paths)} | {metric} [95%] |"]
    lines.append("|---|" + "---|" * len(paths) + "---|")
    for r in rows:
        val = "failed" if r[metric] is None else f"{r[metric]:.4f} [{r['lo']:.4f}, {r['hi']:.4f}]"
        lines.append(f"| {r['arm']} | " + " | ".join(str(r[k]) for k in paths) + f" | {val} |")
    return "\n".join(lines) + "\n", rows


def mixture_rows(sweep: str | None, ms: MS.MixtureSearch) -> list[dict]:
    """The table artifact's rows of a mixture search: each point (and the optimum's arm)."""
    return [
        {
            "sweep": sweep,
            "arm": p.arm,
            **p.weights,
            "observed": p.observed,
            "lo": p.lo,
            "hi": p.hi,
            "predicted": p.held_out if p is not ms.optimum_observed else ms.optimum.predicted,
        }
        for p in ms.points + ([ms.optimum_observed] if ms.optimum_observed else [])
    ]


def repetition_rows(sweep: str | None, cost: R.RepetitionCost) -> list[dict]:
    return [
        {"sweep": sweep, "arm": a, "epochs": e, "value": v, "lo": lo, "hi": hi}
        for a, e, v, lo, hi in zip(cost.arms, cost.epochs, cost.values, cost.lo, cost.hi)
    ]


def write_report(out: Path, text: str, result: dict[str, Any]) -> None:
    """`sweep.md` and `sweep.json` in the sweep's report folder."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.md").write_text(text)
    (out / "sweep.json").write_text(json.dumps(result, indent=2, default=str))


def embed_png(png: Path) -> str:
    """A PNG as a markdown image with its bytes inline (Prefect artifacts hold no files)."""
    return f"![{png.stem}](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})"
