"""Dataset -> suite tokenizer -> token shards (Dask, one task per part) -> proxy model.

    python -m flows.train DATASET_KEY_OR_RECIPE [--preset nano] [--tokens N] [--workspace DIR]

DATASET_KEY_OR_RECIPE is a `datasets/<key>` folder name in the workspace, a path to a
folder of `part-*.parquet`, or a recipe YAML (its curated dataset and its `train`
section). Every stage is cached by content hash: the tokenizer by its reference sample
and vocabulary, token shards by dataset + tokenizer, the model by dataset + tokenizer
+ train config + code version. A killed run resumes from its last checkpoint.

`run_train(...)` is the plain entry the ablation flow calls inside its own flow run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.context import FlowRunContext

from flows._runtime import cache_key_from, dask_task_runner, on_cluster, prefect_api, run_on_cluster, stage_resources
from tasks.core.catalog import Catalog
from tasks.core.hashing import short
from tasks.core.torchlock import torch_stage
from tasks.core.workspace import Workspace
from tasks.recipe import Recipe, load_recipe
from tasks.train import loop as train_mod
from tasks.train import tokens as tokens_mod
from tasks.train.results import TrainResult
from tasks.train.spec import PRESETS, OnlineMixSpec, TrainSpec, get_preset
from tasks.train.tokenizer import build_tokenizer, tokenizer_hash_of

# ---------------------------------------------------------------- tasks (thin wrappers)


@task(name="tokenizer")
def tokenizer_task(workspace_root: str, vocab_size: int) -> tuple[str, str]:
    digest, folder = build_tokenizer(Workspace.from_env(workspace_root), vocab_size)
    return digest, str(folder)


@task(name="tokenize-part", retries=1)
def tokenize_part_task(part: str, tokenizer_dir: str, docs_dir: str) -> dict[str, Any]:
    return tokens_mod.tokenize_part(part, tokenizer_dir, docs_dir)


@task(
    name="train-model",
    cache_key_fn=cache_key_from("train_digest", lambda p: Path(p["model_dir"]) / "train.json"),
    persist_result=True,
)
def train_task(
    train_digest: str,
    packed_dir: str,
    tokenizer_dir: str,
    model_dir: str,
    spec_json: dict[str, Any],
    online_json: dict[str, Any] | None = None,
) -> dict[str, Any]:
    online = OnlineMixSpec.model_validate(online_json) if online_json else None
    summary = train_mod.train(packed_dir, tokenizer_dir, model_dir, TrainSpec.model_validate(spec_json), online=online)
    summary.pop("curves", None)
    return summary


def device_and_precision(spec: TrainSpec) -> tuple[str, str]:
    """What `spec` trains on where this runs (a GPU worker answers for its own device)."""
    device = train_mod.resolve_device(spec)
    return device, train_mod.resolve_precision(spec, device)


def _in_flow() -> bool:
    return FlowRunContext.get() is not None


def _map_parts(parts: list[Path], tokenizer_dir: str | Path, docs_dir: Path) -> list[dict[str, Any]]:
    """Tokenise the parts with the current flow's task runner (Dask in flows.train)."""
    futures = tokenize_part_task.map([str(p) for p in parts], unmapped(str(tokenizer_dir)), unmapped(str(docs_dir)))
    return [f.result() for f in futures]


# ---------------------------------------------------------------- resolution


def resolve_dataset(ws: Workspace, dataset: str | Path) -> tuple[Path, Recipe | None]:
    """A dataset folder from a workspace key, a folder path or a recipe YAML."""
    text = str(dataset)
    if text.endswith((".yaml", ".yml")) and Path(text).is_file():
        recipe = load_recipe(text)
        for key in (recipe.data_hash(), short(recipe.data_hash()), recipe.content_hash(), short(recipe.content_hash())):
            folder = ws.stage_dir("datasets", key)
            if any(folder.glob("part-*.parquet")):
                return folder, recipe
        raise FileNotFoundError(
            f"recipe {text}: no curated dataset under {ws.root / 'datasets'} "
            f"(looked for {short(recipe.data_hash())}); run `python -m flows.curate {text}` first"
        )
    folder = Path(text)
    if not folder.is_dir():
        folder = ws.stage_dir("datasets", text)
    if not any(folder.glob("part-*.parquet")):
        raise FileNotFoundError(f"dataset {text!r}: no part-*.parquet in {folder}")
    return folder, None


# ---------------------------------------------------------------- the plain entry


