"""`python -m flows.sweep SUITE`: run a suite's `sweep:` and report what it found.

Every point of the sweep is an arm of the suite, run through the ablation flow (its own
`arm` flow run, cached by content hash like any arm). Then, per sweep:

- **mixture search** (the only axis is `{dirichlet: alpha}` on mixture weights): fit a
  model from the sampled weights to the suite's decision metric (tasks/sweep/mixture_search.py),
  report its held-out error (leave-one-out by default: MAE and Spearman), predict the
  best mixture over a dense Dirichlet sample, train that mixture as one more arm
  (`opt_mix_...`) and compare it with its prediction and with the best sampled mixture
  (95% paired bootstrap of the report);
- **merged partition models** (a `merge:` section; tasks/sweep/merge.py, Na et al. 2024):
  a warm-up on the pooled partitions, one model per partition continued from it, every
  sampled mixture scored by its partitions' weighted parameter average; the best few and
  a few random mixtures trained for real, and how well the merged score ranked them
  (Spearman, pairwise decision accuracy, 95% bootstrap intervals) with the wall times;
- **repetition** (the only axis is `epochs`): the cost of repetition per doubling of
  epochs and per step, with 95% paired-bootstrap intervals (tasks/sweep/repetition.py);
- anything else: the decision metric per point with its interval.

Writes `reports/sweep-<suite>/sweep.{md,json}` and PNGs (predicted vs observed,
metric vs epochs) in the workspace, the fitted mixture model (`mixture_model-<sweep>.pkl`),
and publishes them as Prefect artifacts (markdown with the plots, a table, links).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from flows import _runtime
from flows.ablation import _load, ablation_flow, validate_documents
from flows.curate import run_curate
from flows.ingest import run_ingest
from flows.report import build
from flows.signals import run_signals
from flows.train import run_train
from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tasks.evaluate.harness import pick_device, task_limits
from tasks.suite import Suite
from tasks.sweep import merge as MG
from tasks.sweep import mixture_search as MS
from tasks.sweep import repetition as R
from tasks.sweep import report as SR
from tasks.sweep.compare import decision_boot, difference
from tasks.sweep.design import (
    SweepPoint,
    dirichlet_groups,
    expand,
    point_name,
    point_recipe,
    suite_fields,
    sweeps_of,
)
from tasks.sweep.spec import EPOCHS, DirichletAxis, SweepSpec
from tasks.train import loop as train_loop


def _board(catalog: Catalog, suite: str):
    report = build(catalog, suite)
    return report, {a["arm"]: a for a in report.board}


def run_mixture_search(
    spec: Suite,
    sweep: SweepSpec,
    points: list[SweepPoint],
    ws: Workspace,
    dask_address: str | None,
    model: str,
    candidates: int,
    top_k: int,
    folds: int | None,
    train_optimum: bool,
) -> MS.MixtureSearch | None:
    log = get_run_logger()
    catalog = Catalog(ws.catalog_path)
    report, board = _board(catalog, spec.name)
    d = report.decision
    (path, axis), *_ = sweep.axes.items()
    assert isinstance(axis, DirichletAxis)
    groups = dirichlet_groups(axis, sweep.base, path)
    mp = SR.mixture_points(board, points, path, d.name)
    seen = [p for p in mp if p.observed is not None]
    if len(seen) < 3:
        log.error(
            "mixture search %s: only %d of %d mixtures were scored; no model fitted", sweep.name, len(seen), len(mp)
        )
        return None
    fitted, held, opt = MS.search(
        mp, groups, model, d.higher_is_better, folds, sweep.seed, candidates, axis.dirichlet, top_k
    )
    opt_name = (f"{sweep.name}_" if sweep.name else "") + "opt_" + point_name({path: opt.weights})
    result = MS.MixtureSearch(
        suite=spec.name,
        metric=d.name,
        higher_is_better=d.higher_is_better,
        groups=groups,
        model=model,
        points=mp,
        held=held,
        optimum=opt,
        optimum_arm=opt_name,
    )
    if len(seen) < len(mp):
        result.notes.append(f"{len(mp) - len(seen)} sampled mixture(s) failed and were left out of the fit.")
    out = ws.stage_dir("reports", f"sweep-{spec.name}")
    MS.save_model(out / f"mixture_model-{sweep.name or 'sweep'}.pkl", fitted, groups, model, d.name)
    if not train_optimum:
        result.notes.append("The predicted optimum was not trained (--no-optimum).")
        return result
    recipe = point_recipe(sweep, suite_fields(spec), {path: opt.weights}, opt_name)
    log.info("training the predicted optimum %s (predicted %s %.4f)", opt_name, d.name, opt.predicted)
    try:
        ablation_flow.with_options(flow_run_name=f"{spec.name}-{opt_name}")(
            suite_spec=spec.model_copy(update={"arms": [recipe], "sweep": None}),
            workspace=str(ws.root),
            dask_address=dask_address,
        )
    except Exception as exc:  # recorded as a failed arm; the report says so
        log.error("optimum arm %s: %s", opt_name, exc)
    report, board = _board(catalog, spec.name)
    result.optimum_observed = SR.mixture_point(board, opt_name, opt.weights, d.name)
    best = MS.best_sampled(seen, d.higher_is_better)
    result.best_sampled = best.arm
    if result.optimum_observed.observed is not None:
        items = catalog.query("suite_items", {"suite": spec.name})
        boot = decision_boot(items, d.metric, d.tasks, [opt_name, best.arm])
        result.vs_best = difference(boot, 0, 1, d.higher_is_better)
    return result


def _partition_models(spec: Suite, sweep: SweepSpec, ws: Workspace, dask_address: str | None):
    """The warm-up on the pooled partitions and one model per partition continued from it
    (tasks/sweep/merge.py), each cached like any model; with their training seconds."""
    assert sweep.merge is not None
    (path, axis), *_ = sweep.axes.items()
    assert isinstance(axis, DirichletAxis)
    groups = dirichlet_groups(axis, sweep.base, path)
    pool, parts = MG.partition_recipes(sweep, suite_fields(spec), path, groups)
    pool, *resolved = spec.model_copy(update={"arms": [pool, *parts.values()], "sweep": None}).resolved_arms()
    for name in sorted(set(pool.sources)):  # as the ablation flow: documents, then signals
        run_ingest(spec.source_uris(name), name=name, workspace=ws.root, dask_address=dask_address)
        validate_documents(ws, name)
        run_signals(name, ws.root, dask_address)
    frac = sweep.merge.warmup
    data = run_curate(pool, ws.root, dask_address)
    warm = run_train(ws, data.key, MG.warmup_spec(pool.train, frac), dask_address=dask_address)
    models = []
    for recipe in resolved:
        data = run_curate(recipe, ws.root, dask_address)
        spec_p = MG.partition_spec(recipe.train, frac, warm.model_key)
        models.append(run_train(ws, data.key, spec_p, dask_address=dask_address))
    seconds = {"warmup": warm.summary["seconds"], "partitions": sum(m.summary["seconds"] for m in models)}
    return path, groups, models, seconds


def _trained_seconds(ws: Workspace, suite: str, arms: list[str]) -> float:
    """Mean training seconds (train.json) of the arms' runs, every seed."""
    rows = Catalog(ws.catalog_path).query("arm_runs_of_suite", {"suite": suite})
    dirs = [ws.stage_dir("models", r["model_key"]) for r in rows if r["arm"] in arms and r["model_key"]]
    secs = [train_loop.load_summary(d)["seconds"] for d in dirs if train_loop.is_trained(d)]
    return sum(secs) / len(secs) if secs else float("nan")


