"""The attribution report: per component of an ablated recipe, its effect on the suite's
decision metric, with what it removes (docs/attribution.md).

**Effect.** leave_one_out: the decision metric of the full recipe against the recipe
without the component; add_one: the baseline with the component against the baseline.
Signed so that a positive effect means the component helps the model (for bits per byte,
lower is better: effect = bpb without it - bpb with it). Its interval and P(effect > 0)
come from the replicates of the suite's decision (tasks/report/decide.py): the same
paired item bootstrap and training-noise draws the verdict uses, so seeds and checkpoint
snapshots are part of every interval. Each component is "separated" when its one-sided P
in the observed direction, Holm-adjusted over the components, reaches the suite's `p`.

**Identical data.** A component arm whose dataset equals its reference's in every seed
(the ablation flow found them identical and reused the reference's run:
tasks/attribution/reuse.py) has an effect of exactly 0, with no interval to draw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tasks.attribution.design import AblationDesign
from tasks.attribution.removals import DataSide, Removal, RuleSlices
from tasks.report import decide as D
from tasks.report.plots import save_figure

IDENTICAL = "identical data: reused"


@dataclass
class Effect:
    component: str
    kind: str
    arm: str
    reference: str
    step: str
    effect: float | None  # > 0: the component helps the model
    lo: float | None
    hi: float | None
    p_positive: float | None  # P(effect > 0); None when identical or unscored
    holm_p: float | None  # one-sided, in the observed direction, Holm-adjusted over components
    verdict: str  # helps | hurts | not separated | identical data: reused | no score | training noise unknown
    n_seeds: int = 0
    removal: Removal | None = None


@dataclass
class Attribution:
    suite: str
    metric: str
    higher_is_better: bool
    mode: str
    full: str
    baseline: str | None
    p_target: float
    noise_known: bool
    effects: list[Effect]
    data: DataSide | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return _json_safe(out)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


def identical_data(runs: Sequence[Mapping[str, Any]], arm: str, reference: str) -> bool:
    """Did the arm train on its reference's dataset in every seed both completed?"""
    done = [r for r in runs if r.get("status") == "completed" and r.get("dataset_key")]
    mine = {int(r["seed"]): r["dataset_key"] for r in done if r["arm"] == arm}
    ref = {int(r["seed"]): r["dataset_key"] for r in done if r["arm"] == reference}
    common = sorted(set(mine) & set(ref))
    return bool(common) and all(mine[s] == ref[s] for s in common)


def effects(
    decision: D.Decision,
    design: AblationDesign,
    runs: Sequence[Mapping[str, Any]],
    suite: str,
    data: DataSide | None = None,
    p_target: float = D.LEVEL,
) -> Attribution:
    """Every component's effect from the suite's decision replicates (module docstring)."""
    sign = 1.0 if decision.higher_is_better else -1.0
    q = (1 - D.LEVEL) / 2
    out: list[Effect] = []
    for c in design.components:
        removal = data.removal(c.component) if data is not None else None
        e = Effect(c.component, c.kind, c.arm, c.reference, c.step, None, None, None, None, None, "no score")
        e.removal = removal
        if c.arm not in decision.arms or c.reference not in decision.arms:
            out.append(e)
            continue
        i, j = decision.index(c.arm), decision.index(c.reference)
        e.n_seeds = decision.n_seeds[i]
        if not (math.isfinite(decision.mean[i]) and math.isfinite(decision.mean[j])):
            out.append(e)
            continue
        if identical_data(runs, c.arm, c.reference):
            e.effect, e.lo, e.hi, e.verdict = 0.0, 0.0, 0.0, IDENTICAL
            out.append(e)
            continue
        # with the component minus without it, in the direction where higher is better
        with_, without = (c.reference, c.arm) if design.mode == "leave_one_out" else (c.arm, c.reference)
        d = sign * (decision.replicates(with_) - decision.replicates(without))
        d = d[np.isfinite(d)]
        e.effect = sign * (decision.mean[decision.index(with_)] - decision.mean[decision.index(without)])
        if d.size:
            e.lo, e.hi = float(np.quantile(d, q)), float(np.quantile(d, 1 - q))
            e.p_positive = float((d > 0).mean() + 0.5 * (d == 0).mean())
        out.append(e)
    scored = {e.component: 1.0 - max(e.p_positive, 1.0 - e.p_positive) for e in out if e.p_positive is not None}
    adjusted = D.holm(scored) if scored else {}
    for e in out:
        if e.component not in adjusted:
            continue
        e.holm_p = adjusted[e.component]
        if not decision.noise.known:
            e.verdict = "training noise unknown"
        elif e.holm_p <= 1.0 - p_target:
            e.verdict = "helps" if (e.effect or 0.0) > 0 else "hurts"
        else:
            e.verdict = "not separated"
    notes = []
    if not decision.noise.known:
        notes.append(
            "One seed per arm and no checkpoint snapshots: the intervals hold eval-item noise only, so no "
            "component is called helpful or harmful; add seeds."
        )
    return Attribution(
        suite,
        decision.metric,
        decision.higher_is_better,
        design.mode,
        design.full,
        design.baseline,
        p_target,
        decision.noise.known,
        out,
        data,
        notes,
    )


