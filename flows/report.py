"""`python -m flows.report [SUITE] [--format md|json|csv]`: the leaderboard of a suite.

`md` prints a compact table (decision metric with its interval, tokens, removal shares);
the files hold every metric.

Reads the catalog (arm numbers, every eval item's scores, the suite's declared decision
metric), ranks the arms by that metric with 95% paired-bootstrap intervals and P(A>B) for
every pair (tasks/report/model.py, tasks/report/stats.py), writes
`reports/<suite>/leaderboard.{md,json,csv}` and PNG plots to the workspace, the suite's one
HTML page to `reports/<suite>/index.html` (tasks/report/html.py; `$WINNOW_REPORTS` or
./reports), and publishes them as Prefect artifacts (a markdown report with the plots
embedded, a table artifact, a link per plot, the page's gist and its link).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from flows import _runtime  # noqa: F401  (environment defaults before prefect loads)
from tasks.attribution import effects as AE
from tasks.attribution.design import AblationDesign
from tasks.attribution.removals import DataSide
from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tasks.report import html as site
from tasks.report import model, render
from tasks.report.decide import LEVEL
from tasks.report.plots import plot_all

FORMATS = ("md", "json", "csv")


def render_report(
    suite: str | None, fmt: str = "md", workspace: str | None = None, note: str = ""
) -> tuple[str, str, dict]:
    """Build the leaderboard and plots; returns (suite, rendered text, paths). No Prefect needed.
    `note`: why an adaptive run stopped adding seeds (joins the verdict)."""
    ws = Workspace.from_env(workspace)
    catalog = Catalog(ws.catalog_path)
    if suite is None:
        latest = catalog.query("latest_suite")
        if not latest:
            raise SystemExit(f"no ablation has finished in {ws.root}; run `python -m flows.ablation` first")
        suite = latest[0]["suite"]
    report = build(catalog, suite)
    if report.verdict is not None and not report.verdict.decided and report.verdict.noise.known:
        report.verdict.reason = note or "Add seeds to these arms: `python -m flows.ablation SUITE --decide`."
    runs = of_current_arms(  # the runs `build` reported on
        catalog.query("arm_runs_of_suite", {"suite": suite}), catalog.query("suite_decision", {"suite": suite})
    )
    with ws.claim("reports", suite):  # two runs of one suite rewrite its report one at a time
        out = ws.stage_dir("reports", suite)
        out.mkdir(parents=True, exist_ok=True)
        texts = {
            "md": render.to_markdown(report, f"Leaderboard: {suite}"),
            "json": render.to_json(report),
            "csv": render.to_csv(report),
        }
        failed = [r for r in runs if r["status"] != "completed"]
        failed_line = (
            "\n\nFailed arms: " + "; ".join(f"{r['arm']} (seed {r['seed']}): {r['error']}" for r in failed)
            if failed
            else ""
        )
        texts["md"] += failed_line
        paths: dict[str, Any] = {}  # format -> file, plots -> [PNG], report -> model.Report
        for f, text in texts.items():
            path = out / f"leaderboard.{f}"
            path.write_text(text)
            paths[f] = path
        curves: dict[str, list[Path]] = {}
        for r in runs:
            if r["curve_path"]:
                curves.setdefault(r["arm"], []).append(Path(r["curve_path"]))
        plots = plot_all(report, curves, out)
        paths["plots"] = plots
        paths["report"] = report
        # the one page to open (tasks/report/html.py): leaderboard, plots, composition, data cards, samples
        d = report.decision
        label = f"{model.FAMILY_LABEL[d.metric]} on {', '.join(d.on)} (decides, {'higher' if d.higher_is_better else 'lower'} better)"
        # the page's detail section: the P(A>B) matrix and every metric with its SNR
        details_md = render.detail_markdown(report)
        sections = []
        attribution = attribution_of(catalog, suite, report, runs)
        if attribution is not None:  # `ablate:` suites: each component's effect (docs/attribution.md)
            png = AE.plot(attribution, out / "attribution.png")
            paths["attribution"] = attribution
            paths["attribution_plot"] = png
            (out / "attribution.md").write_text(AE.to_markdown(attribution, links=False))
            (out / "attribution.json").write_text(AE.to_json(attribution))
            md = AE.to_markdown(attribution, title=False)
            sections.append(site.Section("Attribution", md, [png] if png else []))
        paths["html"] = page = site.write_suite_report(
            ws,
            suite,
            report.board,
            plots,
            runs,
            decision=d.name,
            decision_label=label,
            details_md=details_md,
            verdict=report.verdict_line(),
            sections=sections,
        )
        texts["md"] += f"\n\nReport, data cards and removed-document samples: {page}"
        (out / "leaderboard.md").write_text(texts["md"])
    # md prints the compact table a terminal can show; leaderboard.md keeps every metric
    printed = render.to_compact_markdown(report, f"Leaderboard: {suite}") + failed_line if fmt == "md" else texts[fmt]
    if fmt == "md":
        printed += f"\n\nEvery metric and P(A>B) for every pair: {paths['md']}\nReport, data cards and removed-document samples: {page}"
    return suite, printed, paths


def attribution_of(catalog: Catalog, suite: str, report: model.Report, runs: list[dict]) -> AE.Attribution | None:
    """The attribution of a suite that ran with `ablate:` (None otherwise, or before any
    arm has a score)."""
    rows = catalog.query("suite_ablation", {"suite": suite})
    if not rows or report.verdict is None:
        return None
    design = AblationDesign.from_dict(json.loads(rows[0]["design"]))
    data = DataSide.from_dict(json.loads(rows[0]["removals"])) if rows[0]["removals"] else None
    return AE.effects(report.verdict, design, runs, suite, data, design.p_target)


def build(catalog: Catalog, suite: str, p_target: float | None = None) -> model.Report:
    """The suite's report from the catalog: its declared decision (the default when the
    suite never ran through flows.ablation), arm numbers and per-item scores."""
    from tasks.suite import DecisionSpec

    declared = catalog.query("suite_decision", {"suite": suite})
    spec = DecisionSpec.model_validate_json(declared[0]["decision"]) if declared else DecisionSpec()

    def rows(query: str) -> list[dict]:
        return of_current_arms(catalog.query(query, {"suite": suite}), declared)

    return model.build_report(
        rows("leaderboard"),
        rows("suite_items"),
        model.Decision.from_spec(spec),
        snapshots=rows("suite_snapshot_items"),
        runs=rows("arm_runs_of_suite"),
        p_target=p_target or LEVEL,
    )


def of_current_arms(rows: list[dict], declared: list[dict]) -> list[dict]:
    """`rows` without the arms the suite's definition (its `suite_decision` row) no longer
    holds: runs of an older version of its YAML stay in the catalog but leave the report."""
    current = set(declared[0]["arms"]) if declared and declared[0].get("arms") else None
    return rows if current is None else [r for r in rows if r["arm"] in current]


def _inline_png(path: Path) -> str:
    """A PNG as a markdown image in the artifact itself (the UI cannot read workspace files)."""
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


@flow(name="report", log_prints=True)
def report_flow(suite: str | None = None, format: str = "md", workspace: str | None = None, note: str = "") -> str:
    """Leaderboard, plots and artifacts for one suite (the latest when none is named)."""
    if format not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {format!r}")
    suite, text, paths = render_report(suite, format, workspace, note)
    md = Path(paths["md"]).read_text()
    images = "\n\n".join(_inline_png(p) for p in paths["plots"])
    key = "".join(c if c.isalnum() else "-" for c in suite.lower())
    create_markdown_artifact(
        md + "\n\n" + images, key=f"leaderboard-{key}", description=f"winnow leaderboard for suite {suite}"
    )
    create_table_artifact(render.table_rows(paths["report"]), key=f"leaderboard-table-{key}")
    for p in paths["plots"]:
        create_link_artifact(p.resolve().as_uri(), link_text=p.name, description=f"{suite}: {p.stem}")
    create_markdown_artifact(
        site.artifact_markdown(suite, paths["report"].board, paths["html"]),
        key=f"report-{key}",
        description=f"{suite}: funnel, cards",
    )
    create_link_artifact(paths["html"].as_uri(), link_text="index.html", description=f"{suite}: the HTML report")
    attribution = paths.get("attribution")
    if attribution is not None:
        png = paths.get("attribution_plot")
        create_markdown_artifact(
            AE.to_markdown(attribution, links=False) + (f"\n\n{_inline_png(png)}" if png else ""),
            key=f"attribution-{key}",
            description=f"{suite}: each component's effect on the decision metric, and what it removes",
        )
        create_table_artifact(AE.table_rows(attribution), key=f"attribution-table-{key}")
    get_run_logger().info("report written to %s", Path(paths["md"]).parent)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suite", nargs="?", help="suite name (default: the latest finished)")
    parser.add_argument("--format", choices=FORMATS, default="md", help="what to print (default md)")
    parser.add_argument("--workspace", help="workspace root (default $WINNOW_HOME or ./.winnow)")
    parser.add_argument(
        "--no-prefect", action="store_true", help="only write files and print; no flow run, no artifacts"
    )
    args = parser.parse_args(argv)
    if args.no_prefect:
        print(render_report(args.suite, args.format, args.workspace)[1])
        return 0
    with _runtime.prefect_api():
        print(report_flow(args.suite, args.format, args.workspace))
    return 0


if __name__ == "__main__":
    sys.exit(main())
