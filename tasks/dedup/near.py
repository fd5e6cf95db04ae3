"""Near duplicates by MinHash-LSH: candidate pairs, verification and clusters.

MinHash band hashes (tasks/dedup/minhash.py, computed once per source in the signals
stage, each file sorted by band_hash) -> per band_hash range: candidate pairs by a DuckDB
join on (band, band_hash), optional verification, clusters within the range
(`partition_clusters`) -> one connected-components pass over the ranges' (document, root)
rows (scipy.sparse.csgraph). With `partitions=P` and a Dask map, each range is a task on
a worker whose scan skips the row groups outside its range: it reads ~1/P of the bands.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tasks.core.docsref import DocsRef
from tasks.core.shards import MapFn, local_map
from tasks.core.sqlfiles import load_sql
from tasks.core.workspace import Workspace
from tasks.dedup.cluster_inputs import ClusterInputs
from tasks.dedup.inputs import connect, files_table, open_docs
from tasks.dedup.minhash import estimated_jaccard, exact_jaccard, shingle_sets, signals_key
from tasks.dedup.signatures import ensure_signatures, minhash_config, signatures_dir
from tasks.dedup.spec import DedupSpec, MinhashDedupSpec

_RANK_SHIFT = 48  # doc_order = input rank << 48 | ... (sql/dedup/docs_view.sql)


@dataclass(frozen=True)
class PartitionJob:
    """One band_hash range of the near-duplicate join (a Dask task on a cluster): its
    candidate pairs, verified, reduced to clusters within the partition."""

    band_files: pa.Table  # files_table of the bands files
    doc_files: pa.Table  # files_table of the docs shards (exact verification reads texts)
    partition: int
    partitions: int
    spec: MinhashDedupSpec
    n_targets: int
    threads: int | None = None


@dataclass(frozen=True)
class PartitionResult:
    """Each document in a verified pair of the partition, with the smallest doc_order of
    its cluster within the partition. Every edge a -> b becomes two rows at most, and the
    clusters of all partitions merge by one more connected-components pass."""

    nodes: np.ndarray
    roots: np.ndarray
    candidate_pairs: int
    verified_pairs: int
    band_rows_read: int
    band_bytes_read: int


def hash_range(partition: int, partitions: int) -> tuple[int, int]:
    """The inclusive band_hash range [lo, hi] of one of `partitions` equal slices of uint64."""
    if not 0 <= partition < partitions:
        raise ValueError(f"partition {partition} is not in 0..{partitions - 1}")
    return partition * 2**64 // partitions, (partition + 1) * 2**64 // partitions - 1


def band_range_reads(band_files: pa.Table, lo: int, hi: int) -> tuple[int, int]:
    """(rows, bytes) of the row groups a scan for lo <= band_hash <= hi reads: those whose
    min/max overlap the range. Bands files are sorted by band_hash (tasks/dedup/minhash.py),
    so a range of 1/P reads about 1/P; DuckDB's Parquet reader skips the others itself."""
    rows = nbytes = 0
    for path in band_files.column("path").to_pylist():
        meta = pq.ParquetFile(path).metadata
        col = [meta.schema.column(j).path for j in range(meta.num_columns)].index("band_hash")
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            st = rg.column(col).statistics
            if st is not None and st.has_min_max and (st.max < lo or st.min > hi):
                continue
            rows += rg.num_rows
            nbytes += rg.total_byte_size
    return rows, nbytes


