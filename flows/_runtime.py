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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows import _console
from tasks.core.hashing import hash_text
from tasks.core.shards import MapFn

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Dask's statistical profiler samples the task thread's frames from the worker's event loop
# every 10 ms; a frame it holds past its function's return is freed on that thread, with the
# page tree in its locals: resiliparse's trees must be freed on the thread that made them
# ("HTMLTreePy is unsendable, but is being dropped on another thread", a traceback per run).
# Set in the environment and, as Nanny hands its own config to the workers it starts, in
# this process's config (`_no_profiler`) whenever a local cluster starts.
os.environ.setdefault("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "False")


def _no_profiler() -> None:
    import dask

    dask.config.set({"distributed.worker.profile.enabled": False})


_console.install()  # here and in every Dask worker that unpickles a flow module's task


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


def _local_cluster(n_workers: int | None) -> dict[str, Any]:
    """LocalCluster settings for a job's own cluster: one thread per worker process (the
    work is CPU-bound Python: threads would share the GIL), no dashboard, and the
    scheduler's HTTP endpoint on a free port (by default it takes 8787, and a second job
    on the machine warned "Port 8787 is already in use"). Workers without the profiler."""
    _no_profiler()
    return {
        "n_workers": n_workers or max(1, min(os.cpu_count() or 1, 8)),
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
        "memory_limit": None,
    }


@contextmanager
def dask_cluster(address: str | None = None, n_workers: int | None = None) -> Iterator[str]:
    """The scheduler address every stage of one job sends its work to: `address` when the
    user has a cluster, else one local cluster for the whole job (not one per stage:
    each start costs seconds and re-imports the libraries in every worker)."""
    if address:
        yield address
        return
    from distributed import LocalCluster

    with LocalCluster(**_local_cluster(n_workers)) as cluster:
        yield cluster.scheduler_address


def dask_task_runner(address: str | None = None, n_workers: int | None = None):
    """A DaskTaskRunner on an existing cluster (`address`) or a local one, one thread
    per worker process (the work is CPU-bound Python: threads would share the GIL)."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs=_local_cluster(n_workers))


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


# ---------------------------------------------------------------- worker resources

# Dask worker resources each kind of stage asks for when some worker of the cluster offers
# them (`dask worker --resources GPU=1`): one training or evaluation per GPU, while the
# other workers curate. A cluster without such workers (CPU only, the embedded default)
# keeps these stages in the flow's process, as before.
STAGE_RESOURCES: dict[str, dict[str, float]] = {"train": {"GPU": 1}, "evaluate": {"GPU": 1}}


def cluster_resources(address: str) -> dict[str, float]:
    """Every resource some worker of the cluster at `address` offers, with the most any
    one worker has (read from the scheduler at each call: workers come and go)."""
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
    offered: dict[str, float] = {}
    for w in workers:
        for name, amount in (w.get("resources") or {}).items():
            offered[name] = max(offered.get(name, 0.0), float(amount))
    return offered


def cluster_workers(address: str) -> int:
    """How many workers the cluster at `address` has now."""
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        return len(client.scheduler_info(n_workers=-1)["workers"])


def on_dask_worker() -> bool:
    """Whether this code runs inside a task on a Dask worker."""
    try:
        from distributed.worker import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def cluster_map(address: str | None = None) -> MapFn:
    """A map over a Dask cluster (tasks/core/shards.py's MapFn): one Dask task per item,
    keyed by the function's name so the task stream says which stage ran where.

    `address`: the cluster's scheduler, through a client of this process (the flow's).
    None: the cluster this code runs on, from inside a task on one of its workers
    (`worker_client`: the task leaves the worker's thread pool while it waits, so a
    cluster of one single-threaded worker does not deadlock; see `on_dask_worker`)."""

    def map_fn(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        import uuid

        from distributed import Client, worker_client

        def submit(client: Any) -> list[Any]:
            futures = [client.submit(fn, x, pure=False, key=f"{fn.__name__}-{uuid.uuid4().hex}") for x in items]
            return list(client.gather(futures))

        if address is None:
            with worker_client() as client:
                return submit(client)
        with Client(address, timeout=30, set_as_default=False) as client:
            return submit(client)

    return map_fn


def stage_resources(stage: str, address: str | None) -> dict[str, float] | None:
    """The resources `stage` ("train", "evaluate") declares on the cluster at `address`,
    or None when it should run in the flow's process (no cluster, or no worker offers
    them)."""
    wanted = STAGE_RESOURCES.get(stage)
    if not address or not wanted:
        return None
    offered = cluster_resources(address)
    return wanted if all(offered.get(k, 0.0) >= v for k, v in wanted.items()) else None


def run_on_cluster(
    address: str, task: Any, parameters: dict[str, Any], resources: dict[str, float] | None, name: str
) -> Any:
    """Run one Prefect task on a Dask worker holding `resources` and return its result.

    The task stays a Prefect task run of the calling flow run (prefect_dask serialises the
    run context); the Dask key starts with `name`, so the scheduler's task stream says
    which worker ran which kind of stage. Blocks this thread (one arm) until it is done."""
    import uuid

    from prefect_dask.client import PrefectDaskClient

    with PrefectDaskClient(address, timeout=30, set_as_default=False) as client:
        future = client.submit(
            task, parameters=parameters, resources=resources, pure=False, key=f"{name}-{uuid.uuid4().hex}"
        )
        return future.result()


def on_cluster(address: str, fn: Callable[..., Any], *args: Any, resources: dict[str, float] | None, name: str) -> Any:
    """A plain function on a worker holding `resources` (e.g. what device it trains on)."""
    import uuid

    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        return client.submit(fn, *args, resources=resources, pure=False, key=f"{name}-{uuid.uuid4().hex}").result()
