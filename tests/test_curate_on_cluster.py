"""An arm's heavy curate stages on a Dask cluster (flows.ablation.curate_on_cluster): MinHash
signatures, the decontamination scan and selection scores computed as per-shard tasks, and
the near-duplicate band join as one task per hash range, on 2 worker processes give the
same files, and the same dataset, as curation computing them in process."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.core.docsref import resolve_docs
from tasks.core.workspace import Workspace
from tasks.curate import pipeline as C
from tasks.decontam import scan as DS
from tasks.decontam.index import default_eval_items
from tasks.recipe import Recipe
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs


def _workspace(root, table: pa.Table) -> Workspace:
    ws = Workspace.from_env(root)
    write_docs(ws, "crawl", table, shard_rows=70)
    build_signals(ws, resolve_docs(ws, "crawl"))
    return ws


def _tables(ws: Workspace, stage: str) -> dict[str, pa.Table]:
    """Every parquet file under `<stage>/`, by its path below the stage folder."""
    root = ws.root / stage
    return {str(p.relative_to(root)): pq.read_table(p) for p in sorted(root.rglob("*.parquet"))}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cluster_curation_matches_in_process(tmp_path, cc_docs_table):
    from distributed import Client
    from prefect import flow

    from flows import _runtime
    from flows.ablation import curate_on_cluster

    base = cc_docs_table.slice(0, 130)
    copies = base.slice(0, 10).to_pylist()
    for i, row in enumerate(copies):  # planted near-duplicates for MinHash to find
        row["doc_id"] = f"copy-{i:02d}"
        row["record_id"] = f"copy-{i}"
        row["text"] = row["text"] + " (copy)"
    table = pa.concat_tables([base, pa.Table.from_pylist(copies, schema=base.schema)])
    recipe = Recipe(
        name="heavy",
        sources=["crawl"],
        dedup={"minhash": True},
        selection={"method": "dsir", "keep_fraction": 0.5},
    )

    local = _workspace(tmp_path / "local", table)
    local_stats = C.curate(recipe, local).stats

    remote = _workspace(tmp_path / "cluster", table)
    with _runtime.prefect_api(), _runtime.dask_cluster(None, n_workers=2) as address, Client(address) as client:
        client.get_task_stream()  # record from here on

        @flow(name="curate-on-cluster-test", task_runner=_runtime.dask_task_runner(address))
        def on_cluster() -> None:
            curate_on_cluster(remote, recipe, address)

        on_cluster()
        stream = client.get_task_stream()
        remote_stats = C.curate(recipe, remote).stats

    from dask.utils import key_split

    kinds: dict[str, set[str]] = {}
    for rec in stream:
        kinds.setdefault(key_split(rec["key"]), set()).add(rec["worker"])
    n_shards = len(resolve_docs(remote, "crawl").shards)
    assert n_shards == 2
    assert "minhash_shard" in kinds and "score_shard_task" in kinds and "partition_clusters" in kinds, kinds
    assert "decontam_scan_shard" in kinds, kinds  # the decontamination scan, per shard
    assert len(kinds["minhash_shard"] | kinds["score_shard_task"]) == 2, kinds  # both workers took shards
    assert len(kinds["partition_clusters"]) == 2, kinds  # one band_hash range per worker
    # The cluster computed them (the curate step then found them done), the same bytes as in process.
    sigs, scores = _tables(remote, "signals"), _tables(remote, "selection")
    assert sum("minhash" in k for k in sigs) >= n_shards  # at least one file per shard
    scans = {k: t for k, t in _tables(remote, "validation").items() if "-decontam-" in k}
    assert len(scans) == n_shards  # one decontamination scan file per shard
    assert not any("-decontam-" in k for k in _tables(local, "validation"))  # in process: scanned, not cached
    assert sigs.keys() == _tables(local, "signals").keys()
    for name, t in _tables(local, "signals").items():
        assert sigs[name].equals(t), name
    assert scores.keys() == _tables(local, "selection").keys() and scores
    for name, t in _tables(local, "selection").items():
        assert scores[name].equals(t), name
    dedup = _tables(remote, "dedup")
    assert dedup.keys() == _tables(local, "dedup").keys() and dedup
    for name, t in _tables(local, "dedup").items():
        assert dedup[name].equals(t), name
    key = C.dataset_key(recipe)
    part = "part-00000.parquet"
    assert pq.read_table(remote.stage_dir("datasets", key) / part).equals(
        pq.read_table(local.stage_dir("datasets", key) / part)
    )
    assert local_stats["documents"] == remote_stats["documents"] < table.num_rows
    assert local_stats["removals"] == remote_stats["removals"]
    assert local_stats["removals"].get("dedup")  # the planted copies were found
    # the cluster's per-shard scan files are those of the scan in process
    spec = recipe.decontamination
    DS.ensure_scan(local, resolve_docs(local, "crawl"), DS.scan_config(local, default_eval_items(), spec))
    for name, t in scans.items():
        assert pq.read_table(local.root / "validation" / name).equals(t), name