# ---------------------------------------------------------------- rendering


def _num(v: float | None, digits: int = 4) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.{digits}f}"


def _count(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _anchor(arm: str) -> str:
    from tasks.report.html import arm_anchor

    return arm_anchor(arm)


def samples_arm(a: Attribution, e: Effect) -> str:
    """Whose exclusion samples show what the component removes: the full recipe's (leave
    one out) or the arm that adds it to the baseline (add one)."""
    return a.full if a.mode == "leave_one_out" else e.arm


def table_rows(a: Attribution) -> list[dict[str, Any]]:
    """Flat rows (the table artifact, the JSON and the markdown)."""
    rows = []
    for e in sorted(a.effects, key=_order):
        r = e.removal
        rows.append(
            {
                "component": e.component,
                "kind": e.kind,
                "effect": e.effect,
                "lo": e.lo,
                "hi": e.hi,
                "p_effect_gt_0": e.p_positive,
                "holm_p": e.holm_p,
                "verdict": e.verdict,
                "documents_removed": r.documents if r else None,
                "tokens_removed": r.tokens if r else None,
                "only_it_documents": r.only_documents if r else None,
                "only_it_tokens": r.only_tokens if r else None,
                "arm": e.arm,
                "reference": e.reference,
                "samples": f"python -m flows.inspect {samples_arm(a, e)} --suite {a.suite} --step {e.step}",
            }
        )
    return rows


def _order(e: Effect) -> tuple[float, str]:
    """Most helpful first; unscored last."""
    return (-(e.effect if e.effect is not None else -math.inf), e.component)


def to_markdown(a: Attribution, links: bool = True, title: bool = True) -> str:
    """The attribution table and the slices (markdown; the page renders it, the artifact
    holds it). `links`: each row links to the arm's exclusion samples on the HTML page;
    `title`: start with a heading (the page's section has its own)."""
    better = "higher" if a.higher_is_better else "lower"
    if a.mode == "leave_one_out":
        how = f"the full recipe `{a.full}` against it without the component"
    else:
        how = f"the baseline `{a.baseline}` with the component against the baseline alone"
    unit = a.data.token_unit if a.data is not None else "tokens"
    pool = (
        f" Removals are counted on the pool the components act on: {a.data.pool_documents:,} documents "
        f"({a.data.pool_tokens:,} {unit}) that pass `{a.full}`'s language step; each component applied alone."
        if a.data is not None
        else ""
    )
    lines = [f"## Attribution: which component of `{a.full}` mattered", ""] if title else []
    lines += [
        f"Effect on `{a.metric}` ({better} is better) of each component: {how}. Positive: the component helps "
        f"the model. 95% intervals and P(effect > 0) include training noise and eval-item noise (the suite's "
        f"decision replicates); a component is separated at P >= {a.p_target:.2f}, Holm-adjusted over the "
        f"{len(a.effects)} components.{pool}",
        "",
        "| component | kind | effect [95%] | P(effect > 0) | verdict | documents removed | "
        f"{unit} removed | only it removes (documents / {unit}) | exclusion samples |",
        "|---|---|---|---|---|---:|---:|---:|---|",
    ]
    for e in sorted(a.effects, key=_order):
        r = e.removal
        eff = "–" if e.effect is None else f"{_num(e.effect)} [{_num(e.lo)}, {_num(e.hi)}]"
        if e.verdict == IDENTICAL:
            eff = "0 (exactly)"
        p = "–" if e.p_positive is None else D.fmt_p(e.p_positive)
        who = samples_arm(a, e)
        cmd = f"`python -m flows.inspect {who} --suite {a.suite} --step {e.step}`"
        link = f"[{who}](#excl-{_anchor(who)}) · {cmd}" if links else cmd
        lines.append(
            f"| {e.component} | {e.kind} | {eff} | {p} | {e.verdict} | {_count(r.documents if r else None)} | "
            f"{_count(r.tokens if r else None)} | {_count(r.only_documents if r else None)} / "
            f"{_count(r.only_tokens if r else None)} | {link} |"
        )
    lines += [""] + [f"{n}" for n in a.notes]
    if a.data is not None and a.data.slices:
        lines += ["", slices_markdown(a.data)]
    return "\n".join(lines).rstrip() + "\n"


def slices_markdown(data: DataSide, per_dim: int = 3) -> str:
    """Per rule, the groups it removes above its average share, with counts."""
    lines = [
        "### What each rule removes, by slice",
        "",
        f"Over every document of the recipe's sources ({data.candidates:,}, before the language step): the "
        "groups where the rule removes a larger share than its average, largest excess first; "
        "`removed/in group (x times the average share)`.",
        "",
        "| rule | removes | domains | languages | sources | topics |",
        "|---|---:|---|---|---|---|",
    ]
    for rs in data.slices:
        cells = []
        for dim in ("domain", "language", "source", "topic"):
            got = [s for s in rs.slices if s.dimension == dim][:per_dim]
            cells.append(
                "; ".join(
                    f"{s.group}{f' ({s.label})' if s.label else ''} {s.removed}/{s.documents} (x{s.lift:.1f})"
                    for s in got
                )
                or "–"
            )
        lines.append(
            f"| {rs.rule} | {rs.removed:,} of {rs.documents:,} ({100 * rs.share:.1f}%) | " + " | ".join(cells) + " |"
        )
    if data.topics:
        lines += ["", "Topics (k-means of MiniLM embeddings, tasks/selection/topics.py): "]
        lines.append("; ".join(f"{t}: {', '.join(w)}" for t, w in data.topics.items()))
    return "\n".join(lines)


def to_json(a: Attribution) -> str:
    return json.dumps({**a.as_dict(), "table": _json_safe(table_rows(a))}, indent=2, default=str)


def slice_rows(slices: Sequence[RuleSlices]) -> list[dict[str, Any]]:
    return [
        {"rule": rs.rule, **{k: v for k, v in asdict(s).items()}, "rule_share": rs.share}
        for rs in slices
        for s in rs.slices
    ]


def plot(a: Attribution, path: Path) -> Path | None:
    """Effect with its 95% interval per component, sorted (most helpful on top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [e for e in sorted(a.effects, key=_order) if e.effect is not None]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(7.5, max(2.5, 0.38 * len(shown) + 1.2)))
    colors = {"helps": "tab:green", "hurts": "tab:red", IDENTICAL: "tab:gray"}
    for y, e in enumerate(shown):
        color = colors.get(e.verdict, "tab:blue")
        assert e.effect is not None
        if e.verdict == IDENTICAL:
            ax.plot([0.0], [y], "o", mfc="none", color=color)
            continue
        lo = e.effect if e.lo is None else e.lo
        hi = e.effect if e.hi is None else e.hi
        ax.errorbar([e.effect], [y], xerr=[[e.effect - lo], [hi - e.effect]], fmt="o", capsize=3, color=color)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(range(len(shown)), [_label(e) for e in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"effect on {a.metric} (> 0: the component helps)", fontsize=9)
    ax.set_title(
        f"Attribution of {a.full} ({a.mode.replace('_', '-')}); 95% intervals, training + item noise", fontsize=9
    )
    return save_figure(fig, path)


def _label(e: Effect) -> str:
    tail = {"helps": " *", "hurts": " *", IDENTICAL: " (same data)"}.get(e.verdict, "")
    return f"{e.component}{tail}"
