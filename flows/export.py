"""Export flow: a recipe's (or an arm's) dataset over its whole pool, in a trainer's format.

    python -m flows.export RECIPE.yaml|ARM --out DIR --format megatron|jsonl|parquet|hf
        [--tokenizer NAME_OR_PATH] [--budget N] [--shard-docs N] [--workspace DIR] [--dask-address ADDR]

The recipe is curated without its token budget (the whole pool its filters, dedup and
selection keep) unless --budget gives one, through flows.curate (cached like any arm).
Then one job per export shard, on the Dask cluster at --dask-address or in this process,
writes the shard (tasks/export/); a rerun skips the shards a killed run finished.
--tokenizer: a local folder or a name in the local Hugging Face cache; default the suite
tokenizer of the recipe's vocabulary. Beside the shards: card.md / card.json and
manifest.json (counts, token totals, sha256 of every file), written last.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from prefect import flow

from flows._runtime import cluster_map, prefect_api
from tasks.core.spec import RecipeError
from tasks.core.workspace import Workspace
from tasks.export import export as E
from tasks.recipe import Recipe, load_recipe


@flow(name="export")
def export_flow(
    recipe_json: str,
    out: str,
    fmt: str,
    tokenizer: str | None = None,
    workspace: str | None = None,
    dask_address: str | None = None,
    shard_docs: int = E.SHARD_DOCS,
) -> E.ExportResult:
    from flows.curate import run_curate
    from tasks.curate.pipeline import resolve_inputs
    from tasks.report import cards

    recipe = Recipe.model_validate_json(recipe_json)
    ws = Workspace.from_env(workspace)
    dataset = run_curate(recipe, ws.root, dask_address)
    cards.write_dataset_card(ws, recipe, resolve_inputs(ws, recipe), missing_only=True)
    tok = E.resolve_tokenizer(ws, recipe, tokenizer)
    meta = {"recipe": recipe.name, "data_hash": recipe.data_hash(), "token_budget": recipe.token_budget}
    return E.export_dataset(
        dataset.path,
        Path(out),
        fmt,
        tok,
        meta,
        dataset.path,
        cluster_map(dask_address) if dask_address else None,
        shard_docs,
    )


def resolve_recipe(name: str, workspace: str | None, budget: int | None) -> Recipe:
    """A recipe file, else an arm / recipe name / dataset key from the catalog; its budget
    cut dropped (the whole pool) unless `budget` is given."""
    recipe = load_recipe(name) if Path(name).is_file() else E.recipe_of(Workspace.from_env(workspace), name)
    return recipe.model_copy(update={"token_budget": budget})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m flows.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("recipe", metavar="RECIPE_OR_ARM")
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", required=True, choices=["megatron", "jsonl", "parquet", "hf"])
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--budget", type=int, default=None, help="cut to this many tokens (default: the whole pool)")
    ap.add_argument("--shard-docs", type=int, default=E.SHARD_DOCS)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--dask-address", default=None)
    args = ap.parse_args(argv)
    try:
        recipe = resolve_recipe(args.recipe, args.workspace, args.budget)
    except (RecipeError, LookupError) as exc:
        raise SystemExit(f"error: {exc}") from None
    started = time.perf_counter()
    with prefect_api():
        result = export_flow(
            recipe.model_dump_json(),
            args.out,
            args.format,
            args.tokenizer,
            args.workspace,
            args.dask_address,
            args.shard_docs,
        )
    summary = {k: result.manifest[k] for k in ("format", "shards", "documents", "rows", "tokens")}
    print(json.dumps(summary | {"written": result.written, "skipped": result.skipped}))
    print(f"done in {time.perf_counter() - started:.1f} s -> {result.out}")


if __name__ == "__main__":
    main()