def run_merge_search(
    spec: Suite, sweep: SweepSpec, points: list[SweepPoint], ws: Workspace, dask_address: str | None
) -> MG.MergeSearch | None:
    """Score every sampled mixture by merging, train the picked ones, compare the rankings."""
    log = get_run_logger()
    assert sweep.merge is not None
    d = spec.decision
    if d.metric != "bpb":
        raise ValueError(f"sweep.merge scores bits per byte on held-out texts; the suite decides by {d.name}")
    t0 = time.time()
    path, groups, models, seconds = _partition_models(spec, sweep, ws, dask_address)
    t1 = time.time()
    arm0 = spec.model_copy(update={"arms": [points[0].recipe], "sweep": None}).resolved_arms()[0]
    limits = {t: n for t, n in task_limits(arm0.eval).items() if t in d.tasks()}
    scorer = MG.MergedScorer(models[0].model_dir, limits, pick_device())
    states = [MG.load_state(m.model_dir) for m in models]
    merged = [
        MG.decision_value(scorer.score(MG.merge(states, [p.values[path][g] for g in groups])), d.tasks())
        for p in points
    ]
    seconds["scoring"] = time.time() - t1
    seconds["merge_path"] = seconds["warmup"] + seconds["partitions"] + seconds["scoring"]
    # kept before the (long) real trainings: a run stopped there still has every merged score
    scores = [{"arm": p.name, "weights": p.values[path], d.name: m} for p, m in zip(points, merged)]
    MG.write_json(ws.stage_dir("reports", f"sweep-{spec.name}") / f"merged-{sweep.name or 'merge'}.json", scores)
    higher = False  # bits per byte
    picked = MG.pick(merged, sweep.merge.top, sweep.merge.random, higher, sweep.seed)
    log.info(
        "merge search %s: %d mixtures scored in %.0f s; training %d",
        sweep.name,
        len(points),
        time.time() - t0,
        len(picked),
    )
    recipes = [points[i].recipe for i in picked]
    try:
        ablation_flow.with_options(flow_run_name=f"{spec.name}-{sweep.name or 'merge'}-trained")(
            suite_spec=spec.model_copy(update={"arms": recipes, "sweep": None}),
            workspace=str(ws.root),
            dask_address=dask_address,
        )
    except Exception as exc:  # failed arms are recorded; the comparison uses the others
        log.error("merge search %s: %s", sweep.name, exc)
    report, board = _board(Catalog(ws.catalog_path), spec.name)
    out = [MG.MergePoint(p.name, dict(p.values[path]), m, None, "") for p, m in zip(points, merged)]
    for rank, i in enumerate(picked):
        out[i].picked = "top" if rank < sweep.merge.top else "random"
        out[i].trained = SR.observed(board, points[i].name, report.decision.name)[0]
    pairs = [(p.merged, p.trained) for p in out if p.picked and p.trained is not None]
    agree = (
        MG.agreement([m for m, _ in pairs], [t for _, t in pairs], boot=sweep.merge.boot, seed=sweep.seed)
        if len(pairs) >= 3
        else None
    )
    seconds["per_arm_train"] = _trained_seconds(ws, spec.name, [p.arm for p in out if p.picked])
    seconds["train_every_mixture"] = seconds["per_arm_train"] * len(points)
    result = MG.MergeSearch(spec.name, report.decision.name, False, groups, out, agree, seconds, sweep.merge.warmup)
    if agree is None:
        result.notes.append(f"only {len(pairs)} of {len(picked)} picked mixtures trained; no agreement computed")
    return result


