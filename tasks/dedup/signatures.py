"""MinHash signatures of one source (the signals stage's part of dedup): per-shard jobs,
computed once per docs hash and MinHash config under `signals/` (tasks/dedup/minhash.py
computes one shard), as a claimed per-shard stage (tasks/core/shards.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tasks.core.docsref import DocsRef
from tasks.core.shards import MapFn, local_map, run_claimed_shards
from tasks.core.workspace import Workspace
from tasks.dedup.minhash import MinhashConfig, compute_shard, signals_key
from tasks.dedup.spec import MinhashDedupSpec


def minhash_config(spec: MinhashDedupSpec) -> MinhashConfig:
    return MinhashConfig(
        n_grams=spec.n_grams, num_bands=spec.num_bands, rows_per_band=spec.rows_per_band, seed=spec.seed
    )


def signatures_dir(workspace: Workspace, ref: DocsRef, cfg: MinhashConfig) -> Path:
    return workspace.stage_dir("signals", signals_key(ref.docs_hash, cfg))


def shard_job(args: tuple[str, int, str, MinhashConfig]) -> dict:
    shard, index, out_dir, cfg = args
    return compute_shard(shard, index, out_dir, cfg)


def signature_jobs(workspace: Workspace, ref: DocsRef, cfg: MinhashConfig) -> list[tuple]:
    """The per-shard jobs still to run for one source (none when cached)."""
    if workspace.is_done("signals", signals_key(ref.docs_hash, cfg)):
        return []
    out = signatures_dir(workspace, ref, cfg)
    return [(str(p), i, str(out), cfg) for i, p in enumerate(ref.shards)]


def ensure_signatures(
    workspace: Workspace,
    ref: DocsRef,
    cfg: MinhashConfig,
    map_fn: MapFn = local_map,
    run: Callable[[Sequence[tuple]], Sequence[dict]] | None = None,
) -> Path:
    """MinHash bands + signatures of one source, computed once (cached by docs hash + config).
    The shard jobs run through `run(jobs)` when given (flows/dedup.py: one Prefect task
    each), else `map_fn(shard_job, jobs)`."""
    compute_signatures(workspace, ref, cfg, map_fn, run)
    return signatures_dir(workspace, ref, cfg)


def compute_signatures(
    workspace: Workspace,
    ref: DocsRef,
    cfg: MinhashConfig,
    map_fn: MapFn = local_map,
    run: Callable[[Sequence[tuple]], Sequence[dict]] | None = None,
) -> dict | None:
    """`ensure_signatures`, returning the `_SUCCESS` info when this call computed them
    (None when they were done: claimed, so a concurrent run is waited for, then reused)."""
    return run_claimed_shards(
        workspace,
        "signals",
        signals_key(ref.docs_hash, cfg),
        jobs=lambda: signature_jobs(workspace, ref, cfg),
        run=run or (lambda jobs: list(map_fn(shard_job, jobs))),
        finish=lambda results, seconds: finish_signatures(workspace, ref, cfg, results, seconds),
    )


def finish_signatures(
    workspace: Workspace, ref: DocsRef, cfg: MinhashConfig, results: Sequence[dict], seconds: float = 0.0
) -> dict:
    """Mark one source's signatures done (after every shard job returned)."""
    info = {
        "kind": "minhash",
        "name": ref.name,
        "docs_hash": ref.docs_hash,
        "config": cfg.__dict__,
        "config_hash": cfg.config_hash(),
        "shards": [r["shard"] for r in results],
        "docs": sum(r["docs"] for r in results),
        "empty": sum(r["empty"] for r in results),
        "seconds": round(seconds, 3),
    }
    workspace.mark_done("signals", signals_key(ref.docs_hash, cfg), info)
    return info
