"""One self-contained HTML page per suite: `reports/<suite>/index.html`.

It holds the leaderboard (benchmark accuracy only for tasks where some arm is above
chance), every plot inlined as a base64 PNG, the removal funnel on one list of named
stages, each arm's composition by source, language and domain, its data card and a few
of its exclusion samples, with links to the card files copied beside the page. Nothing is
fetched when the page opens: no scripts, no fonts, no network.

`reports/` is `$WINNOW_REPORTS` or `./reports` (gitignored).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.workspace import Workspace
from tasks.curate import exclusions as X
from tasks.inspect.resolve import FoundDataset, suite_datasets
from tasks.report import cards
from tasks.report.decide import fmt_p
from tasks.report.funnel import STAGES, arm_funnel
from tasks.report.plots import save_figure
from tasks.report.render import verdict_cells

SAMPLES_PER_REASON = 2  # exclusion samples shown per reason on the page (all N are in the Parquet)
TOP_GROUPS = 8  # sources/languages per composition bar before "other"


def reports_root() -> Path:
    return Path(os.environ.get("WINNOW_REPORTS") or "reports").expanduser().resolve()


@dataclass(frozen=True)
class Section:
    """A section of the page after the leaderboard (e.g. the attribution of an `ablate:`
    suite): a title, markdown and its plots."""

    title: str
    markdown: str
    plots: list[Path] = field(default_factory=list)

    def html(self) -> str:
        images = "".join(_img(p, p.stem.replace("_", " ")) for p in self.plots if Path(p).exists())
        plots = f"<div class='plots'>{images}</div>" if images else ""
        return f"<h2>{_e(self.title)}</h2>{plots}{_md(self.markdown)}"


@dataclass
class ArmData:
    arm: str
    ref: FoundDataset
    stats: dict[str, Any]
    card: dict[str, Any]
    exclusions: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- cards and arms


def refresh_cards(ws: Workspace, suite: str, board: list[dict[str, Any]], runs: list[dict]) -> dict[str, ArmData]:
    """Every completed arm's dataset with its card (written when missing, e.g. a dataset
    curated before cards existed) carrying the tokens each arm trained on."""
    rows = {a["arm"]: a for a in board}
    out = {}
    for arm, ref in suite_datasets(ws, suite).items():
        card = cards.read_card(ref.dir)
        if card is None:
            recipe = _recipe_of(ws, ref)
            card = cards.build_card(ws, ref.dir, recipe)
        row = rows.get(arm, {})
        trained = [t for t in (card["tokens"].get("trained_by") or []) if (t["suite"], t["arm"]) != (suite, arm)]
        if row.get("train_tokens") is not None:
            trained.append({"suite": suite, "arm": arm, "tokens": row.get("train_tokens"), "epochs": row.get("epochs")})
        card["tokens"]["trained_by"] = trained
        if trained:
            card["tokens"]["trained"], card["tokens"]["epochs"] = trained[-1]["tokens"], trained[-1]["epochs"]
        cards.write_card(ws, ref.dir, card)
        try:
            excl = X.select(X.read_exclusions(ref.dir), n=SAMPLES_PER_REASON)
        except FileNotFoundError:
            excl = []
        out[arm] = ArmData(arm, ref, ref.stats, card, excl)
    return out


def _recipe_of(ws: Workspace, ref: FoundDataset) -> dict[str, Any]:
    """The recipe an arm ran with, as the catalog recorded it."""
    from tasks.core.catalog import Catalog

    for r in Catalog(ws.catalog_path).query("arm_datasets", {"suite": ref.suite}):
        if r["arm"] == ref.label and r.get("recipe"):
            return json.loads(r["recipe"])
    return {"name": ref.label, "note": "recipe not recorded"}


# ---------------------------------------------------------------- plots


def plot_composition(arms: dict[str, ArmData], path: Path) -> Path | None:
    """Stacked bars: each arm's tokens (characters) by source and by language."""
    if not arms:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.5 * len(arms) + 2.2), sharey=True)
    names = list(arms)
    for ax, key, title in ((axes[0], "sources_mix", "by source"), (axes[1], "language_mix", "by language")):
        totals: dict[str, float] = {}
        for a in arms.values():
            for v, c in a.stats.get(key, {}).items():
                totals[v] = totals.get(v, 0) + c["characters"]
        top = [v for v, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_GROUPS]]
        left = [0.0] * len(names)
        for v in [*top, "other"]:
            shares = []
            for a in arms.values():
                mix = a.stats.get(key, {})
                total = sum(c["characters"] for c in mix.values()) or 1
                got = (
                    sum(c["characters"] for k, c in mix.items() if k not in top)
                    if v == "other"
                    else mix.get(v, {}).get("characters", 0)
                )
                shares.append(got / total)
            if v == "other" and not any(shares):
                continue
            ax.barh(names, shares, left=left, label=v)
            left = [x + s for x, s in zip(left, shares)]
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of characters")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="lower right", framealpha=0.8)
    return save_figure(fig, path, dpi=100)


