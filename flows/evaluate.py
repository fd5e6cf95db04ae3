"""`python -m flows.evaluate MODEL_DIR_OR_KEY`: a saved proxy model -> lm-eval scores.

Runs the task YAMLs in `evals/` through lm-eval (a seeded subsample of every task by
default, `--full` for all items), keeps every raw lm-eval output under
`<WINNOW_HOME>/evals/<model_key>-<cfg8>/`, records the scores in the catalog
(`eval_runs`, `eval_results`, `eval_items`, and `eval_snapshot_items`: held-out bits per
byte of each training snapshot) and ends with a markdown artifact holding the score table.
A rerun with the same model and eval config is served from that folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows._runtime import prefect_api, run_on_cluster, stage_resources
from tasks.core.catalog import Catalog
from tasks.core.logs import set_verbose, verbose
from tasks.core.torchlock import torch_stage
from tasks.core.workspace import Workspace
from tasks.evaluate.harness import (
    catalog_items,
    catalog_rows,
    catalog_snapshot_items,
    eval_key,
    evaluate_model,
    markdown_table,
)
from tasks.evaluate.results import EvalResult
from tasks.evaluate.spec import EvalSpec


# log_prints off: a library prints bytecode listings while lm-eval loads datasets.
# No Prefect cache: without persisted results Prefect ignores one (and warned so in every
# process); the stage serves a finished evaluation from its own _SUCCESS marker.
@task(name="lm-eval", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
def evaluate_task(model_dir: str, spec: dict[str, Any], workspace: str, device: str, key: str) -> EvalResult:
    # The stage checks its own _SUCCESS marker, so a deleted folder is recomputed.
    return evaluate_model(model_dir, EvalSpec.model_validate(spec), Workspace.from_env(workspace), device)


def resolve_model(model: str, workspace: Workspace) -> Path:
    """A model directory, or a training key naming `<WINNOW_HOME>/models/<key>/`."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    candidate = workspace.stage_dir("models", model)
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"no model directory {model!r} and no workspace model {candidate}")


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    model: str,
    tasks: list[str] | None = None,
    limit: int | None = None,
    full: bool = False,
    batch_size: int = 16,
    device: str = "auto",
    workspace: str | None = None,
    dask_address: str | None = None,
) -> EvalResult:
    """lm-eval on one model. With `dask_address` naming a cluster where some worker offers
    the evaluation resources (e.g. `GPU=1`), lm-eval runs on such a worker; else here."""
    ws = Workspace.from_env(workspace)
    model_dir = resolve_model(model, ws)
    spec = EvalSpec(tasks=tasks, limit=limit, full=full, batch_size=batch_size)
    key = eval_key(model_dir, spec)
    resources = stage_resources("evaluate", dask_address)
    if resources and dask_address:
        params = {"model_dir": str(model_dir), "spec": spec.model_dump(), "workspace": str(ws.root)}
        evaluated = run_on_cluster(
            dask_address, evaluate_task, {**params, "device": device, "key": key}, resources, "lm-eval"
        )
    else:
        with torch_stage():  # lm-eval seeds torch's global RNG: one evaluation at a time per process
            evaluated = evaluate_task(str(model_dir), spec.model_dump(), str(ws.root), device, key)
    summary = evaluated.to_dict()
    run, results = catalog_rows(summary)
    catalog = Catalog(ws.catalog_path)
    catalog.insert("eval_runs", [run], replace=True)
    catalog.insert("eval_results", results, replace=True)
    catalog.insert("eval_items", catalog_items(summary), replace=True)
    catalog.insert("eval_snapshot_items", catalog_snapshot_items(summary), replace=True)
    table = markdown_table(summary)
    create_markdown_artifact(markdown=table, key="evaluation", description=f"lm-eval scores of {key}")
    if verbose():  # the scores reach the console in the suite's leaderboard (and `python -m flows.evaluate`)
        print(table)
    return evaluated


def run_eval(
    model: str | Path,
    tasks: list[str] | None = None,
    limit: int | None = None,
    full: bool = False,
    batch_size: int = 16,
    device: str = "auto",
    workspace: str | Path | None = None,
) -> EvalResult:
    """Plain entry (other flows, notebooks): evaluate one model; returns the evaluation,
    its summary (eval_key, results_dir, mean_centered_acc, mean_bpb, ...) under `.summary`."""
    with prefect_api():
        return evaluate_flow(
            str(model),
            tasks=tasks,
            limit=limit,
            full=full,
            batch_size=batch_size,
            device=device,
            workspace=str(workspace) if workspace else None,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model",
        metavar="MODEL_DIR_OR_KEY",
        help="a saved Hugging Face model directory, or a key under <WINNOW_HOME>/models/",
    )
    parser.add_argument(
        "--tasks",
        default=None,
        help="comma-separated short task names (hellaswag, arc_easy, arc_challenge, piqa, sciq, "
        "boolq, copa, winogrande, openbookqa, lambada, wikitext2, wiki_leads_heldout, "
        "news_heldout) or groups benchmarks, lm; default: all",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="items per task, a fixed seeded subsample (default: 40 per task, but 300 Wikipedia leads, "
        "all 100 COPA items, 40 news and 6 WikiText-2 articles; tasks.evaluate.harness.DEFAULT_LIMIT(S))",
    )
    parser.add_argument("--full", action="store_true", help="evaluate every item of every task (ignores --limit)")
    parser.add_argument("--batch-size", type=int, default=16, help="lm-eval batch size (default 16)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    parser.add_argument("--workspace", default=None, help="workspace root (default $WINNOW_HOME or ./.winnow)")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show every library progress bar and info log (default: one bar per stage, warnings and errors)",
    )
    args = parser.parse_args(argv)
    if args.verbose:  # else $WINNOW_VERBOSE decides
        set_verbose(True)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    evaluated = run_eval(
        args.model,
        tasks=tasks,
        limit=args.limit,
        full=args.full,
        batch_size=args.batch_size,
        device=args.device,
        workspace=args.workspace,
    )
    summary = evaluated.summary
    if not verbose():  # the flow printed it already
        print(markdown_table(summary))
    print(
        f"mean centered accuracy {summary['mean_centered_acc']}, mean bits per byte {summary['mean_bpb']}; "
        f"raw lm-eval outputs in {summary['results_dir']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