def run_train(
    workspace: Workspace | str | Path | None,
    dataset: str | Path,
    spec: TrainSpec | None = None,
    tokenizer_dir: str | Path | None = None,
    record: bool = True,
    dask_address: str | None = None,
    online: OnlineMixSpec | None = None,
) -> TrainResult:
    """Tokenizer -> tokens -> model for one dataset; returns the model, its token shards and
    the run summary (`.summary`).

    Inside a flow run, with `dask_address` naming a cluster where some worker offers the
    training resources (flows._runtime.STAGE_RESOURCES, e.g. `GPU=1`), the training runs
    on such a worker, its device resolved there; otherwise in this process, one training
    at a time (tasks/core/torchlock.py).

    Inside a flow run the steps are Prefect tasks (parts mapped with the flow's task
    runner); outside one they run as plain functions. `tokenizer_dir` shares a suite
    tokenizer between arms (default: the reference tokenizer for the preset's
    vocabulary, built once and cached). Writes `train_runs`/`train_curves` to the
    catalog when `record` (call it from the flow process only).
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.from_env(workspace)
    spec = spec or TrainSpec()
    t0 = time.time()
    dataset_dir, _ = resolve_dataset(ws, dataset)
    preset = get_preset(spec.preset)
    flowing = _in_flow()

    if tokenizer_dir is None:
        vocab = spec.vocab_size or preset.vocab_size  # the suite tokenizer (same one curation counted with)
        digest, tokenizer_dir = tokenizer_task(str(ws.root), vocab) if flowing else build_tokenizer(ws, vocab)
    tokenizer_digest = tokenizer_hash_of(tokenizer_dir)
    dataset_digest = tokens_mod.dataset_hash(dataset_dir)
    seq_len = spec.options.get("seq_len", preset.seq_len)
    packed_dir, meta = tokens_mod.tokenize_dataset(
        ws,
        dataset_dir,
        tokenizer_dir,
        seq_len,
        spec.seed,
        dataset_digest,
        tokenizer_digest,
        part_mapper=_map_parts if flowing else None,
        metadata=spec.metadata.prepend if spec.metadata else None,
        group_by=online.group_by if online else None,
    )

    resources = stage_resources("train", dask_address) if flowing else None
    if resources and dask_address:
        device, precision = on_cluster(
            dask_address, device_and_precision, spec, resources=resources, name="train-device"
        )
    else:
        device, precision = device_and_precision(spec)
    digest = train_mod.train_hash(dataset_digest, tokenizer_digest, spec, device, precision, online)
    key = train_mod.model_key(digest)
    model_dir = ws.stage_dir("models", key)
    with ws.claim("models", key) as claim:  # a concurrent suite training the same model is waited for
        cached = not claim.todo
        if not cached:
            if resources and dask_address:  # on a worker holding them: one training per GPU, beside other arms'
                run_on_cluster(
                    dask_address,
                    train_task.with_options(refresh_cache=True),
                    {
                        "train_digest": digest,
                        "packed_dir": str(packed_dir),
                        "tokenizer_dir": str(tokenizer_dir),
                        "model_dir": str(model_dir),
                        "spec_json": spec.model_dump(),
                        "online_json": online.model_dump() if online else None,
                    },
                    resources,
                    "train-model",
                )
            else:
                _train_here(flowing, digest, packed_dir, tokenizer_dir, model_dir, spec, online)
            ws.mark_done(
                "models",
                key,
                {
                    "train_hash": digest,
                    "dataset_hash": dataset_digest,
                    "tokenizer_hash": tokenizer_digest,
                    "tokens_key": meta["tokens_key"],
                },
            )
    summary = train_mod.load_summary(model_dir)
    result = dict(
        summary,
        train_hash=digest,
        model_dir=str(model_dir),
        dataset_dir=str(dataset_dir),
        dataset_hash=dataset_digest,
        tokenizer_hash=tokenizer_digest,
        tokenizer_dir=str(tokenizer_dir),
        tokens_key=meta["tokens_key"],
        pack_variant=meta["pack_variant"],
        dataset_tokens=meta["n_tokens"] - meta.get("metadata_tokens", 0),  # documents' own (MeCo's prefixes apart)
        cached=cached,
        stage_seconds=time.time() - t0,
    )
    if record:
        record_run(ws, result, spec)
    return TrainResult(model_dir, meta["tokens_key"], int(result["seq_len"]), result)


def _train_here(
    flowing: bool,
    digest: str,
    packed_dir: Path,
    tokenizer_dir: str | Path,
    model_dir: Path,
    spec: TrainSpec,
    online: OnlineMixSpec | None,
) -> None:
    with torch_stage():  # concurrent arms of one process train one at a time
        if flowing:
            train_task.with_options(refresh_cache=True)(
                digest,
                str(packed_dir),
                str(tokenizer_dir),
                str(model_dir),
                spec.model_dump(),
                online.model_dump() if online else None,
            )
        else:
            train_mod.train(packed_dir, tokenizer_dir, model_dir, spec, online=online)


def record_run(ws: Workspace, result: dict[str, Any], spec: TrainSpec) -> None:
    """train_runs row + train_curves rows (rerun replaces them)."""
    import pyarrow.parquet as pq

    catalog = Catalog(ws.catalog_path)
    catalog.insert(
        "train_runs",
        [
            {
                "train_hash": result["train_hash"],
                "dataset_hash": result["dataset_hash"],
                "tokenizer_hash": result["tokenizer_hash"],
                "tokens_key": result["tokens_key"],
                "preset": result["preset"],
                "seed": result["seed"],
                "n_params": result["n_params"],
                "seq_len": result["seq_len"],
                "batch_size": result["batch_size"],
                "steps": result["steps"],
                "tokens_budget": result["tokens_budget"],
                "tokens_trained": result["tokens_trained"],
                "dataset_tokens": result["dataset_tokens"],
                "epochs": result["epochs"],
                "final_loss": result["final_loss"],
                "device": result["device"],
                "precision": result["precision"],
                "tokens_per_s": result["tokens_per_s"],
                "mfu": result["mfu"],
                "seconds": result["seconds"],
                "resumed_from_step": result["resumed_from_step"],
                "per_source_tokens": json.dumps(result.get("per_source_tokens") or {}),
                "config": json.dumps(spec.model_dump()),
                "model_dir": result["model_dir"],
                "cached": result["cached"],
            }
        ],
        replace=True,
    )
    curves = (
        pq.read_table(Path(result["model_dir"]) / "curves.parquet")
        .select(["step", "tokens", "loss", "grad_norm", "lr", "epoch"])
        .to_pylist()
    )
    for row in curves:
        row["train_hash"] = result["train_hash"]
    catalog.insert("train_curves", curves, replace=True)


def summary_markdown(result: dict[str, Any]) -> str:
    per_source = result.get("per_source_tokens") or {}
    lines = [
        f"# Proxy training `{short(result['train_hash'])}`",
        "",
        f"- dataset `{short(result['dataset_hash'])}` → tokens `{result['tokens_key']}` "
        f"({result['dataset_tokens']:,} packed tokens)",
        f"- preset **{result['preset']}**, {result['n_params']:,} parameters, seed {result['seed']}",
        f"- {result['tokens_trained']:,} tokens in {result['steps']} steps "
        f"({result['epochs']:.2f} epochs), final loss {result['final_loss']:.4f}",
        f"- {result['device']} / {result['precision']}, "
        f"{(result['tokens_per_s'] or 0):,.0f} tokens/s" + (f", MFU {result['mfu']:.1%}" if result.get("mfu") else ""),
        f"- cached: {result['cached']}; model: `{result['model_dir']}`",
        "",
        "| source | docs | tokens | tokens after upsampling |",
        "|---|---:|---:|---:|",
    ]
    for src, c in sorted(per_source.items()):
        lines.append(f"| {src} | {c['docs']:,} | {c['tokens']:,} | {c['tokens_upsampled']:,} |")
    return "\n".join(lines)


@flow(name="train", log_prints=True)
def train_flow(
    dataset: str,
    preset: str | None = None,
    tokens: int | None = None,
    seed: int | None = None,
    workspace: str | None = None,
    tokenizer: str | None = None,
) -> dict[str, Any]:
    """Train the proxy model on one curated dataset (see module docstring)."""
    from prefect.artifacts import create_markdown_artifact

    ws = Workspace.from_env(workspace)
    _, recipe = resolve_dataset(ws, dataset)
    spec = recipe.train if recipe else TrainSpec()
    overrides = {k: v for k, v in {"preset": preset, "tokens": tokens, "seed": seed}.items() if v is not None}
    spec = spec.model_copy(update=overrides)
    spec = TrainSpec.model_validate(spec.model_dump())
    online = recipe.mixture.online if recipe else None
    result = run_train(ws, dataset, spec, tokenizer_dir=tokenizer, online=online).to_dict()
    create_markdown_artifact(
        key="train-summary",
        markdown=summary_markdown(result),
        description=f"proxy training {short(result['train_hash'])}",
    )
    print(f"model: {result['model_dir']} (final loss {result['final_loss']:.4f}, cached={result['cached']})")
    return {k: v for k, v in result.items() if k != "per_source_tokens"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m flows.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", help="datasets/<key> name, a folder of part-*.parquet, or a recipe YAML")
    ap.add_argument("--preset", choices=list(PRESETS), help="model preset (default: recipe's or nano)")
    ap.add_argument("--tokens", type=int, help="token budget (default: recipe's or the preset's)")
    ap.add_argument("--seed", type=int, help="seed for init, packing and data order (default: recipe's or 0)")
    ap.add_argument("--workspace", help="workspace root (default: $WINNOW_HOME or ./.winnow)")
    ap.add_argument(
        "--tokenizer", help="an existing tokenizer folder to share (default: the suite reference tokenizer)"
    )
    ap.add_argument("--dask-address", help="scheduler address of an existing Dask cluster (default: a local one)")
    ap.add_argument("--workers", type=int, help="local Dask worker processes (default: cores, at most 8)")
    args = ap.parse_args(argv)
    with prefect_api():
        runner = dask_task_runner(args.dask_address, args.workers)
        result = train_flow.with_options(task_runner=runner)(
            args.dataset,
            preset=args.preset,
            tokens=args.tokens,
            seed=args.seed,
            workspace=args.workspace,
            tokenizer=args.tokenizer,
        )
    print(
        json.dumps(
            {k: result[k] for k in ("train_hash", "model_dir", "final_loss", "tokens_trained", "cached")}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
