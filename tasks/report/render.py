"""The leaderboard written out: the full Markdown (leaderboard.md), the compact terminal
table, CSV, JSON and the flat rows of a table artifact, from a tasks/report/model.py
`Report`."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from tasks.report import decide as D
from tasks.report.model import FAMILY_LABEL, SUMMARY, Decision, Report, is_missing


def shown_metrics(report: Report) -> list[str]:
    """Metrics in display order: the decision, aggregates, per-text bpb, per-benchmark prob,
    accuracy where above chance, per-benchmark bpb of the gold answer."""
    from tasks.evaluate.eval_data import BENCHMARKS, LM_TEXTS

    names = list(report.summaries)
    order = [report.decision.name, "bpb/lm", "prob/benchmarks"]
    order += [f"bpb/{t}" for t in LM_TEXTS] + [f"prob/{t}" for t in BENCHMARKS]
    order += [f"acc/{t}" for t in report.accuracy_shown] + [f"bpb/{t}" for t in BENCHMARKS]
    out = []
    for n in order:
        if n in names and n not in out:
            out.append(n)
    return out


def _fmt_num(v: float) -> str:
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def _fmt(arm: dict, col: str) -> str:
    v: Any = arm.get(col)
    if is_missing(v):
        return "–"
    if col in ("documents", "tokens"):
        s = f"{v:,.0f}"
    elif col.endswith("removed"):
        s = f"{100 * v:.1f}%"
    else:
        s = _fmt_num(v)
    if f"{col}:lo" in arm:
        return f"{s} [{_fmt_num(arm[f'{col}:lo'])}, {_fmt_num(arm[f'{col}:hi'])}]"
    std = arm.get(f"{col}:std")
    if arm.get("n_seeds", 1) > 1 and not is_missing(std):
        s += f" ± {std:.4f}"
    return s


def _fmt_snr(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2f}"


def verdict_cells(arm: dict[str, Any]) -> list[str]:
    """P(rank 1), the 95% rank interval and the token contract of one board row."""
    p1 = arm.get("p_rank1")
    lo, hi = arm.get("rank_lo"), arm.get("rank_hi")
    rank = "–" if not lo else (str(lo) if lo == hi else f"{lo}–{hi}")
    return ["–" if p1 is None else D.fmt_p(p1), rank, arm.get("contract", "–")]


def noise_sentence(report: Report) -> str:
    """Which noise the decision's intervals hold, in words."""
    v = report.verdict
    if v is None:
        return "Intervals over eval items only."
    n = v.noise
    seeds = f"{min(v.n_seeds)}–{max(v.n_seeds)}" if min(v.n_seeds) != max(v.n_seeds) else str(max(v.n_seeds))
    if n.source == "none":
        return (
            f"{seeds} seed(s) per arm and no checkpoint snapshots: intervals over eval items only, no training noise."
        )
    parts = []
    if n.seed_df:
        parts.append(f"seed variance pooled over arms ({n.seed_df} df)")
    if math.isfinite(n.ckpt_var):
        parts.append(f"checkpoint snapshots ({n.ckpt_df} df, x{D.CKPT_INFLATION:g} as a {D.PRIOR_DF:g}-df prior)")
    return (
        f"95% intervals with training noise (sd {math.sqrt(n.var):.4f} per run, from {' and '.join(parts)}) "
        f"and eval-item noise; {seeds} seed(s) per arm."
    )


def _summary_cols(report: Report) -> list[str]:
    return [c for c in SUMMARY if any(c in a for a in report.board)]


def _describe(decision: Decision) -> str:
    on = ", ".join(decision.on)
    better = "higher" if decision.higher_is_better else "lower"
    return f"{FAMILY_LABEL[decision.metric]} on {on} (`{decision.name}`, {better} is better)"