# ---------------------------------------------------------------- HTML


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _num(v: Any, pct: bool = False, count: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if pct:
        return f"{100 * v:.1f}%"
    if count or isinstance(v, int) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.4f}"


_COUNTS = {"documents", "tokens", "train_tokens"}


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return (
        f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"><figcaption>{_e(alt)}</figcaption></figure>'
    )


def _md(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def arm_anchor(arm: str) -> str:
    """The page's id of an arm's section (`card-<id>`) and exclusion samples (`excl-<id>`)."""
    return "".join(c if c.isalnum() else "-" for c in arm)


_anchor = arm_anchor


def above_chance_tasks(board: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """acc_centered/<task> columns where some arm is above chance (centered accuracy > 0,
    by more than its seed std where there are seeds), and the tasks left out."""
    tasks = sorted({k for a in board for k in a if k.startswith("acc_centered/") and ":" not in k})
    shown: list[str] = []
    hidden: list[str] = []
    for t in tasks:
        above = any(
            a.get(t) is not None and a[t] > (a.get(f"{t}:std") or 0.0) for a in board if not math.isnan(a.get(t) or 0.0)
        )
        (shown if above else hidden).append(t)
    return shown, hidden


def leaderboard_html(
    board: list[dict[str, Any]],
    arms: dict[str, ArmData],
    decision: str = "bpb_mean",
    decision_label: str = "",
    accuracy: bool = True,
) -> str:
    """The ranked arms: the deciding metric first (with its 95% interval where the board
    has `<metric>:lo`/`:hi`), held-out bits per byte, accuracy only above chance, data."""
    # Aggregates only: every per-text and per-benchmark metric, with its SNR, is in the
    # "Every metric" section below (a 20-column table does not fit a screen).
    agg = [k for k in ("bpb/lm", "prob/benchmarks") if k != decision]
    # accuracy columns only without per-item scores: with them, "Every metric" shows accuracy
    # where it is above chance by more than its standard error (tasks/report/model.py)
    acc, hidden = above_chance_tasks(board) if accuracy else ([], [])
    cols = [
        (decision, decision_label or f"{decision} (decides)", False),
        *[(c, c, False) for c in agg],
        *([("acc_centered_mean", "centered acc (mean)", False)] if accuracy else []),
        *[(c, c, False) for c in acc],
        ("documents", "documents", False),
        ("tokens", "tokens", False),
        ("train_tokens", "trained tokens", False),
        ("filter_removed", "filter removed", True),
        ("dedup_removed", "dedup removed", True),
    ]
    cols = [c for c in cols if any(a.get(c[0]) is not None for a in board)]
    has_p = any(a.get("p_better_than_next") is not None for a in board)
    has_v = any(a.get("p_rank1") is not None for a in board)
    rows = []
    for a in board:
        name = a["arm"]
        link = f'<a href="#card-{_anchor(name)}">{_e(name)}</a>' if name in arms else _e(name)
        cells = [f"{a.get('rank', '')}{' ~' if a.get('within_noise_of_best') else ''}", link]
        for key, _, pct in cols:
            s = _num(a.get(key), pct, key in _COUNTS)
            std = a.get(f"{key}:std")
            if a.get(f"{key}:lo") is not None and a.get(f"{key}:hi") is not None:
                s += f" [{_num(a[f'{key}:lo'])}, {_num(a[f'{key}:hi'])}]"
            elif a.get("n_seeds", 1) > 1 and std is not None and not math.isnan(std) and not pct:
                s += f" ± {std:.4f}"
            cells.append(s)
        if has_p:
            p = a.get("p_better_than_next")
            cells.append("" if p is None else fmt_p(p))
        if has_v:
            cells += [_e(c) for c in verdict_cells(a)]
        rows.append(cells)
    note = ""
    if hidden:
        note = (
            '<p class="note">Benchmarks where no arm is above chance (centered accuracy ≤ 0) are left out: '
            + ", ".join(_e(h.split("/", 1)[1]) for h in hidden)
            + ".</p>"
        )
    head = ["rank", "arm"] + [_e(c[1]) for c in cols] + (["P(better than next)"] if has_p else [])
    head += ["P(rank 1)", "rank [95%]", "token contract"] if has_v else []
    return _table(head, rows, "board") + note


def funnel_html(board: list[dict[str, Any]]) -> str:
    rows = []
    for a in board:
        f = arm_funnel(a)
        if f:
            rows.append([_e(a["arm"]), *[_num(f.get(s), count=True) for s in STAGES]])
    return _table(["arm", *STAGES], rows, "funnel") if rows else "<p>No funnel recorded.</p>"


def composition_html(a: ArmData) -> str:
    def mix(key: str) -> str:
        m = a.stats.get(key, {})
        total = sum(c["characters"] for c in m.values()) or 1
        rows = [[_e(k), f"{c['documents']:,}", f"{100 * c['characters'] / total:.1f}%"] for k, c in m.items()]
        return _table([key.split("_")[0], "documents", "share of characters"], rows[: TOP_GROUPS * 2], "mix")

    domains = list(a.stats.get("top_domains", {}).items())[:10]
    dom = _table(["domain", "documents"], [[_e(k), f"{v:,}"] for k, v in domains], "mix")
    return f'<div class="mixes">{mix("sources_mix")}{mix("language_mix")}{dom}</div>'


def _rel(target: Path, base: Path) -> str:
    try:
        return os.path.relpath(target, base)
    except ValueError:
        return target.as_uri()


def arm_section(a: ArmData, out_dir: Path) -> str:
    card_md = out_dir / "cards" / f"{a.arm}.md"
    card_json = out_dir / "cards" / f"{a.arm}.json"
    excl = a.ref.dir / X.FILE
    links = [
        f'<a href="{_e(_rel(card_md, out_dir))}">card.md</a>',
        f'<a href="{_e(_rel(card_json, out_dir))}">card.json</a>',
    ]
    if excl.exists():
        links.append(f'<a href="{_e(excl.as_uri())}">exclusions.parquet</a>')
    samples = (
        _md(X.to_markdown(a.exclusions, f"Removed from {a.arm} ({SAMPLES_PER_REASON} per reason)"))
        if a.exclusions
        else "<p>No exclusion sample recorded for this dataset.</p>"
    )
    return (
        f'<section class="arm" id="card-{_anchor(a.arm)}"><h2>{_e(a.arm)} '
        f"<small>dataset {_e(a.ref.key)}</small></h2>"
        f"<p>{' · '.join(links)} · <code>python -m flows.inspect {_e(a.arm)} --suite {_e(a.ref.suite)}</code></p>"
        f"<h3>Composition</h3>{composition_html(a)}"
        f'<details><summary>Data card</summary><div class="card">{_md(cards.to_markdown(a.card))}</div></details>'
        f'<details id="excl-{_anchor(a.arm)}"><summary>Exclusion samples</summary>'
        f'<div class="excl">{samples}</div></details></section>'
    )


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f2f2f2} td:first-child,td:nth-child(2){text-align:left}
.mix td{text-align:right} .mix td:first-child{text-align:left}
.mixes{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
.plots{display:flex;flex-wrap:wrap;gap:1em} figure{flex:1 1 45%;max-width:560px;margin:0}
img{width:100%;border:1px solid #eee}
figcaption{font-size:.8em;color:#666} .note{font-size:.85em;color:#555}
section.arm{border-top:2px solid #ddd;margin-top:1.5em} small{color:#777;font-weight:normal}
details{margin:.5em 0} summary{cursor:pointer;font-weight:600}
.excl blockquote{margin:.2em 0 .2em 1em;color:#555;font-size:.85em}
"""


def render_html(
    suite: str,
    board: list[dict[str, Any]],
    plots: list[Path],
    arms: dict[str, ArmData],
    out_dir: Path,
    failed: list[dict[str, Any]] | None = None,
    decision: str = "bpb_mean",
    decision_label: str = "bits/byte (decides, lower better)",
    details_md: str = "",
    verdict: str = "",
    sections: list[Section] | None = None,
) -> str:
    plot_html = "".join(_img(p, p.stem.replace("_", " ")) for p in plots if Path(p).exists())
    failed_html = ""
    if failed:
        items = "".join(f"<li>{_e(r['arm'])} (seed {r['seed']}): {_e(r['error'])}</li>" for r in failed)
        failed_html = f"<h2>Failed arms</h2><ul>{items}</ul>"
    toc = " · ".join(f'<a href="#card-{_anchor(a)}">{_e(a)}</a>' for a in arms)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>winnow · {_e(suite)}</title><style>{CSS}</style></head><body>"
        f"<h1>winnow report: suite {_e(suite)}</h1>"
        f"<p class='note'>Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Ranked by {_e(decision_label)}; <code>~</code>: tied with the best (within noise). Arms: {toc}</p>"
        + (f"<p class='verdict'><b>Verdict:</b> {_md(verdict)}</p>" if verdict else "")
        + f"<h2>Leaderboard</h2>{leaderboard_html(board, arms, decision, decision_label, accuracy=not details_md)}{failed_html}"
        + "".join(sec.html() for sec in sections or [])
        + (f"<h2>Every metric and every pair</h2>{_md(details_md)}" if details_md else "")
        + f"<h2>Removal funnel</h2>{funnel_html(board)}"
        f"<h2>Plots</h2><div class='plots'>{plot_html}</div>"
        + "".join(arm_section(a, out_dir) for a in arms.values())
        + "</body></html>"
    )


def write_suite_report(
    ws: Workspace,
    suite: str,
    board: list[dict[str, Any]],
    plots: list[Path],
    runs: list[dict[str, Any]],
    out_dir: Path | None = None,
    decision: str = "bpb_mean",
    decision_label: str = "bits/byte (decides, lower better)",
    details_md: str = "",
    verdict: str = "",
    sections: list[Section] | None = None,
) -> Path:
    """Refresh the arms' data cards, draw the composition plot and write
    `<out_dir or reports/<suite>>/index.html` (with the cards copied to `cards/`)."""
    out_dir = out_dir or reports_root() / suite
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = refresh_cards(ws, suite, board, runs)
    (out_dir / "cards").mkdir(exist_ok=True)
    for a in arms.values():
        shutil.copyfile(a.ref.dir / cards.CARD_MD, out_dir / "cards" / f"{a.arm}.md")
        shutil.copyfile(a.ref.dir / cards.CARD_JSON, out_dir / "cards" / f"{a.arm}.json")
    comp = plot_composition(arms, out_dir / "composition.png")
    all_plots = [*plots, *([comp] if comp else [])]
    failed = [r for r in runs if r.get("status") != "completed"]
    page = render_html(
        suite, board, all_plots, arms, out_dir, failed, decision, decision_label, details_md, verdict, sections
    )
    index = out_dir / "index.html"
    tmp = index.with_name(".index.html.tmp")
    tmp.write_text(page)
    tmp.replace(index)
    return index


def artifact_markdown(suite: str, board: list[dict[str, Any]], index: Path) -> str:
    """The page's gist for a Prefect artifact: funnel and composition tables, card paths."""
    lines = [f"# Report of suite {suite}", "", f"Full page: `{index}`", "", "## Removal funnel", ""]
    lines += ["| arm | " + " | ".join(STAGES) + " |", "|---|" + "---:|" * len(STAGES)]
    for a in board:
        f = arm_funnel(a)
        if f:
            lines.append(f"| {a['arm']} | " + " | ".join(_num(f.get(s), count=True) for s in STAGES) + " |")
    lines += ["", "## Composition (share of characters)", "", "| arm | sources | languages | top domains |"]
    lines += ["|---|---|---|---|"]
    for path in sorted((index.parent / "cards").glob("*.json")):
        card = json.loads(path.read_text())

        def shares(mix: dict[str, Any]) -> str:
            total = sum(v["characters"] for v in mix.values()) or 1
            return ", ".join(f"{k} {100 * v['characters'] / total:.0f}%" for k, v in list(mix.items())[:4])

        domains = ", ".join(list(card["top_domains"])[:3])
        lines.append(f"| {path.stem} | {shares(card['sources_mix'])} | {shares(card['language_mix'])} | {domains} |")
    lines += ["", "## Data cards", ""]
    for md in sorted((index.parent / "cards").glob("*.md")):
        lines.append(f"- {md.stem}: `{md}`")
    return "\n".join(lines) + "\n"
