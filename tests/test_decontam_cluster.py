"""The decontamination scan per docs shard, cached per source (tasks/decontam/scan.py),
as the curate step reads it: the same datasets, counts and exclusions as scanning the
surviving documents in process, a text changed by line-level dedup rescanned, computed
once under concurrent callers, and mapped as Prefect tasks on a Dask cluster."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tasks.core.docsref import resolve_docs, row_batches
from tasks.core.workspace import Workspace
from tasks.curate import pipeline as C
from tasks.decontam import decontaminate as D
from tasks.decontam import index as DI
from tasks.decontam import scan as DS
from tasks.recipe import Recipe
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs

BOILER = (10, 11, 12, 13)  # rows carrying one eval item as a shared line (line dedup removes it)
UNIQUE = (5, 12)  # rows carrying an eval item of their own


@pytest.fixture(scope="module")
def items():
    return DI.default_eval_items()


@pytest.fixture(scope="module")
def planted(cc_docs_table, items):
    """90 real CC documents; eval items planted as lines: one shared by BOILER (more than
    max_count=2 times, so line dedup drops that line), one more in each UNIQUE row."""
    hs = items.filter(pc.equal(items.column("task"), "hellaswag")).column("text").to_pylist()
    long = [" ".join(t.split()) for t in hs if len(t.split()) > 30]
    rows = cc_docs_table.slice(0, 90).to_pylist()
    index = DI.build_index(items)
    clean = D.scan_texts(pa.array([r["text"] for r in rows]), index).n_matches == 0
    assert all(clean[r] for r in (*BOILER, *UNIQUE))  # only the planted lines contaminate them
    for r in BOILER:
        rows[r]["text"] += "\n" + long[0]
    for k, r in enumerate(UNIQUE, start=1):
        rows[r]["text"] += "\n" + long[k]
    return pa.Table.from_pylist(rows, schema=cc_docs_table.schema)


def _workspace(root, table: pa.Table) -> Workspace:
    ws = Workspace.from_env(root)
    write_docs(ws, "crawl", table, shard_rows=40)  # 3 shards
    build_signals(ws, resolve_docs(ws, "crawl"))
    return ws


def _outputs(ws: Workspace, recipe: Recipe) -> tuple[dict, pa.Table, pa.Table]:
    stats = C.curate(recipe, ws).stats
    folder = ws.stage_dir("datasets", C.dataset_key(recipe))
    return stats, pq.read_table(folder / "part-00000.parquet"), pq.read_table(folder / "exclusions.parquet")


def _changed_by_line_dedup(ws: Workspace, must_hold: list[str]) -> int:
    """Documents whose text line dedup changed and kept (its lines.parquet)."""
    (path,) = (ws.root / "dedup").glob("*/lines.parquet")
    t = pq.read_table(path)
    assert set(t.column("doc_id").to_pylist()) >= set(must_hold)
    return int(pc.sum(pc.invert(t.column("emptied"))).as_py())


RECIPES = {
    "remove": {},
    "mask": {"decontamination": {"mode": "mask", "mask_token": "<eval>"}},
    "lines-remove": {"dedup": {"lines": {"max_count": 2}}},
    "lines-mask": {"dedup": {"lines": {"max_count": 2}}, "decontamination": {"mode": "mask"}},
}


def test_cached_scan_gives_the_in_process_curate_output(tmp_path, planted, monkeypatch):
    ref_ws, ws = _workspace(tmp_path / "in-process", planted), _workspace(tmp_path / "cached", planted)
    spec = Recipe(name="x", sources=["crawl"]).decontamination
    DS.ensure_scan(ws, resolve_docs(ws, "crawl"), DS.scan_config(ws, DI.default_eval_items(), spec))
    scanned_rows: list[int] = []
    real_scan_table = D.scan_table

    def counting_scan_table(docs, index, *args, **kwargs):
        scanned_rows.append(docs.num_rows)
        return real_scan_table(docs, index, *args, **kwargs)

    monkeypatch.setattr(D, "scan_table", counting_scan_table)
    ids = planted.column("doc_id").to_pylist()
    for name, fields in RECIPES.items():
        recipe = Recipe(name=name, sources=["crawl"], **fields)
        scanned_rows.clear()
        want_stats, want, want_excl = _outputs(ref_ws, recipe)  # no cache: scanned in process
        assert sum(scanned_rows) == want_stats["removals"]["decontaminate"]["documents_in"]
        scanned_rows.clear()
        stats, got, excl = _outputs(ws, recipe)
        assert got.equals(want), name
        assert excl.equals(want_excl), name
        assert stats["removals"] == want_stats["removals"], name
        assert stats["documents"] == want_stats["documents"], name
        dec = stats["removals"]["decontaminate"]
        kept = dict(zip(got.column("doc_id").to_pylist(), got.column("text").to_pylist()))
        lines = name.startswith("lines")
        # Only texts that line dedup changed are scanned in process; the rest come from the cache.
        assert sum(scanned_rows) == (_changed_by_line_dedup(ws, [ids[r] for r in BOILER]) if lines else 0), (
            name,
            scanned_rows,
        )
        if name.endswith("remove"):
            for r in UNIQUE:
                assert ids[r] not in kept
            # contaminated only through the boilerplate line: kept once line dedup dropped it
            for r in set(BOILER) - set(UNIQUE):
                assert (ids[r] in kept) == lines, (name, r)
            assert dec["removed"] == dec["contaminated"] >= len(UNIQUE) + (0 if lines else 3)
        else:
            assert dec["masked"] == dec["contaminated"] and dec["removed"] == 0
            assert all(ids[r] in kept for r in (*BOILER, *UNIQUE))
        if name == "mask":
            assert all("<eval>" in kept[ids[r]] for r in (*BOILER, *UNIQUE))
    # one scan per source in the cached workspace; curation without it never writes one
    assert len(list((ws.root / DS.STAGE).glob("*-decontam-*/_SUCCESS"))) == 1
    assert not list((ref_ws.root / DS.STAGE).glob("*-decontam-*"))


def test_cache_holds_the_contaminated_documents_of_every_shard(workspace, planted, items):
    write_docs(workspace, "crawl", planted, shard_rows=40)
    ref = resolve_docs(workspace, "crawl")
    spec = Recipe(name="x", sources=["crawl"]).decontamination
    cfg = DS.scan_config(workspace, items, spec)
    DS.ensure_scan(workspace, ref, cfg)
    info = workspace.read_done(DS.STAGE, DS.scan_key(ref.docs_hash, cfg))
    assert info["shards"] == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    assert info["docs"] == planted.num_rows
    cached = DS.read_scan(workspace, [ref], cfg)
    whole = D.scan_table(planted, DI.NgramIndex.load(Path(cfg.index_path)))
    hit = np.flatnonzero(whole.n_matches > 0)
    assert info["contaminated"] == cached.num_rows == len(hit) >= len(set(BOILER) | set(UNIQUE))
    assert cached.column("doc_id").to_pylist() == planted.column("doc_id").take(pa.array(hit)).to_pylist()
    assert cached.column("n_matches").to_pylist() == whole.n_matches[hit].tolist()
    assert cached.column("first_item").to_pylist() == whole.first_item[hit].tolist()
    # another eval suite (or n) is another key: never read as this one
    other = DS.scan_config(workspace, items, spec.model_copy(update={"n": 12}))
    assert DS.scan_key(ref.docs_hash, other) != DS.scan_key(ref.docs_hash, cfg)
    assert not DS.scan_done(workspace, [ref], other)
    with pytest.raises(LookupError, match="no finished decontamination scan of crawl"):
        DS.read_scan(workspace, [ref], other)


def test_align_scan_by_doc_id():
    scanned = pa.table(
        {"doc_id": ["c", "a", "e"], "n_matches": [3, 1, 7], "first_item": [30, 10, 70]}, schema=DS.SCAN_SCHEMA
    )
    got = DS.align_scan(pa.array(["a", "b", "c", "d", "e", "a"]), scanned)
    assert got.n_matches.tolist() == [1, 0, 3, 0, 7, 1]
    assert got.first_item.tolist() == [10, -1, 30, -1, 70, 10]
    empty = DS.align_scan(pa.array(["a", "b"]), DS.SCAN_SCHEMA.empty_table())
    assert empty.n_matches.tolist() == [0, 0] and empty.first_item.tolist() == [-1, -1]
    with pytest.raises(ValueError, match="6 rows for a table of 2"):
        D.decontaminate(pa.table({"doc_id": ["a", "b"], "text": ["x", "y"]}), DI.build_index(_tiny_items()), scan=got)


def _tiny_items() -> pa.Table:
    return pa.table({"task": ["t"], "item_id": ["0"], "text": [" ".join(f"w{i}" for i in range(20))]})


def test_scan_computed_once_under_concurrent_callers(workspace, planted, items, capsys):
    write_docs(workspace, "crawl", planted, shard_rows=40)
    ref = resolve_docs(workspace, "crawl")
    cfg = DS.scan_config(workspace, items, Recipe(name="x", sources=["crawl"]).decontamination)
    calls: list[int] = []
    start = threading.Barrier(2)

    def slow_map(fn, jobs):
        calls.append(len(jobs))
        time.sleep(1.0)  # the other caller arrives while this one holds the claim
        return [fn(j) for j in jobs]

    def caller(out: list) -> None:
        start.wait()
        out.append(DS.ensure_scan(workspace, ref, cfg, slow_map))

    outs: list = []
    threads = [threading.Thread(target=caller, args=(outs,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert calls == [3]  # one caller scanned the 3 shards; the other waited and reused them
    assert len(outs) == 2 and outs[0] == outs[1]
    assert f"waiting for {DS.STAGE}/" in capsys.readouterr().out
    computed = [c for c in workspace.claims() if c["key"] == DS.scan_key(ref.docs_hash, cfg)]
    assert len(computed) == 1


@pytest.mark.timeout(300)
def test_map_decontam_scan_on_a_dask_cluster(tmp_path, planted, items):
    from dask.utils import key_split
    from distributed import Client, LocalCluster
    from prefect import flow

    from flows import _runtime
    from flows.decontam import map_decontam_scan

    spec = Recipe(name="x", sources=["crawl"]).decontamination
    local, remote = Workspace.from_env(tmp_path / "local"), Workspace.from_env(tmp_path / "cluster")
    for ws in (local, remote):
        write_docs(ws, "crawl", planted, shard_rows=40)
    ref = resolve_docs(local, "crawl")
    cfg = DS.scan_config(local, items, spec)
    DS.ensure_scan(local, ref, cfg)

    with (
        _runtime.prefect_api(),  # stopped inside the test (Prefect's own temporary server logs at exit)
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.get_task_stream()  # record from here on

        @flow(name="decontam-scan-test", task_runner=_runtime.dask_task_runner(cluster.scheduler_address))
        def on_cluster() -> list:
            return map_decontam_scan(remote, [resolve_docs(remote, "crawl")], spec)  # its own eval items

        done = on_cluster()
        stream = client.get_task_stream()
        again = on_cluster()
    assert [name for name, _ in done] == ["crawl"] and "3 shards" in done[0][1]
    assert again == [("crawl", "cached")]
    workers = {rec["worker"] for rec in stream if key_split(rec["key"]) == "decontam_scan_shard"}
    assert len([rec for rec in stream if key_split(rec["key"]) == "decontam_scan_shard"]) == 3
    assert workers  # the shards ran as tasks on the cluster's workers
    rref = resolve_docs(remote, "crawl")
    assert DS.scan_done(remote, [rref], DS.scan_config(remote, items, spec))
    for i in range(3):
        name = f"shard-{i:05d}.parquet"
        a = pq.read_table(DS.scan_dir(local, ref, cfg) / name)
        b = pq.read_table(DS.scan_dir(remote, rref, DS.scan_config(remote, items, spec)) / name)
        assert a.equals(b), name


@pytest.mark.parametrize("group_rows,batch_rows", [(4, 10), (7, 3), (25, 25), (5, 100)])
def test_shard_read_in_batches_by_row_group(tmp_path, group_rows, batch_rows):
    table = pa.table({"doc_id": [f"d{i}" for i in range(25)], "text": [f"t {i}" for i in range(25)]})
    pq.write_table(table, tmp_path / "s.parquet", row_group_size=group_rows)
    batches = list(row_batches(pq.ParquetFile(tmp_path / "s.parquet"), batch_rows))
    assert [b.num_rows for b in batches[:-1]] == [batch_rows] * (len(batches) - 1)
    assert 0 < batches[-1].num_rows <= batch_rows
    assert pa.concat_tables(batches).equals(table)
