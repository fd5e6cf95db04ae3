"""Faults: a Dask worker SIGKILLed mid-shard, and a full disk at every write of a shard.

Each test states what the faulty run must do (fail, and how), then checks the rerun
against the inputs themselves: rows in the Parquet files, unique doc_ids, and the
record ids read from the WARCs with an independent parser, not the ingest's own counts.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.core.workspace import host_id, temp_sibling
from tests.conftest import CRAWL

BIG = CRAWL / "webpages-trafilatura-aeb.warc.gz"
WGET0 = CRAWL / "wget-sample-0000.warc.gz"
WGET1 = CRAWL / "wget-sample-0001.warc.gz"
CC = CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz"


def warc_response_ids(path: Path) -> list[str]:
    """WARC-Record-IDs of the `response` records, read by walking the headers and skipping
    each block by its Content-Length (independent of tasks.ingest.readers)."""
    ids = []
    with gzip.open(path, "rb") as f:
        while line := f.readline():
            if not line.startswith(b"WARC/"):
                continue  # the blank lines between records
            headers = {}
            while (h := f.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = h.decode("utf-8", "replace").partition(":")
                headers[k.strip().lower()] = v.strip()
            f.read(int(headers["content-length"]))
            if headers.get("warc-type") == "response":
                ids.append(headers["warc-record-id"])
    return ids


def _stamp(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_ino, st.st_mtime_ns


def _rows(folder: Path, pattern: str, columns: list[str]) -> pa.Table:
    files = sorted(folder.glob(pattern))
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files]) if files else pa.table({})


# ---------------------------------------------------------------- a worker killed mid-shard


def _kill_writer_of_big_shard(
    docs_dir: Path, big: str, small: list[str], worker_pids: set[int], stop: threading.Event, seen: dict
) -> None:
    """Once the small shards are finished and the big one (1,214 pages) has its temp file
    (its first 512 rows written), SIGKILL the worker writing it: the pid is in the temp
    file's name. Records the finished shards' (inode, mtime) at that moment."""
    while not stop.is_set():
        markers = {p.stem for p in (docs_dir / "_shards").glob("*.json")} if docs_dir.exists() else set()
        if big in markers:
            seen["error"] = f"{big} finished before it could be killed"
            return
        temps = list(docs_dir.glob(f".{big}.parquet.{host_id()}.*.tmp")) if docs_dir.exists() else []
        if temps and set(small) <= markers:
            pid = int(temps[0].name.split(".")[-2])
            if pid not in worker_pids:
                seen["error"] = f"temp file {temps[0].name} is not a worker's ({worker_pids})"
                return
            seen["finished"] = {
                n: (_stamp(docs_dir / "_shards" / f"{n}.json"), _stamp(docs_dir / f"{n}.parquet")) for n in small
            }
            os.kill(pid, signal.SIGKILL)
            seen["killed"] = pid
            seen["temp"] = temps[0]
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_dask_worker_killed_mid_shard_fails_the_run_and_the_rerun_redoes_only_that_shard(workspace):
    import dask
    from distributed import Client, LocalCluster

    from flows import _runtime
    from flows.ingest import _plan, run_ingest
    from tasks.ingest.extract import DEFAULT_EXTRACTOR
    from tasks.ingest.sources import CC_BASE_URL

    sources = [str(BIG), str(WGET0), str(WGET1)]
    _, files, *_, key = _plan(
        sources, "crawl", str(workspace.root), DEFAULT_EXTRACTOR, CC_BASE_URL, 10_000_000, 1_000_000
    )
    docs_dir = workspace.stage_dir("docs", key)
    names = [f"shard-{i:05d}" for i in range(len(files))]  # one shard per input, in resolved order
    big = names[[Path(f.uri).name for f in files].index(BIG.name)]
    small = [n for n in names if n != big]
    # No second chance for a task whose worker died (Dask's default would quietly rerun it)
    # and one task per worker, so the kill hits exactly the big shard.
    config = {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
    with (
        dask.config.set(config),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
        _runtime.prefect_api(),
    ):
        pids = set(client.run(os.getpid).values())
        stop, seen = threading.Event(), {}
        killer = threading.Thread(target=_kill_writer_of_big_shard, args=(docs_dir, big, small, pids, stop, seen))
        killer.start()
        try:
            # The big shard fails; a finished small shard whose result the flow had not yet
            # fetched from the killed worker is reported failed too (its files are on disk and
            # reused below). Under load one worker may run all three, so 1 to 3 are reported.
            with pytest.raises(RuntimeError, match=r"[123] of 3 shards failed"):
                run_ingest(sources, name="crawl", workspace=workspace.root, dask_address=cluster.scheduler_address)
        finally:
            stop.set()
            killer.join()
        assert "error" not in seen, seen.get("error")
        assert seen.get("killed"), "no worker was killed: the test did not exercise the fault"
        # The failed run published nothing half-done: no _SUCCESS, no marker or file for the big shard;
        # the dead writer's temp file is still there (nobody can know it is dead but by its pid).
        assert not workspace.is_done("docs", key)
        assert not (docs_dir / "_shards" / f"{big}.json").exists()
        assert not (docs_dir / f"{big}.parquet").exists()
        assert seen["temp"].exists()
        # A live writer's temp file (this process): the rerun's clean-up must not touch it.
        live = temp_sibling(docs_dir / "shard-00099.parquet")
        live.write_bytes(b"in progress")
        again = run_ingest(sources, name="crawl", workspace=workspace.root, dask_address=cluster.scheduler_address)

    assert again["cached"] is False and again["shards_reused"] == 2
    for name, (marker, shard) in seen["finished"].items():  # finished shards were not redone
        assert _stamp(docs_dir / "_shards" / f"{name}.json") == marker, name
        assert _stamp(docs_dir / f"{name}.parquet") == shard, name
    assert not seen["temp"].exists()  # the killed writer's temp file is cleaned up ...
    assert live.exists()  # ... and only that one
    live.unlink()

    # Nothing lost, nothing twice, against the inputs themselves.
    expected = {str(p): warc_response_ids(p) for p in (BIG, WGET0, WGET1)}
    assert [len(v) for v in expected.values()] == [1214, 22, 15]
    docs = _rows(docs_dir, "shard-*.parquet", ["doc_id", "record_id", "source_file"])
    quarantined = _rows(docs_dir / "quarantine", "shard-*.parquet", ["record_id", "source_file"])
    assert docs.num_rows + quarantined.num_rows == sum(len(v) for v in expected.values())
    assert len(set(docs.column("doc_id").to_pylist())) == docs.num_rows  # unique doc_ids
    got: dict[str, list[str]] = {}
    for t in (docs, quarantined):
        for r in t.select(["record_id", "source_file"]).to_pylist() if t.num_rows else []:
            got.setdefault(r["source_file"], []).append(r["record_id"])
    assert {f: sorted(v) for f, v in got.items()} == {f: sorted(v) for f, v in expected.items()}
    counts = again["counts"]
    assert counts["records_read"] == docs.num_rows + quarantined.num_rows + counts["metadata_written"]
    assert counts["docs_written"] == docs.num_rows


# ---------------------------------------------------------------- a full disk


def _pool_with_rejects(tmp_path: Path) -> tuple[Path, int, int]:
    """The first 120 real CC documents, 3 of which have empty texts (lines 16, 69, 74), plus
    6 more emptied, so that quarantine fills more than one batch: (path, documents, quarantined)."""
    lines = gzip.decompress(CC.read_bytes()).splitlines()[:120]
    out = []
    for i, line in enumerate(lines):
        rec = json.loads(line)
        if i % 20 == 7:
            rec["text"] = "   "
        out.append(json.dumps(rec))
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(out) + "\n")
    return path, 111, 9


def _enospc(*_a, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device")


def _inject(monkeypatch, where: str):
    """Make the disk full at one point of writing a shard."""
    import tasks.core.workspace as ws_mod
    import tasks.ingest.ingest as ingest_mod

    if where == "write":  # appending a batch of rows
        monkeypatch.setattr(pq.ParquetWriter, "write_table", _enospc)
    elif where == "close":  # the Parquet footer, at publish (and again inside abort)
        monkeypatch.setattr(pq.ParquetWriter, "close", _enospc)
    elif where == "quarantine_commit":  # documents published, quarantine rename fails
        real = os.replace

        def replace(src, dst, *a, **kw):
            if "/quarantine/" in str(dst):
                _enospc()
            return real(src, dst, *a, **kw)

        monkeypatch.setattr(ingest_mod.os, "replace", replace)
    elif where == "marker":  # the done marker's bytes hit the disk
        monkeypatch.setattr(ws_mod.os, "fsync", _enospc)
    else:
        raise ValueError(where)


@pytest.mark.parametrize("where", ["write", "close", "quarantine_commit", "marker"])
def test_full_disk_leaves_nothing_that_looks_done_and_the_rerun_is_clean(tmp_path, monkeypatch, where):
    import tasks.ingest.ingest as ingest_mod
    from tasks.ingest.ingest import ingest_shard, shard_done
    from tasks.ingest.sources import describe

    monkeypatch.setattr(ingest_mod, "_BATCH", 4)  # several batches: every writer has a temp file early
    path, n_docs, n_rejected = _pool_with_rejects(tmp_path)
    f = describe(str(path))
    out = tmp_path / "docs"
    with monkeypatch.context() as m:
        _inject(m, where)
        with pytest.raises(OSError) as failed:
            ingest_shard(f, out, 0, None, "cc")
    assert failed.value.errno == errno.ENOSPC  # the disk error itself, not one from the clean-up
    assert shard_done(out, 0, f.identity) is None  # the shard does not look finished
    assert not (out / "_shards" / "shard-00000.json").exists()
    assert not [p.name for p in out.rglob("*.tmp")]  # every writer's temp file removed
    # The rerun, with space again, writes the whole shard: nothing lost.
    counts = ingest_shard(f, out, 0, None, "cc").to_dict()
    assert counts["cached"] is False
    docs = pq.read_table(out / "shard-00000.parquet")
    quarantine = pq.read_table(out / "quarantine" / "shard-00000.parquet")
    assert (docs.num_rows, quarantine.num_rows) == (n_docs, n_rejected)
    assert (counts["docs_written"], counts["records_quarantined"]) == (n_docs, n_rejected)
    assert len(set(docs.column("doc_id").to_pylist())) == n_docs
    assert set(quarantine.column("reason").to_pylist()) == {"empty_text"}
    assert not list(out.rglob("*.tmp"))


def test_abort_survives_a_failing_close_and_aborts_every_writer(tmp_path, monkeypatch):
    """The disk fills during `close()` of the documents writer: abort() of that writer must
    not raise, and the quarantine and metadata writers after it are aborted too."""
    import tasks.ingest.ingest as ingest_mod
    from tasks.core.schema import DOCS, QUARANTINE

    writers = [
        ingest_mod._ShardWriter(tmp_path / "shard-00000.parquet", DOCS, always=True),
        ingest_mod._ShardWriter(tmp_path / "quarantine" / "shard-00000.parquet", QUARANTINE, always=False),
    ]
    doc = {c.name: None for c in DOCS}
    writers[0].rows = [dict(doc, doc_id="a", text="x")]
    writers[1].rows = [{c.name: None for c in QUARANTINE}]
    for w in writers:
        w._flush()  # both have an open Parquet writer on a temp file
    assert all(w.tmp.exists() for w in writers)
    monkeypatch.setattr(pq.ParquetWriter, "close", _enospc)
    for w in writers:
        w.abort()  # must not raise
    assert not any(w.tmp.exists() for w in writers)
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_json_atomic_leaves_no_temp_on_a_full_disk(tmp_path, monkeypatch):
    import tasks.core.workspace as ws_mod

    target = tmp_path / "_SUCCESS"
    target.write_text('{"old": true}')
    monkeypatch.setattr(ws_mod.os, "fsync", _enospc)
    with pytest.raises(OSError):
        ws_mod.write_json_atomic(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["_SUCCESS"]
