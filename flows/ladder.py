"""`python -m flows.ladder SUITE --presets nano,tiny[,...]`: does a small proxy's ranking
of the arms predict the ranking at a larger size?

Runs every arm of SUITE at each preset (the ablation flow per rung, as suite
`<suite>.<preset>`; data stages are cached, so only training and evaluation repeat).
Every rung uses one suite tokenizer and the same token-matched datasets; training
tokens follow the suite's `ladder:` rule (tokens per parameter, capped by the pool:
tasks/report/ladder.py). For each smaller rung and metric it reports pairwise decision
accuracy and Kendall's tau against the largest rung, with the rung's compute (6ND
FLOPs, device-seconds), writes `reports/ladder-<suite>/ladder.{md,json}` and
`decision_accuracy.png`, and publishes them as Prefect artifacts.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows import _runtime
from flows.ablation import _load, ablation_flow
from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tasks.report import ladder as L
from tasks.report.report import Decision
from tasks.suite import LadderSpec
from tasks.train.model import PRESETS


def rung_scores(catalog: Catalog, suite: str) -> dict[str, dict[str, float]]:
    """metric -> arm -> mean over seeds, for one rung's completed arms."""
    out: dict[str, dict[str, float]] = {}
    for r in catalog.query("leaderboard", {"suite": suite}):
        if r["mean"] is not None:
            out.setdefault(r["metric"], {})[r["arm"]] = float(r["mean"])
    return out


def rung_seconds(catalog: Catalog, suite: str) -> float:
    """Training + evaluation seconds of a rung's completed arms (all seeds)."""
    total = 0.0
    for r in catalog.query("ladder_runs", {"suite": suite}):
        total += (r["train_seconds"] or 0.0) + (r["eval_seconds"] or 0.0)
    return total


@flow(name="ladder", log_prints=True, validate_parameters=True)
def ladder_flow(
    suite: str,
    presets: list[str] | None = None,
    workspace: str | None = None,
    dask_address: str | None = None,
    max_parallel: int | None = None,
) -> dict:
    """Every rung's suite, one rung after another (each rung's wall time is reported); the
    arms x seeds of a rung run `max_parallel` at once (flows.ablation)."""
    log = get_run_logger()
    spec = _load(suite)
    ladder = spec.ladder
    if presets:
        ladder = (ladder or LadderSpec(presets=presets)).model_copy(update={"presets": presets})
        ladder = LadderSpec.model_validate(ladder.model_dump())
    if ladder is None:
        raise ValueError(f"suite {spec.name!r} has no `ladder:` key; pass --presets nano,tiny[,...]")
    rungs = L.plan_rungs(spec, ladder)
    ws = Workspace.from_env(workspace)
    walls: dict[str, float] = {}
    for rung in rungs:
        t0 = time.time()
        log.info(
            "rung %s: %s params, %s training tokens per arm in %d steps (%.2f epochs%s)",
            rung.preset,
            f"{rung.plan.n_params:,}",
            f"{rung.plan.trained:,}",
            rung.plan.steps,
            rung.plan.epochs,
            ", capped by the pool" if rung.plan.capped else "",
        )
        try:
            ablation_flow.with_options(flow_run_name=rung.suite.name)(
                # every rung at the suite's own seeds: adaptive seeds would give rungs different seed sets
                suite_spec=rung.suite.model_copy(update={"decide": None}),
                workspace=str(ws.root),
                dask_address=dask_address,
                max_parallel=max_parallel,
            )
        except Exception as exc:  # a rung whose arms are not matched still has its scores recorded
            log.error("rung %s: %s", rung.preset, exc)
        walls[rung.preset] = time.time() - t0
    catalog = Catalog(ws.catalog_path)
    scores = {r.preset: rung_scores(catalog, r.suite.name) for r in rungs}
    seconds = {r.preset: rung_seconds(catalog, r.suite.name) for r in rungs}
    flops = {r.preset: r.flops for r in rungs}
    order = [r.preset for r in rungs]
    rows = L.ladder_table(scores, order, flops, seconds)
    out = ws.stage_dir("reports", f"ladder-{spec.name}")
    out.mkdir(parents=True, exist_ok=True)
    md = L.to_markdown(rows, rungs, order[-1], walls)
    (out / "ladder.md").write_text(md)
    result = {
        "suite": spec.name,
        "rungs": [
            {"preset": r.preset, "suite": r.suite.name, **r.plan.__dict__, "flops": r.flops, "wall_s": walls[r.preset]}
            for r in rungs
        ],
        "rows": [_jsonable(r.as_dict()) for r in rows],
        "scores": scores,
    }
    (out / "ladder.json").write_text(json.dumps(result, indent=2))
    decides = Decision.from_spec(spec.decision).name
    png = L.plot_decision_accuracy(rows, out / "decision_accuracy.png", highlight=decides)
    image = f"![decision accuracy vs compute](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})"
    key = "".join(c if c.isalnum() else "-" for c in spec.name.lower())
    create_markdown_artifact(md + "\n\n" + image, key=f"ladder-{key}", description=f"proxy ladder of {spec.name}")
    create_table_artifact([_jsonable(r.as_dict()) for r in rows], key=f"ladder-table-{key}")
    print(md)
    log.info("ladder report written to %s", out)
    return result


def _jsonable(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.ladder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suite", help="suite YAML file")
    parser.add_argument(
        "--presets",
        help=f"comma-separated presets, smallest first (default: the suite's ladder:); known: {list(PRESETS)}",
    )
    parser.add_argument("--workspace", help="workspace root (default $WINNOW_HOME or ./.winnow)")
    parser.add_argument("--dask-address", help="scheduler address of an existing Dask cluster")
    parser.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="arm x seed runs of a rung at once (default: half the cores, 1 to 4)",
    )
    args = parser.parse_args(argv)
    if args.max_parallel is not None and args.max_parallel < 1:
        parser.error(f"--max-parallel must be at least 1, not {args.max_parallel}")
    if args.workspace:
        os.environ["WINNOW_HOME"] = str(Path(args.workspace).resolve())
    presets = [p.strip() for p in args.presets.split(",")] if args.presets else None
    spec = _load(args.suite)  # fail on a bad suite or preset before any work
    if presets:
        LadderSpec(presets=presets)
    elif spec.ladder is None:
        raise SystemExit(f"{args.suite}: no `ladder:` key; pass --presets nano,tiny[,...]")
    with _runtime.prefect_api(), _runtime.dask_cluster(args.dask_address) as address:
        ladder_flow(args.suite, presets, args.workspace, address, args.max_parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
