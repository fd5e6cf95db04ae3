"""Faults at the orchestration level: a Dask worker killed in the middle of ingestion."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.conftest import CRAWL

pytestmark = pytest.mark.slow


def _kill_busy_worker(client, stop: threading.Event, killed: list) -> None:
    """Once shards have been running for 2 s (the small WARCs are done by then, the big one,
    1,214 pages, is halfway), SIGKILL the worker still processing one."""
    pids = client.run(os.getpid)  # worker address -> pid
    started = None
    while not stop.is_set():
        busy = [a for a, keys in client.processing().items() if keys and a in pids]
        if busy and started is None:
            started = time.time()
        if busy and time.time() - started > 2.0:
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(busy[0])
            return
        time.sleep(0.05)


def test_dask_worker_killed_mid_ingest_loses_nothing(workspace):
    from distributed import Client, LocalCluster

    from flows import _runtime
    from flows.ingest import run_ingest
    from tasks.core.docsref import resolve_docs

    sources = [
        str(CRAWL / "webpages-trafilatura-aeb.warc.gz"),
        str(CRAWL / "wget-sample-0000.warc.gz"),
        str(CRAWL / "wget-sample-0001.warc.gz"),
    ]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
        _runtime.prefect_api(),
    ):
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=_kill_busy_worker, args=(client, stop, killed))
        killer.start()
        try:
            run_ingest(sources, name="crawl", workspace=workspace.root, dask_address=cluster.scheduler_address)
        except Exception:  # the lost shard may fail the run: finished ones stay
            pass
        finally:
            stop.set()
            killer.join()
        assert killed, "no worker was killed: the test did not exercise the fault"
        docs_dir = next((workspace.root / "docs").iterdir())
        before = {p.name: p.stat().st_mtime_ns for p in (docs_dir / "_shards").glob("*.json")}
        # Whatever the first run did (Dask rescheduled the task, or the run failed), the rerun
        # finishes the source, redoing only shards without a marker.
        again = run_ingest(sources, name="crawl", workspace=workspace.root, dask_address=cluster.scheduler_address)
    after = {p.name: p.stat().st_mtime_ns for p in (docs_dir / "_shards").glob("*.json")}
    assert all(after[n] == t for n, t in before.items())  # finished shards were not redone
    counts = again["counts"]
    assert (
        counts["docs_written"] + counts["records_quarantined"] + counts.get("metadata_written", 0)
        == counts["records_read"]
    )
    assert counts["docs_written"] == 1214 + 22 + 15
    assert len(resolve_docs(workspace, "crawl").shards) == 3
    assert not list(docs_dir.rglob(".*.tmp"))  # the killed writer's temp file is cleaned up
