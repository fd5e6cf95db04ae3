"""Score sources for model-based selection, once per source x method x config.

    python -m flows.select --source crawl --method fasttext --method dsir
    python -m flows.select --source crawl --recipe recipes/fasttext_top.yaml

For each source and method: fit the method's model once (fastText classifier, DSIR raw
model, reference LM; cached by content hash), score every docs shard as one Dask task,
and write `selection/<docs_hash16>-<method>-<config_hash8>/shard-NNNNN.parquet` with
`_SUCCESS` last. Recipes then choose over these columns (tasks/selection.select) in
seconds. A finished score folder is reused: rerunning costs nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact

from flows._runtime import dask_task_runner, prefect_api
from tasks.selection.registry import get_method, scored_names
from tasks.selection.spec import SelectionSpec


def _shard_cache_key(context, parameters) -> str | None:
    """Cache a shard by its score key only while its output file is there: Prefect's cache
    is global, the workspace is not, and a deleted folder must be recomputed."""
    out = (
        Path(parameters["root"])
        / "selection"
        / parameters["key"].rsplit("-", 1)[0]
        / f"shard-{parameters['index']:05d}.parquet"
    )
    return f"{parameters['root']}:{parameters['key']}" if out.exists() else None


# Not Prefect-cached: the models are cached in the workspace by content hash (their
# `_SUCCESS` markers), which a second workspace or a deleted folder cannot fool.
@task(name="prepare-model")
def prepare_model_task(root: str, ref, spec: SelectionSpec) -> str:
    from tasks.core.workspace import Workspace
    from tasks.selection.selection import prepare_model

    return prepare_model(Workspace.from_env(root), ref, spec)


@task(name="score-shard", cache_key_fn=_shard_cache_key)
def score_shard_task(root: str, ref, spec: SelectionSpec, index: int, model_key: str, key: str) -> int:
    import torch

    torch.set_num_threads(1)  # one Dask worker per core
    from tasks.core.workspace import Workspace
    from tasks.selection.selection import score_shard

    return score_shard(Workspace.from_env(root), ref, spec, index, model_key)


def _score(ws, ref, spec: SelectionSpec) -> bool:
    """One source's scores by one method: the model as one task, then one task per docs
    shard on the flow's task runner. False when they were done already (nothing ran)."""
    from tasks.selection.selection import compute_scores_of, score_key

    root, key = str(ws.root), score_key(ref.docs_hash, spec)

    def run(model_key: str, indices: list[int]) -> list[int]:
        keys = [f"{key}-{i:05d}" for i in indices]
        futures = score_shard_task.map(
            unmapped(root), unmapped(ref), unmapped(spec), indices, unmapped(model_key), keys
        )
        return [f.result() for f in futures]

    return compute_scores_of(ws, ref, spec, lambda: prepare_model_task(root, ref, spec), run) is not None


@flow(name="select-scores", log_prints=True)
def score_flow(sources: list[str], specs: list[SelectionSpec], workspace: str | None = None) -> list[dict]:
    from tasks.core.catalog import Catalog
    from tasks.core.docsref import resolve_docs
    from tasks.core.workspace import Workspace
    from tasks.selection.selection import score_key, selection_scores_row

    ws = Workspace.from_env(workspace)
    catalog = Catalog(ws.catalog_path)
    rows = []
    for source in sources:
        ref = resolve_docs(ws, source)
        for spec in specs:
            key = score_key(ref.docs_hash, spec)
            t0 = time.time()
            cached = not _score(ws, ref, spec)  # claimed: a concurrent suite scoring it is waited for
            info = ws.read_done("selection", key)
            row = selection_scores_row(key, info)
            catalog.insert("selection_scores", [row], replace=True)
            catalog.insert(
                "stage_runs",
                [
                    {
                        "stage": "selection",
                        "key": key,
                        "input_key": ref.docs_hash,
                        "cached": cached,
                        "seconds": time.time() - t0,
                        "info": row["info"],
                    }
                ],
            )
            rows.append({**row, "cached": cached})
            print(
                f"{source} {spec.method}: {info['docs']} docs -> selection/{key} "
                f"({'cached' if cached else f'{time.time() - t0:.1f}s'})"
            )
    table = "\n".join(
        f"| {r['source']} | {r['method']} | {r['docs']} | {r['key']} | {_fmt(r['heldout_auc'])} | {r['cached']} |"
        for r in rows
    )
    create_markdown_artifact(
        "## Selection scores\n\n| source | method | documents | folder | held-out AUC | cached |\n"
        "|---|---|---|---|---|---|\n" + table,
        key="selection-scores",
    )
    return rows


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.select", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", action="append", required=True, help="ingested source name or source key (repeatable)"
    )
    parser.add_argument(
        "--method",
        action="append",
        choices=scored_names(),
        help="score with this method's default config (repeatable)",
    )
    parser.add_argument(
        "--recipe", action="append", default=[], help="score what this recipe's selection needs (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --method specs (fastText training)")
    parser.add_argument("--workspace", default=None, help="workspace root (default $WINNOW_HOME or ./.winnow)")
    parser.add_argument("--dask-address", default=None, help="scheduler of an existing Dask cluster")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local Dask worker processes (default: cores); 0 runs shards in this process "
        "(no Dask start-up: for small sources and tests)",
    )
    args = parser.parse_args(argv)

    from tasks.recipe import load_recipe

    specs = [SelectionSpec(method=m, seed=args.seed) for m in (args.method or [])]
    for path in args.recipe:
        spec = load_recipe(path).selection
        if get_method(spec.method).scored:
            specs.append(spec)
    if not specs:
        parser.error("nothing to score: give --method or a --recipe whose selection has a scored method")
    with prefect_api():
        if args.workers == 0 and not args.dask_address:
            from prefect.task_runners import ThreadPoolTaskRunner

            # Any: Prefect's TaskRunner generics are invariant in the future type.
            runner: Any = ThreadPoolTaskRunner(max_workers=1)
        else:
            runner = dask_task_runner(args.dask_address, args.workers)
        score_flow.with_options(task_runner=runner)(args.source, specs, args.workspace)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