def run_repetition(spec: Suite, sweep: SweepSpec, points: list[SweepPoint], ws: Workspace) -> R.RepetitionCost | None:
    log = get_run_logger()
    catalog = Catalog(ws.catalog_path)
    report, board = _board(catalog, spec.name)
    d = report.decision
    scored = SR.scored_epochs(board, d.name, points)
    if scored is None:
        log.error("repetition %s: fewer than two epoch counts were scored", sweep.name)
        return None
    items = catalog.query("suite_items", {"suite": spec.name})
    form = SR.repetition_form(sweep, bool(spec.train_tokens))
    arms = [p.name for p in scored]
    boot = decision_boot(items, d.metric, d.tasks, arms)
    return R.repetition_cost(arms, [float(p.values[EPOCHS]) for p in scored], boot, d.higher_is_better, form, d.name)


def grid_table(spec: Suite, sweep: SweepSpec, points: list[SweepPoint], ws: Workspace) -> tuple[str, list[dict]]:
    report, board = _board(Catalog(ws.catalog_path), spec.name)
    return SR.grid_table(board, report.decision.name, spec.name, sweep, points)


@flow(name="sweep", log_prints=True, validate_parameters=True)
def sweep_flow(
    suite: str,
    workspace: str | None = None,
    dask_address: str | None = None,
    model: str = "quadratic",
    candidates: int = 20_000,
    top_k: int = 100,
    folds: int | None = None,
    train_optimum: bool = True,
) -> dict[str, Any]:
    """Run the sweep's arms, then the mixture search / repetition cost / point table."""
    log = get_run_logger()
    if model not in MS.MODELS:
        raise ValueError(f"model must be one of {MS.MODELS}, got {model!r}")
    spec = _load(suite)
    sweeps = sweeps_of(spec)
    if not sweeps:
        raise ValueError(f"suite {spec.name!r} has no `sweep:` section; run it with python -m flows.ablation")
    ws = Workspace.from_env(workspace)
    t0 = time.time()
    try:
        if spec.arms:  # a suite of only `merge:` sweeps has none until it picks them
            ablation_flow.with_options(flow_run_name=f"{spec.name}-arms")(
                suite_spec=spec, workspace=str(ws.root), dask_address=dask_address
            )
    except Exception as exc:  # failed arms are recorded; the sweep reports what was scored
        log.error("suite %s: %s", spec.name, exc)
    fields = suite_fields(spec)
    out = ws.stage_dir("reports", f"sweep-{spec.name}")
    out.mkdir(parents=True, exist_ok=True)
    md: list[str] = []
    pngs: list[Path] = []
    tables: list[dict] = []
    result: dict[str, Any] = {
        "suite": spec.name,
        "mixture_search": [],
        "repetition": [],
        "grid": [],
        "merge_search": [],
    }
    costs: list[R.RepetitionCost] = []
    for sw in sweeps:
        points = expand(sw, fields)
        kind = SR.sweep_kind(sw)
        if kind == "merge":
            mg = run_merge_search(spec, sw, points, ws, dask_address)
            if mg is not None:
                md.append(MG.to_markdown(mg))
                result["merge_search"].append(mg.as_dict())
        elif kind == "mixture":
            ms = run_mixture_search(spec, sw, points, ws, dask_address, model, candidates, top_k, folds, train_optimum)
            if ms is not None:
                md.append(MS.to_markdown(ms))
                png = MS.plot_predicted_vs_observed(ms, out / f"predicted_vs_observed-{sw.name or 'sweep'}.png")
                pngs.append(png)
                result["mixture_search"].append(ms.as_dict())
                tables += SR.mixture_rows(sw.name, ms)
        elif kind == "repetition":
            cost = run_repetition(spec, sw, points, ws)
            if cost is not None:
                costs.append(cost)
                result["repetition"].append(cost.as_dict())
                tables += SR.repetition_rows(sw.name, cost)
        else:
            text, rows = grid_table(spec, sw, points, ws)
            md.append(text)
            result["grid"].append(rows)
            tables += [{"sweep": sw.name, **r} for r in rows]
    if costs:
        md.append(R.to_markdown(costs, spec.name))
        pngs.append(R.plot(costs, out / "repetition.png"))
    result["wall_seconds"] = time.time() - t0
    text = (
        "\n".join(md) + f"\nWall time of the sweep (all arms, cached stages reused): {result['wall_seconds']:.0f} s.\n"
    )
    SR.write_report(out, text, result)
    key = "".join(c if c.isalnum() else "-" for c in spec.name.lower())
    create_markdown_artifact(
        text + "\n\n" + "\n\n".join(SR.embed_png(p) for p in pngs),
        key=f"sweep-{key}",
        description=f"sweep of {spec.name}",
    )
    if tables:
        create_table_artifact(tables, key=f"sweep-table-{key}")
    for p in pngs + sorted(out.glob("mixture_model-*.pkl")):
        create_link_artifact(p.resolve().as_uri(), link_text=p.name, description=f"{spec.name}: {p.stem}")
    print(text)
    log.info("sweep report written to %s", out)
    missing = len(sweeps) - sum(len(result[k]) for k in ("mixture_search", "repetition", "grid", "merge_search"))
    if missing:  # the report says why; the run must not look like a success
        raise RuntimeError(f"suite {spec.name}: {missing} sweep(s) scored too few arms to report (see the log)")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suite", help="suite YAML file with a `sweep:` section")
    parser.add_argument("--workspace", help="workspace root (default $WINNOW_HOME or ./.winnow)")
    parser.add_argument("--dask-address", help="scheduler address of an existing Dask cluster")
    parser.add_argument("--model", choices=MS.MODELS, default="quadratic", help="mixture model (default quadratic)")
    parser.add_argument("--candidates", type=int, default=20_000, help="Dirichlet candidates for the optimum")
    parser.add_argument("--top-k", type=int, default=100, help="the optimum is the mean of the best k candidates")
    parser.add_argument("--folds", type=int, help="K-fold held-out error (default: leave-one-out)")
    parser.add_argument("--no-optimum", action="store_true", help="do not train the predicted optimum")
    args = parser.parse_args(argv)
    if args.workspace:
        os.environ["WINNOW_HOME"] = str(Path(args.workspace).resolve())
    spec = _load(args.suite)  # a bad suite or sweep fails here, before any work
    if not spec.sweep:
        raise SystemExit(f"{args.suite}: no `sweep:` section")
    with _runtime.prefect_api(), _runtime.dask_cluster(args.dask_address) as address:
        sweep_flow(
            args.suite,
            args.workspace,
            address,
            args.model,
            args.candidates,
            args.top_k,
            args.folds,
            not args.no_optimum,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