def partition_edges(job: PartitionJob) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Candidate pairs (a, b) of one hash range, from its own DuckDB; also the band rows
    and bytes its scan reads."""
    lo, hi = hash_range(job.partition, job.partitions)
    con = connect(job.threads)
    try:
        con.register("dedup_band_files", job.band_files)
        paths = job.band_files.column("path").to_pylist()
        con.read_parquet(paths, filename=True).create_view("dedup_bands_raw")
        con.execute(load_sql("dedup/bands_view"))
        # the range is pushed into the Parquet scan: row groups outside it are not read
        t = con.sql(load_sql("dedup/minhash_edges"), params={"lo": lo, "hi": hi}).to_arrow_table()
    finally:
        con.close()
    rows, nbytes = band_range_reads(job.band_files, lo, hi)
    return t.column("a").to_numpy().astype(np.int64), t.column("b").to_numpy().astype(np.int64), rows, nbytes


def partition_clusters(job: PartitionJob) -> PartitionResult:
    """One partition end to end: candidate pairs, verification, clusters within it."""
    a, b, rows_read, bytes_read = partition_edges(job)
    candidates = len(a)
    if job.spec.verify != "none" and len(a):
        con = connect(job.threads)
        try:
            if job.spec.verify == "exact":
                open_docs(con, job.doc_files, None, None)
            ok = _verify(con, a, b, job.spec, _sig_files(job.band_files))
        finally:
            con.close()
        a, b = a[ok], b[ok]
    nodes, roots = _local_roots(a, b)
    return PartitionResult(nodes, roots, candidates, len(a), rows_read, bytes_read)


def _sig_files(band_files: pa.Table) -> pa.Table:
    """The signature files beside the bands files (sigs/shard-NNNNN.parquet)."""
    paths = [str(Path(p).parent / "sigs" / Path(p).name) for p in band_files.column("path").to_pylist()]
    return band_files.set_column(0, "path", pa.array(paths, pa.string()))


def _local_roots(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every node of the pair graph with the smallest node of its component."""
    nodes = np.unique(np.concatenate([a, b]))
    if not len(nodes):
        return nodes, nodes
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    root = np.full(labels.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(root, labels, nodes)
    return nodes, root[labels]


def _verify(
    con: duckdb.DuckDBPyConnection, a: np.ndarray, b: np.ndarray, spec: MinhashDedupSpec, sig_files: pa.Table | None
) -> np.ndarray:
    """Mask of candidate pairs whose (estimated or exact) Jaccard reaches the threshold."""
    nodes = np.unique(np.concatenate([a, b]))
    con.register("dedup_nodes", pa.table({"doc_order": nodes}))
    if spec.verify == "estimate":
        assert sig_files is not None  # the caller passes the signature files for estimates
        con.register("dedup_sig_files", sig_files)
        con.read_parquet(sig_files.column("path").to_pylist(), filename=True).create_view("dedup_sigs_raw")
        t = con.sql(load_sql("dedup/signatures")).to_arrow_table()
        order = t.column("doc_order").to_numpy()
        sigs = np.asarray(t.column("signature").combine_chunks().flatten().to_numpy()).reshape(len(order), -1)
        pos = np.argsort(order)
        order, sigs = order[pos], sigs[pos]
        ia, ib = np.searchsorted(order, a), np.searchsorted(order, b)
        sims = np.empty(len(a))
        for s in range(0, len(a), 1 << 16):  # bounded memory per step
            sims[s : s + (1 << 16)] = estimated_jaccard(sigs[ia[s : s + (1 << 16)]], sigs[ib[s : s + (1 << 16)]])
    else:
        # Stream the texts: only the shingle sets (~4 bytes per shingle) stay in memory.
        cfg = minhash_config(spec)
        sets: dict[int, np.ndarray] = {}
        reader = con.sql(load_sql("dedup/texts")).fetch_record_batch(5000)
        for batch in reader:
            batch_sets = shingle_sets(batch.column("text").to_pylist(), cfg)
            sets.update(
                zip(batch.column("doc_order").to_pylist(), (np.unique(s.astype(np.uint32)) for s in batch_sets))
            )
        sims = np.array([exact_jaccard(sets[int(x)], sets[int(y)]) for x, y in zip(a, b)])
    return sims >= spec.threshold


def _components(a: np.ndarray, b: np.ndarray, n_targets: int) -> dict[str, np.ndarray]:
    """Connected components of the pair graph: per node its cluster's first target
    document, the cluster's target count and whether it holds a reference document."""
    nodes = np.unique(np.concatenate([a, b]))
    if len(nodes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {"doc_order": empty, "cluster_order": empty, "cluster_size": empty, "ref_match": np.zeros(0, dtype=bool)}
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    is_ref = (nodes >> _RANK_SHIFT) >= n_targets
    big = np.iinfo(np.int64).max
    first = np.full(labels.max() + 1, big, dtype=np.int64)
    np.minimum.at(first, labels, np.where(is_ref, big, nodes))
    size = np.bincount(labels, weights=~is_ref).astype(np.int64)
    has_ref = np.bincount(labels, weights=is_ref) > 0
    keep = ~is_ref
    return {
        "doc_order": nodes[keep],
        "cluster_order": first[labels][keep],
        "cluster_size": size[labels][keep],
        "ref_match": has_ref[labels][keep],
    }


def partition_jobs(
    workspace: Workspace,
    targets: Sequence[DocsRef],
    against: Sequence[DocsRef],
    spec: DedupSpec,
    partitions: int,
    threads: int | None = None,
) -> list[PartitionJob]:
    """The near-duplicate join's jobs, one per band_hash range (signatures must be done)."""
    mspec = spec.minhash
    assert mspec is not None  # called only when minhash dedup is on
    cfg = minhash_config(mspec)

    def band_paths(ref):
        d = signatures_dir(workspace, ref, cfg)
        return [d / name for name in workspace.read_done("signals", signals_key(ref.docs_hash, cfg))["shards"]]

    band_files = files_table(targets, against, spec.scope, band_paths)
    doc_files = files_table(targets, against, spec.scope)
    return [PartitionJob(band_files, doc_files, p, partitions, mspec, len(targets), threads) for p in range(partitions)]


def near_duplicate_clusters(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    targets: Sequence[DocsRef],
    against: Sequence[DocsRef],
    spec: DedupSpec,
    map_fn: MapFn = local_map,
    partitions: int = 1,
    threads: int | None = None,
) -> tuple[pa.Table, dict]:
    mspec = spec.minhash
    assert mspec is not None  # called only when minhash dedup is on
    for ref in [*targets, *against]:
        ensure_signatures(workspace, ref, minhash_config(mspec), map_fn)
    t0 = time.time()
    jobs = partition_jobs(workspace, targets, against, spec, partitions, threads)
    parts: list[PartitionResult] = list(map_fn(partition_clusters, jobs))
    candidates = sum(p.candidate_pairs for p in parts)
    info: dict[str, Any] = {
        "candidate_pairs": candidates,
        "partitions": partitions,
        "band_rows_read": sum(p.band_rows_read for p in parts),
        "band_bytes_read_max_partition": max((p.band_bytes_read for p in parts), default=0),
        "band_bytes_read": sum(p.band_bytes_read for p in parts),
    }
    if mspec.verify != "none" and candidates:
        info["verified_pairs"] = sum(p.verified_pairs for p in parts)
    info["seconds_pairs"] = round(time.time() - t0, 3)
    # The partitions' clusters merge here: (node, root) rows are edges of the same graph.
    nodes = np.concatenate([p.nodes for p in parts]) if parts else np.zeros(0, np.int64)
    roots = np.concatenate([p.roots for p in parts]) if parts else np.zeros(0, np.int64)
    comp = _components(nodes, roots, len(targets))
    return pa.table(comp), info


def minhash_clusters(run: ClusterInputs) -> tuple[pa.Table, dict]:
    """The minhash mode's entry in tasks/dedup/registry.py."""
    return near_duplicate_clusters(
        run.con, run.workspace, run.targets, run.against, run.spec, run.map_fn, run.partitions, run.threads
    )
