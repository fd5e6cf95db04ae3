"""One torch stage at a time in a process: training, evaluation, embedding scoring.

Concurrent arms (flows.ablation --max-parallel) run as threads of one process, and torch
keeps process state that a stage sets and relies on: the intra-op thread count
(tasks/train/loop.py pins it, and the count changes the last bits of a CPU loss) and the
global RNGs that model init and lm-eval seed. Two stages at once would race on them, and
an arm's numbers would depend on what ran beside it. On CPU one training already uses
every physical core, so taking turns costs little; the arms' other stages (curate,
tokenise, validate) still overlap. In a Dask worker process the lock is uncontended.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_TORCH_LOCK = threading.RLock()


@contextmanager
def torch_stage() -> Iterator[None]:
    """Hold this process's torch lock for one stage (re-entrant in a thread)."""
    with _TORCH_LOCK:
        yield
