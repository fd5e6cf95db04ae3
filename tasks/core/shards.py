"""A claimed per-shard stage: one workspace output (`<stage>/<key>/`) computed as one job
per docs shard, once, whoever asks first.

MinHash signatures (tasks/dedup/signatures.py), the decontamination scan
(tasks/decontam/scan.py), selection scores (tasks/selection/selection.py) and quality
signals (tasks/signals/signals.py) share this shape: claim the stage key
(`Workspace.claim`, so a concurrent suite waits, then reuses), list the shard jobs still
to run, run them (in this process, or as Prefect tasks on a Dask cluster: the caller's
`run`), then write `_SUCCESS` (`finish`, which calls `Workspace.mark_done`). A finished
output is never computed again: `run_claimed_shards` returns None for it, without
listing or running anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tasks.core.workspace import Workspace

J = TypeVar("J")
R = TypeVar("R")

# A map over independent jobs: the builtin-like local map, or one over a Dask cluster.
MapFn = Callable[[Callable[[Any], Any], Sequence[Any]], Sequence[Any]]


def local_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(x) for x in items]


def run_claimed_shards(
    workspace: Workspace,
    stage: str,
    key: str,
    jobs: Callable[[], Sequence[J]],
    run: Callable[[Sequence[J]], Sequence[R]],
    finish: Callable[[Sequence[R], float], dict[str, Any]],
) -> dict[str, Any] | None:
    """Compute `stage/key` once: under the key's claim, `jobs()` lists the shard jobs,
    `run(jobs)` returns one result per job, `finish(results, seconds)` marks the output
    done and returns its `_SUCCESS` info, which this returns. None when the output was
    done already (before the claim, or by the writer this one waited for): nothing runs.
    `seconds` is the wall time from the listing to the last result."""
    if workspace.is_done(stage, key):
        return None
    with workspace.claim(stage, key) as claim:
        if not claim.todo:  # a concurrent writer computed it while we waited
            return None
        t0 = time.time()
        todo = jobs()
        results = run(todo)
        return finish(results, time.time() - t0)
