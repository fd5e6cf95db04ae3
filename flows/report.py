"""`python -m flows.report [SUITE] [--format md|json|csv]`: the leaderboard of a suite.

Reads the catalog, writes `reports/<suite>/leaderboard.{md,json,csv}` and PNG plots to the
workspace, and publishes them as Prefect artifacts (a markdown table with the plots
embedded, a table artifact, and a link per plot).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from flows import _runtime  # noqa: F401  (environment defaults before prefect loads)
from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tasks.report import report as rpt

FORMATS = ("md", "json", "csv")


def render_report(suite: str | None, fmt: str = "md", workspace: str | None = None) -> tuple[str, str, dict]:
    """Build the leaderboard and plots; returns (suite, rendered text, paths). No Prefect needed."""
    ws = Workspace.from_env(workspace)
    catalog = Catalog(ws.catalog_path)
    if suite is None:
        latest = catalog.query("latest_suite")
        if not latest:
            raise SystemExit(f"no ablation has finished in {ws.root}; run `python -m flows.ablation` first")
        suite = latest[0]["suite"]
    board = rpt.build_leaderboard(catalog.query("leaderboard", {"suite": suite}))
    runs = catalog.query("arm_runs_of_suite", {"suite": suite})
    out = ws.stage_dir("reports", suite)
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "md": rpt.to_markdown(board, f"Leaderboard: {suite}"),
        "json": rpt.to_json(board),
        "csv": rpt.to_csv(board),
    }
    failed = [r for r in runs if r["status"] != "completed"]
    if failed:
        texts["md"] += "\n\nFailed arms: " + "; ".join(f"{r['arm']} (seed {r['seed']}): {r['error']}" for r in failed)
    paths: dict[str, Path | list[Path]] = {}
    for f, text in texts.items():
        path = out / f"leaderboard.{f}"
        path.write_text(text)
        paths[f] = path
    curves: dict[str, list[Path]] = {}
    for r in runs:
        if r["curve_path"]:
            curves.setdefault(r["arm"], []).append(Path(r["curve_path"]))
    paths["plots"] = rpt.plot_all(board, curves, out)
    return suite, texts[fmt], paths


@flow(name="report", log_prints=True)
def report_flow(suite: str | None = None, format: str = "md", workspace: str | None = None) -> str:
    """Leaderboard, plots and artifacts for one suite (the latest when none is named)."""
    if format not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {format!r}")
    suite, text, paths = render_report(suite, format, workspace)
    md = Path(paths["md"]).read_text()
    images = "\n\n".join(
        f"![{p.stem}](data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})" for p in paths["plots"]
    )
    key = "".join(c if c.isalnum() else "-" for c in suite.lower())
    create_markdown_artifact(
        md + "\n\n" + images, key=f"leaderboard-{key}", description=f"winnow leaderboard for suite {suite}"
    )
    board = rpt.build_leaderboard(
        Catalog(Workspace.from_env(workspace).catalog_path).query("leaderboard", {"suite": suite})
    )
    cols = ["rank", "arm"] + rpt.metric_columns(board)
    create_table_artifact([{c: a.get(c) for c in cols} for a in board], key=f"leaderboard-table-{key}")
    for p in paths["plots"]:
        create_link_artifact(p.resolve().as_uri(), link_text=p.name, description=f"{suite}: {p.stem}")
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