def to_markdown(report: Report, title: str = "Leaderboard") -> str:
    d, s = report.decision, report.decided
    lines = [f"## {title}", "", f"**Verdict:** {report.verdict_line()}", ""]
    if s is not None:
        items = ", ".join(f"{t} {n}" for t, n in s.n_items.items())
        lines.append(
            f"**Ranked by {_describe(d)}**. {noise_sentence(report)} Eval items: {items} (paired bootstrap, "
            f"one draw for all arms). SNR {_fmt_snr(report.snr_training.get(d.name))} over these arms "
            f"(largest gap over training noise; items only: {s.snr:.2f})."
        )
    else:
        lines.append(f"Decided by {_describe(d)}. No per-item scores in the catalog: no intervals.")
    lines.append("")
    cols = [d.name] + _summary_cols(report)
    has_p = any("p_better_than_next" in a for a in report.board)
    has_v = report.verdict is not None
    head = (
        ["rank", "arm", "seeds"]
        + cols
        + (["P(better than next)"] if has_p else [])
        + (["P(rank 1)", "rank [95%]", "token contract"] if has_v else [])
    )
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm in report.board:
        mark = " ~" if arm.get("within_noise_of_best") else ""
        cells = [f"{arm.get('rank') or ''}{mark}", arm["arm"], str(arm.get("n_seeds", ""))]
        cells += [_fmt(arm, c) for c in cols]
        if has_p:
            p = arm.get("p_better_than_next")
            cells.append("" if p is None else D.fmt_p(p))
        if has_v:
            cells += verdict_cells(arm)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`~`: plausibly the best: not separated from the leader at P >= "
        f"{report.verdict.p_target if report.verdict else D.LEVEL:.2f} (Holm-adjusted). "
        "The decision metric's interval, P(A>B) and ranks include training noise (seeds and checkpoint "
        "snapshots) and eval-item noise; an arm's own interval also holds item difficulty, which every arm "
        "shares and which cancels in comparisons: compare arms by P(A>B), not by overlapping intervals. "
        "Dataset and training columns are means over seeds (± std with several).",
    ]
    return "\n".join(lines + ["", detail_markdown(report)]).rstrip() + "\n"


def detail_markdown(report: Report) -> str:
    """The P(row better than column) matrix on the decision metric and every metric with its
    interval per arm and its SNR (the full leaderboard's second half; the HTML page's too)."""
    d, s = report.decision, report.decided
    lines: list[str] = []
    if s is not None and len(s.arms) > 1:
        order = [a["arm"] for a in report.board if a["arm"] in s.arms]
        idx = {a: i for i, a in enumerate(s.arms)}
        pm = report.verdict.p_better if report.verdict is not None else s.p_better
        vidx = {a: i for i, a in enumerate(report.verdict.arms)} if report.verdict is not None else idx
        known = report.verdict is not None and report.verdict.noise.known
        noise = "training and item noise" if known else "eval items only: training noise unknown, not a decision"
        lines += [f"### P(row better than column) on `{d.name}` ({noise})", ""]
        lines += ["| | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
        for a in order:
            row = [("–" if a == b else D.fmt_p(pm[vidx[a]][vidx[b]])) for b in order]
            lines.append(f"| {a} | " + " | ".join(row) + " |")
    names = shown_metrics(report)
    if names:
        order = [a["arm"] for a in report.board]
        lines += [""] if lines else []
        lines += ["### Every metric: mean [95% interval] per arm, and its signal-to-noise ratio", ""]
        head = "| metric | SNR (training noise) | SNR (items only) | "
        lines += [head + " | ".join(order) + " |", "|---|---|---|" + "---|" * len(order)]
        by_name = {a["arm"]: a for a in report.board}
        for n in names:
            label = f"**{n}** (decides)" if n == d.name else n
            snr = report.summaries[n].snr
            cells = [_fmt(by_name[a], n) for a in order]
            lines.append(
                f"| {label} | {_fmt_snr(report.snr_training.get(n))} | {_fmt_snr(snr)} | " + " | ".join(cells) + " |"
            )
        lines += [
            "",
            "SNR (training noise), as Heineman et al. (2025) define it: the largest gap between two arms over "
            "the standard deviation of one run's value from seeds and checkpoint snapshots (`–` when neither "
            "is there: one seed, no snapshots of that metric). SNR (items only): standard deviation of the arm "
            "means over the paired-bootstrap noise of the eval items; it leaves training noise out. Intervals "
            "of metrics other than the decision's are over eval items and seeds. "
            "bpb/<benchmark>: bits per byte of the correct answer.",
        ]
        if report.accuracy_hidden:
            lines.append(
                "Accuracy not shown (no arm above chance by more than its standard error): "
                + ", ".join(report.accuracy_hidden)
                + "."
            )
    return "\n".join(lines)


# The compact table's removal columns: share of the arm's input documents each named stage
# removed (tasks/report/funnel.py's common stages; budget folded into selection).
REMOVAL_COLS = (("language", "lang"), ("filters", "filters"), ("dedup", "dedup"), ("decontaminate", "decon"))


def removal_shares(arm: dict[str, Any]) -> dict[str, float]:
    """Stage label -> documents that stage removed / documents in (from the arm's funnel)."""
    from tasks.report.funnel import STAGES, arm_funnel

    f = arm_funnel(arm)
    n_in = f.get("input")
    if not n_in:
        return {}
    out: dict[str, float] = {}
    before = n_in
    labels = dict(REMOVAL_COLS)
    for stage in STAGES[1:]:
        after = f.get(stage, before)
        label = labels.get(stage, "select")  # selection and the budget cut
        out[label] = out.get(label, 0.0) + (before - after) / n_in
        before = after
    return out


def to_compact_markdown(report: Report, title: str = "Leaderboard") -> str:
    """The terminal table (`flows.report --format md`): the decision metric with its 95%
    interval, P(better than the next arm), real tokens and the removal share of each stage.
    Every other metric, the pairwise table and the plots are in leaderboard.md / index.html."""
    d, s = report.decision, report.decided
    better = "higher" if d.higher_is_better else "lower"
    head = f"## {title}\n\n**Verdict:** {report.verdict_line()}\n\nRanked by `{d.name}` ({better} is better)"
    if s is not None:
        items = sum(s.n_items.values())
        head += (
            f"; {noise_sentence(report)} SNR {_fmt_snr(report.snr_training.get(d.name))}; {items:,} eval items, paired."
        )
    else:
        head += "; no per-item scores in the catalog, so no intervals."
    labels = [lab for _, lab in REMOVAL_COLS] + ["select"]
    cols = ["rank", "arm", "seeds", f"{d.name} [95%]", "P(>next)", "P(rank 1)", "rank [95%]", "contract", "tokens"]
    cols += [f"-{lab}" for lab in labels]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for arm in report.board:
        p = arm.get("p_better_than_next")
        shares = removal_shares(arm)
        tokens = arm.get("tokens", arm.get("unique_tokens"))  # real tokens of the arm's dataset
        cells = [
            f"{arm.get('rank') or ''}{' ~' if arm.get('within_noise_of_best') else ''}",
            arm["arm"],
            str(arm.get("n_seeds", "")),
            _fmt(arm, d.name),
            "" if p is None else D.fmt_p(p),
            *verdict_cells(arm),
            "–" if is_missing(tokens) else f"{tokens:,.0f}",
        ] + [f"{100 * shares[lab]:.1f}%" if lab in shares else "–" for lab in labels]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`~`: plausibly the best (not separated from the leader, Holm-adjusted). Intervals, P and ranks "
        "include training noise. -stage: share of the arm's input documents that stage removed.",
    ]
    return "\n".join(lines)


