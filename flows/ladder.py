"""`python -m flows.ladder SUITE --presets nano,tiny[,...]`: does a small proxy's ranking
of the arms predict the ranking at a larger size?

Runs every arm of SUITE at each preset (the ablation flow per rung, as suite
`<suite>.<preset>`; data stages are cached, so only training and evaluation repeat).
Every rung uses one suite tokenizer and the same token-matched datasets; training
tokens follow the suite's `ladder:` rule (tokens per parameter, capped by the pool:
tasks/report/ladder_plan.py). For each smaller rung and metric, and always for the suite's
declared decision metric (computed from the per-item scores), it reports pairwise decision
accuracy with a 95% interval (bootstrap over arms), the accuracy weighted by how surely the
reference separates each pair, Kendall's tau, and the reference rung's noise ceiling (its
seeds against each other) against the largest rung, with the rung's compute (6ND FLOPs,
device-seconds); per metric, each arm's law fitted on the smaller rungs and its prediction of
the reference rung (error, and the predicted ranking's decision accuracy beside the
single-size ones: tasks/report/ladder_extrapolate.py); writes `reports/ladder-<suite>/ladder.{md,json}` and
`decision_accuracy.png`, and publishes them as Prefect artifacts.

A rung whose ablation flow raises (e.g. its arms are not token-matched) is recorded as
failed: it is not scored, the report names it, and the flow fails after writing the
report. A failed arm x seed is left out of every score and named too.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows import _runtime
from flows.ablation import _load, ablation_flow
from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tasks.report import ladder as L
from tasks.report import ladder_extrapolate as LX
from tasks.report import ladder_plan as LP
from tasks.report import ladder_plot as LG
from tasks.report import ladder_scores as LS
from tasks.report.model import Decision
from tasks.suite import LadderSpec
from tasks.train.spec import PRESETS


def read_rung(catalog: Catalog, rung: LP.Rung, decision: Decision, reference: bool = False) -> LS.RungScores:
    """One rung's per-seed numbers, per-item scores and arm runs from the catalog, as
    tasks/report/ladder_scores.py `rung_scores` compares them (only the arms and seeds the rung's
    suite asked for)."""
    name = rung.suite.name
    return LS.rung_scores(
        catalog.query("ladder_seed_scores", {"suite": name}),
        catalog.query("suite_items", {"suite": name}),
        decision,
        runs=catalog.query("arm_runs_of_suite", {"suite": name}),
        arms=[a.name for a in rung.suite.resolved_arms()],
        seeds=list(rung.suite.seeds),
        reference=reference,
    )


def run_rungs(
    rungs: list[LP.Rung], run_one: Callable[[LP.Rung], object], log
) -> tuple[dict[str, float], dict[str, str]]:
    """Every rung through `run_one`, in order: (wall seconds, failed) per preset. A rung
    whose run raises is recorded in `failed` as `Type: message` and the next rung still
    runs (a later rung's data may be sound); the caller never scores a failed rung and
    fails once the report is written."""
    walls: dict[str, float] = {}
    failed: dict[str, str] = {}
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
            run_one(rung)
        except Exception as exc:  # recorded, not scored: see the docstring
            failed[rung.preset] = f"{type(exc).__name__}: {exc}"[:2000]
            log.error("rung %s failed, it will not be scored: %s", rung.preset, failed[rung.preset])
        walls[rung.preset] = time.time() - t0
    return walls, failed


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
    hparams: str | None = None,
) -> dict:
    """Every rung's suite, one rung after another (each rung's wall time is reported); the
    arms x seeds of a rung run `max_parallel` at once (flows.ablation). `hparams`: every
    arm at that `train.hparams` rule, as suite `<suite>-<rule>`."""
    log = get_run_logger()
    spec = _load(suite)
    if hparams:
        spec = LP.with_hparams(spec, hparams)
    ladder = spec.ladder
    if presets:
        ladder = (ladder or LadderSpec(presets=presets)).model_copy(update={"presets": presets})
        ladder = LadderSpec.model_validate(ladder.model_dump())
    if ladder is None:
        raise ValueError(f"suite {spec.name!r} has no `ladder:` key; pass --presets nano,tiny[,...]")
    rungs = LP.plan_rungs(spec, ladder)
    ws = Workspace.from_env(workspace)

    def run_one(rung: LP.Rung) -> None:
        ablation_flow.with_options(flow_run_name=rung.suite.name)(
            # every rung at the suite's own seeds: adaptive seeds would give rungs different seed sets
            suite_spec=rung.suite.model_copy(update={"decide": None}),
            workspace=str(ws.root),
            dask_address=dask_address,
            max_parallel=max_parallel,
        )

    walls, failed = run_rungs(rungs, run_one, log)
    catalog = Catalog(ws.catalog_path)
    decision = Decision.from_spec(spec.decision)
    order = [r.preset for r in rungs]
    data = {
        r.preset: read_rung(catalog, r, decision, reference=r.preset == order[-1] and r.preset not in failed)
        for r in rungs
    }
    seconds = {r.preset: rung_seconds(catalog, r.suite.name) for r in rungs}
    flops = {r.preset: r.flops for r in rungs}
    rows = L.ladder_table(data, order, flops, seconds, decision=decision.name, failed=failed)
    failed_arms = {p: d.failed_arms for p, d in data.items() if d.failed_arms}
    sources = {p: d.decision_source for p, d in data.items()}
    out = ws.stage_dir("reports", f"ladder-{spec.name}")
    out.mkdir(parents=True, exist_ok=True)
    ext_rows, ext_preds = LX.extrapolate({p: d.means for p, d in data.items()}, order, flops, decision.name, failed)
    md = L.to_markdown(rows, rungs, order[-1], walls, decision.name, failed, failed_arms, sources)
    md += "\n" + LX.to_markdown(ext_rows, ext_preds, order, decision.name)
    (out / "ladder.md").write_text(md)
    extrapolation = LX.as_json(ext_rows, ext_preds)
    result = L.ladder_result(spec.name, decision, rungs, rows, walls, failed, data, extrapolation)
    (out / "ladder.json").write_text(json.dumps(result, indent=2))
    png = LG.plot_decision_accuracy(rows, out / "decision_accuracy.png", highlight=decision.name)
    image = f"![decision accuracy vs compute](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})"
    key = "".join(c if c.isalnum() else "-" for c in spec.name.lower())
    create_markdown_artifact(md + "\n\n" + image, key=f"ladder-{key}", description=f"proxy ladder of {spec.name}")
    create_table_artifact(result["rows"], key=f"ladder-table-{key}")
    print(md)
    log.info("ladder report written to %s", out)
    if failed:
        raise RuntimeError(
            f"ladder {spec.name}: rung(s) failed and were not scored: "
            + "; ".join(f"{p}: {e}" for p, e in failed.items())
            + f" (report: {out / 'ladder.md'})"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.ladder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suite", help="suite YAML file")
    parser.add_argument(
        "--presets",
        help=f"comma-separated presets, smallest first (default: the suite's ladder:); known: {list(PRESETS)}",
    )
    parser.add_argument(
        "--hparams",
        choices=["fixed", "step_law"],
        help="every arm's train.hparams (peak lr and batch: tasks/train/hparams.py); the ladder runs as "
        "suite <suite>-<rule> (default: the arms' own)",
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
        ladder_flow(args.suite, presets, args.workspace, address, args.max_parallel, args.hparams)
    return 0


if __name__ == "__main__":
    sys.exit(main())
