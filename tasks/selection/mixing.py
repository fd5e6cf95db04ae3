"""Mixtures: turn selected documents into a concrete token plan per group and phase.

Groups are sources, URL domains (`group_by: domain`) or embedding topics (`group_by: topic`,
the cached `topic` column of tasks/selection/topics.py). Each phase of the token budget
gets target shares per group, from explicit `weights` or temperature sampling
(share ~ available_tokens^(1/T)); the last `final_phase.fraction` of the tokens can use a
different mixture (domain upsampling at the end of training). Before that, documents can
be upsampled FineWeb2-style by duplicate-cluster size x quality percentile.

A group's target T_g against its available tokens A_g (after upsampling) gives its epochs
e = min(T_g / A_g, max_epochs). Every document then gets floor(e * r_d) copies, and the
remaining tokens are filled by one extra copy of documents drawn without replacement
with probability ~ the fractional part (Efraimidis-Spirakis keys from a seeded hash of
the doc_id), stopping on whichever side of the target is closer (error < one document).
All draws depend on (seed, doc_id) only, so plans are reproducible bit for bit.

The result is a table doc_id, repeat (>= 1)[, phase] that the dataset writer honours,
and the plan: per phase and group, available / target / planned tokens and epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.sampling import hash_uniform, quality_percentile, rehydration_copies, token_counts
from tasks.selection.spec import MixtureSpec, PhaseSpec


def group_values(table: pa.Table, group_by: str) -> list[str]:
    if group_by not in table.column_names:
        raise ValueError(
            f"mixture groups by {group_by!r} but the selected documents have no such column "
            f"(columns: {', '.join(table.column_names)})"
        )
    return [v if v is not None else "" for v in table.column(group_by).to_pylist()]


def duplicate_counts(table: pa.Table) -> np.ndarray:
    """Each document's duplicate-cluster size: `cluster_size`, else the largest of the dedup
    step's `<mode>_cluster_size` columns (tasks/dedup/apply.py names them so), else 1."""
    names = ["cluster_size"] if "cluster_size" in table.column_names else []
    names = names or [c for c in table.column_names if c.endswith("_cluster_size")]
    size = np.ones(table.num_rows, dtype=np.int64)
    for name in names:
        col = table.column(name).to_numpy(zero_copy_only=False)
        size = np.maximum(size, np.nan_to_num(col.astype(np.float64), nan=1).astype(np.int64))
    return size


def upsample_factors(table: pa.Table, spec: MixtureSpec) -> np.ndarray:
    """Base copies per document: cluster-size step factor, its extra copies scaled by the
    document's quality percentile (FineWeb2 rehydration), stochastically rounded."""
    n = table.num_rows
    up = spec.upsample
    if up is None:
        return np.ones(n)
    size = duplicate_counts(table)
    steps = sorted(up.cluster_size)
    factor = np.ones(n)
    for min_size, f in steps:
        factor[size >= min_size] = f
    quality = np.ones(n)
    if up.quality_column and up.quality_column in table.column_names:
        quality = quality_percentile(table.column(up.quality_column).to_numpy(zero_copy_only=False))
    return rehydration_copies(table.column("doc_id").to_pylist(), factor, quality, spec.seed, "upsample", up.max_repeat)


def shares(
    available: dict[str, float], weights: dict[str, float] | None, temperature: float | None, default_weight: float
) -> dict[str, float]:
    """Target token share per group (sums to 1 over groups with data)."""
    groups = [g for g, a in available.items() if a > 0]
    if weights is not None:
        w = {g: float(weights.get(g, default_weight)) for g in groups}
    else:
        t = temperature or 1.0
        w = {g: available[g] ** (1.0 / t) for g in groups}
    total = sum(w.values())
    if total <= 0:
        raise ValueError(
            f"mixture: no group with data has a positive weight (groups: {sorted(groups)}, weights: {weights})"
        )
    return {g: v / total for g, v in w.items()}


FILL_TOLERANCE = 0.002  # a group's planned tokens end within 0.2% of its target when documents allow


def _fill(order: np.ndarray, tokens: np.ndarray, remaining: float, tolerance: float) -> np.ndarray:
    """Documents (in `order`, the weighted draw) to copy once more so their tokens come
    closest to `remaining`. Two plans, the closer one wins: (a) the prefix of the order
    that fits, plus the next document if that lands nearer; (b) that prefix, then the next
    documents that still fit until within `tolerance`, plus the remaining document that
    lands nearest if it is nearer than stopping. (a) alone missed small budgets by up to
    half a long document per group; (b) alone could stop short of a target that needs
    every document of a group."""
    cum = np.cumsum(tokens[order])
    n_fit = int(np.searchsorted(cum, remaining, side="right"))
    gap = remaining - (float(cum[n_fit - 1]) if n_fit else 0.0)
    plan_a = list(order[:n_fit])
    err_a = gap
    if n_fit < len(order) and float(tokens[order[n_fit]]) - gap < gap:
        plan_a.append(order[n_fit])
        err_a = float(tokens[order[n_fit]]) - gap
    plan_b, gap_b = list(order[:n_fit]), gap
    rest = []
    for i in order[n_fit:]:
        if gap_b > tolerance and tokens[i] <= gap_b:
            plan_b.append(i)
            gap_b -= float(tokens[i])
        else:
            rest.append(i)
    err_b = gap_b
    if gap_b > tolerance and rest:
        nearest = min(rest, key=lambda i: abs(float(tokens[i]) - gap_b))
        if float(tokens[nearest]) - gap_b < gap_b:
            plan_b.append(nearest)
            err_b = float(tokens[nearest]) - gap_b
    return np.asarray(plan_b if err_b <= err_a else plan_a, dtype=np.int64)


