"""Prefect and Dask plumbing shared by every flow: one API per job, the task runner,
and the content-hash cache key.

Why one API per job: with DaskTaskRunner and no server, every Dask worker process
starts its own temporary Prefect API (~10 s each). We start Prefect's own
subprocess server once, point `PREFECT_API_URL` at it before the cluster starts, and
every worker inherits it. If the user already has a server (`PREFECT_API_URL` set),
we use that one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tasks.core.hashing import hash_text

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """Ensure one Prefect API for this process and its Dask workers."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start(timeout=180)
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        # Send buffered run logs while the server is still up.
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


@contextmanager
def dask_cluster(address: str | None = None, n_workers: int | None = None) -> Iterator[str]:
    """The scheduler address every stage of one job sends its work to: `address` when the
    user has a cluster, else one local cluster for the whole job (not one per stage:
    each start costs seconds and re-imports the libraries in every worker)."""
    if address:
        yield address
        return
    from distributed import LocalCluster

    n = n_workers or max(1, min(os.cpu_count() or 1, 8))
    with LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit=None
    ) as cluster:
        yield cluster.scheduler_address


def dask_task_runner(address: str | None = None, n_workers: int | None = None):
    """A DaskTaskRunner on an existing cluster (`address`) or a local one, one thread
    per worker process (the work is CPU-bound Python: threads would share the GIL)."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    n = n_workers or max(1, min(os.cpu_count() or 1, 8))
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": n,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "memory_limit": None,
        }
    )


def cache_key_from(param: str, output: Callable[[dict[str, Any]], str | Path]):
    """A Prefect `cache_key_fn`: the task's content-hash parameter `param`, valid only while
    the task's output (the path `output(parameters)` returns) exists.

    Prefect's cache is global to the machine, the workspace is not: keyed by the hash alone,
    a second workspace, or a deleted stage folder, would be answered from another run's
    result and find no files. Returning None when the output is missing makes Prefect run
    the task; the output path is part of the key for the same reason.
    """

    def key_fn(context: Any, parameters: dict[str, Any]) -> str | None:
        path = Path(output(parameters))
        if not path.exists():
            return None
        return f"{parameters[param]}@{hash_text(str(path.resolve()))[:16]}"

    return key_fn
