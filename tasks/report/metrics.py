"""Turn one arm's stage outputs into the leaderboard's numbers (pure, testable)."""

from __future__ import annotations

import math
from typing import Any

from tasks.report.funnel import funnel_metrics


def _after(step_counts: dict[str, Any]) -> int | None:
    for k in ("kept", "documents_out", "documents"):
        if isinstance(step_counts, dict) and k in step_counts:
            return int(step_counts[k])
    return None


def dataset_metrics(stats: dict[str, Any]) -> dict[str, float]:
    """documents, filter/dedup removal fractions, KL reduction and the removal funnel."""
    out: dict[str, float] = {"documents": stats["documents"], "est_tokens": stats.get("est_tokens", 0)}
    for key in ("unique_tokens", "pool_tokens"):  # real tokens of the suite tokenizer (when cut to a budget)
        if stats.get(key) is not None:
            out[key] = float(stats[key])
    if stats.get("kl_reduction") is not None:
        out["kl_reduction"] = float(stats["kl_reduction"])
    # the funnel on named stages common to every arm (tasks/report/funnel.py)
    out.update(funnel_metrics(stats))
    documents_in = stats.get("documents_in") or 0
    removals = stats.get("removals", {})
    before = documents_in
    for step in stats.get("steps", []):
        after = _after(removals.get(step, {}))
        if after is None:
            continue
        if step in ("filters", "dedup") and before:
            out[f"{step.replace('filters', 'filter')}_removed"] = (before - after) / before
        before = after
    return out


def train_metrics(result: dict[str, Any]) -> dict[str, float]:
    out = {}
    for src, dst in (
        ("final_loss_avg10", "train_loss"),
        ("tokens_trained", "train_tokens"),
        ("dataset_tokens", "tokens"),
        ("epochs", "epochs"),
    ):
        if result.get(src) is not None:
            out[dst] = float(result[src])
    return out


def eval_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """`bpb/<task>` (held-out texts and benchmarks' gold answers), `prob/<task>`,
    `acc_centered/<task>` and the means from an evaluation's score rows (task, metric,
    value), as tasks/evaluate/harness.py writes them to scores.json."""
    names = {"bits_per_byte": "bpb", "centered_acc": "acc_centered", "prob": "prob"}
    out = {}
    for r in rows:
        prefix = names.get(r["metric"])
        if prefix is None or r["value"] is None or math.isnan(float(r["value"])):
            continue
        out[f"{prefix}_mean" if r["task"] == "mean" else f"{prefix}/{r['task']}"] = float(r["value"])
    return out