def _allocate(
    ids: list[str], tokens: np.ndarray, base: np.ndarray, target: float, max_epochs: float, seed: int, purpose: str
) -> tuple[np.ndarray, float]:
    """Copies per document so that the group's tokens reach `target` (or the epoch cap)."""
    available = float((tokens * base).sum())
    if available <= 0 or target <= 0:
        return np.zeros(len(ids), dtype=np.int64), 0.0
    epochs = min(target / available, max_epochs)
    want = epochs * base
    copies = np.floor(want).astype(np.int64)
    frac = want - copies
    remaining = min(target, epochs * available) - float((copies * tokens).sum())
    cand = np.flatnonzero(frac > 1e-12)
    if remaining > 0 and len(cand):
        u = hash_uniform([ids[i] for i in cand], seed, purpose)
        key = np.log(u) / frac[cand]  # Efraimidis-Spirakis: larger key first
        order = cand[np.lexsort((cand, -key))]
        copies[_fill(order, tokens, remaining, max(1.0, FILL_TOLERANCE * target))] += 1
    return copies, epochs


def plan_mixture(selected: pa.Table, spec: MixtureSpec, token_budget: int | None) -> tuple[pa.Table, dict[str, Any]]:
    """Resolve the mixture over `selected` (doc_id, group column, n_tokens/n_chars/text,
    optional cluster_size and quality) into (doc_id, repeat[, phase]) and the token plan."""
    selected = selected.sort_by("doc_id")
    ids = selected.column("doc_id").to_pylist()
    tokens = token_counts(selected).astype(np.float64)
    groups = np.asarray(group_values(selected, spec.group_by), dtype=object)
    base = upsample_factors(selected, spec)
    names = sorted(set(groups.tolist()))
    available = {g: float((tokens * base)[groups == g].sum()) for g in names}
    natural = sum(available.values())
    budget = float(token_budget) if token_budget is not None else natural
    phases: list[tuple[str, float, PhaseSpec | MixtureSpec]] = []
    if spec.final_phase is not None:
        f = spec.final_phase
        phases = [("main", budget * (1 - f.fraction), spec), (f.name, budget * f.fraction, f)]
    else:
        phases = [("main", budget, spec)]
    rows_id, rows_rep, rows_phase = [], [], []
    plan: dict[str, Any] = {
        "group_by": spec.group_by,
        "token_budget": budget,
        "available_tokens": natural,
        "phases": [],
    }
    for phase_name, phase_budget, mix in phases:
        temperature = mix.temperature if (mix.weights is not None or mix.temperature is not None) else spec.temperature
        weights = mix.weights if (mix.weights is not None or mix.temperature is not None) else spec.weights
        share = shares(available, weights, temperature, spec.default_weight)
        phase_plan: dict[str, Any] = {"name": phase_name, "target_tokens": phase_budget, "groups": {}}
        for g in names:
            members = np.flatnonzero(groups == g)
            target = phase_budget * share.get(g, 0.0)
            copies, epochs = _allocate(
                [ids[i] for i in members],
                tokens[members],
                base[members],
                target,
                spec.max_epochs,
                spec.seed,
                f"mix:{phase_name}:{g}",
            )
            planned = float((copies * tokens[members]).sum())
            phase_plan["groups"][g] = {
                "available_tokens": available[g],
                "share": share.get(g, 0.0),
                "target_tokens": target,
                "planned_tokens": planned,
                "epochs": epochs,
                "documents": int((copies > 0).sum()),
                "capped": bool(target > 0 and planned < target * 0.999),
            }
            for i, c in zip(members, copies):
                if c > 0:
                    rows_id.append(ids[i])
                    rows_rep.append(int(c))
                    rows_phase.append(phase_name)
        phase_plan["planned_tokens"] = sum(v["planned_tokens"] for v in phase_plan["groups"].values())
        plan["phases"].append(phase_plan)
    plan["planned_tokens"] = sum(p["planned_tokens"] for p in plan["phases"])
    cols = {"doc_id": pa.array(rows_id, pa.string()), "repeat": pa.array(rows_rep, pa.int32())}
    if spec.final_phase is not None:
        cols["phase"] = pa.array(rows_phase, pa.string())
    out = pa.table(cols)
    order = ["doc_id", "phase"] if "phase" in cols else ["doc_id"]
    return out.sort_by([(c, "ascending") for c in order]), plan
