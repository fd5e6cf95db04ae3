"""Curate flow: a recipe -> a dataset of selected documents, with stats and per-rule removals.

    python -m flows.curate RECIPE.yaml [--workspace DIR] [--dask-address ADDR] [--no-signals]

The recipe is validated first (unknown filters or params, bad or unsafe SQL, steps this
build lacks): a bad recipe fails before any work runs. Missing signals are computed
(flows.signals) unless --no-signals. The dataset goes to
`datasets/<recipe data_hash16>/` (part-00000.parquet, stats.json, _SUCCESS); a rerun
with the same recipe and the same signals is served from there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows._runtime import cache_key_from, prefect_api
from tasks.core.catalog import Catalog
from tasks.core.spec import RecipeError
from tasks.core.workspace import Workspace
from tasks.curate import pipeline as C
from tasks.curate.results import DatasetRef
from tasks.recipe import Recipe, load_recipe
from tasks.report import cards


@task(
    name="curate",
    cache_key_fn=cache_key_from("key", lambda p: Path(p["workspace"]) / "datasets" / p["dataset_key"] / "_SUCCESS"),
)
def curate_task(recipe_json: str, workspace: str, key: str, dataset_key: str) -> DatasetRef:
    recipe = Recipe.model_validate_json(recipe_json)
    ws = Workspace.from_env(workspace)
    inputs = C.resolve_inputs(ws, recipe)
    cached = C.cached_dataset(ws, recipe, inputs)
    if cached is not None:
        cards.write_dataset_card(ws, recipe, inputs, missing_only=True)
        return C.read_dataset(ws, recipe).with_cached(True)
    dataset = C.curate(recipe, ws, inputs)
    cards.write_dataset_card(ws, recipe, inputs)  # card.md / card.json beside the dataset
    return dataset.with_cached(False)


@flow(name="curate")
def curate_flow(
    recipe_json: str, workspace: str | None = None, dask_address: str | None = None, compute_signals: bool = True
) -> DatasetRef:
    recipe = Recipe.model_validate_json(recipe_json)
    C.validate(recipe)
    ws = Workspace.from_env(workspace)
    if compute_signals:
        from flows.signals import run_signals

        for source in recipe.sources:
            run_signals(source, ws.root, dask_address)
    inputs = C.resolve_inputs(ws, recipe)
    # "ref": the task returns a DatasetRef; a result cached as a dict by older code is not reused
    key = f"curate-ref:{recipe.data_hash()}:{C.inputs_fingerprint(inputs)}"
    dataset = curate_task(recipe_json, str(ws.root), key=key, dataset_key=C.dataset_key(recipe))
    record_dataset(ws, recipe, dataset.to_dict())
    create_markdown_artifact(
        key=f"dataset-{C.dataset_key(recipe)}",
        markdown=C.stats_markdown(dataset.stats, dataset.cached),
        description=f"dataset of recipe {recipe.name}",
    )
    return dataset


def record_dataset(ws: Workspace, recipe: Recipe, stats: dict) -> None:
    """Catalog rows for a dataset: `datasets` and its per-rule `filter_counts`."""
    cat = Catalog(ws.catalog_path)
    cat.insert(
        "datasets",
        [
            {
                "data_hash": recipe.data_hash(),
                "recipe": recipe.name,
                "sources": list(recipe.sources),
                "dataset_dir": str(ws.stage_dir("datasets", C.dataset_key(recipe))),
                "documents": stats["documents"],
                "characters": stats["characters"],
                "est_tokens": stats["est_tokens"],
                "documents_in": stats["documents_in"],
                "language_mix": json.dumps(stats["language_mix"]),
                "stats": json.dumps(stats),
                "recipe_json": recipe.model_dump_json(),
                "cached": bool(stats.get("cached")),
                "seconds": float(stats.get("seconds", 0.0)),
            }
        ],
        replace=True,
    )
    cat.insert("filter_counts", C.removal_rows(stats), replace=True)


def run_curate(
    recipe: Recipe, workspace: str | Path | None = None, dask_address: str | None = None, compute_signals: bool = True
) -> DatasetRef:
    """The dataset of `recipe` (a plain entry for the ablation flow)."""
    return curate_flow(recipe.model_dump_json(), str(Workspace.from_env(workspace).root), dask_address, compute_signals)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m flows.curate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("recipe", metavar="RECIPE.yaml", help="the recipe (see recipes/)")
    ap.add_argument("--workspace", default=None, help="workspace root (default $WINNOW_HOME or ./.winnow)")
    ap.add_argument(
        "--dask-address",
        default=None,
        help="Dask scheduler address for computing missing signals (default: a local cluster)",
    )
    ap.add_argument("--no-signals", action="store_true", help="fail instead of computing signals that are missing")
    args = ap.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe)
        C.validate(recipe)
    except RecipeError as exc:
        raise SystemExit(f"error: {exc}") from None
    started = time.perf_counter()
    with prefect_api():
        dataset = run_curate(recipe, args.workspace, args.dask_address, not args.no_signals)
    print(C.stats_markdown(dataset.stats, dataset.cached))
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