def _csv_cols(report: Report) -> list[str]:
    cols = ["rank", "arm", "n_seeds", "within_noise_of_best", "p_better_than_next"]
    cols += ["p_rank1", "rank_lo", "rank_hi", "plausible_best", "contract", "verdict"] + _summary_cols(report)
    for n in shown_metrics(report) or [report.decision.name]:
        cols += [n, f"{n}:lo", f"{n}:hi"]
    return cols


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_csv_cols(report), extrasaction="ignore")
    writer.writeheader()
    line = report.verdict_line()
    writer.writerows({**a, "verdict": line} for a in report.board)
    return buf.getvalue()


def to_json(report: Report) -> str:
    data = {
        "verdict": report.verdict_line(),
        "decision": {
            **report.decision.as_dict(),
            "snr": report.snr_training.get(report.decision.name),
            "snr_items_only": report.decided.snr if report.decided else None,
            **({"with_training_noise": report.verdict.as_dict()} if report.verdict is not None else {}),
        },
        "n_seeds": report.n_seeds,
        "board": report.board,
        "metrics": {n: s.as_dict() for n, s in report.summaries.items()},
        "snr": {n: report.snr_training.get(n) for n in report.summaries},
        "snr_items_only": {n: s.snr for n, s in report.summaries.items()},
        "training_noise_source": report.training_source,
        "chance": report.chance,
        "accuracy_shown": report.accuracy_shown,
        "accuracy_hidden": report.accuracy_hidden,
    }
    return json.dumps(json_safe(data), indent=2, default=str)


def json_safe(x: Any) -> Any:
    """NaN / inf -> None, recursively, so the JSON is standard."""
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def table_rows(report: Report) -> list[dict[str, Any]]:
    """Flat rows for a table artifact: rank, arm, the decision metric with its interval."""
    n = report.decision.name
    return [
        {
            "rank": a.get("rank"),
            "arm": a["arm"],
            "tied_with_best": a.get("within_noise_of_best", False),
            n: a.get(n),
            f"{n}:lo": a.get(f"{n}:lo"),
            f"{n}:hi": a.get(f"{n}:hi"),
            "p_better_than_next": a.get("p_better_than_next"),
            "p_rank1": a.get("p_rank1"),
            "rank_interval": f"{a.get('rank_lo')}-{a.get('rank_hi')}" if a.get("rank_lo") else None,
            "contract": a.get("contract"),
            "verdict": report.verdict_line(),
            **{c: a.get(c) for c in _summary_cols(report)},
        }
        for a in report.board
    ]
