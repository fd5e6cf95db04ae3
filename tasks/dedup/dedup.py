"""Deduplication: exact, URL, MinHash-LSH near duplicates and CCNet-style lines.

`run_dedup` computes, once per (inputs, spec), the duplicate clusters of every
document and writes `dedup/<key>/`:

- `clusters.parquet`: one row per target document: doc_id, source, doc_order and for
  each mode m that ran `m_cluster_id` (doc_id of the cluster's first document),
  `m_cluster_order`, `m_cluster_size` (documents of the cluster), `m_ref_match` (the
  cluster holds a document of an earlier dataset) and `m_keep`; then `keep` (survives
  every mode, in order exact -> url -> minhash -> lines) and `lines_removed_frac`.
- `lines.parquet` (lines mode): doc_id, text rewritten without boilerplate lines,
  emptied, lines_removed, lines_total, removed_frac; only documents that changed.
- `stats.json`: what each step removed.

Cluster sizes stay in the table so a recipe can upsample or downweight by duplicate
count (FineWeb2-style rebalancing) instead of only dropping.

`apply_dedup` is the curate step's entry: it re-chooses the kept document of each
cluster among the documents a recipe still has (after its filters), so a filtered-out
representative does not take its whole cluster with it.

Near duplicates: MinHash band hashes (tasks/dedup/minhash.py, computed once per source in
the signals stage, each file sorted by band_hash) -> per band_hash range: candidate pairs
by a DuckDB join on (band, band_hash), optional verification, clusters within the range
(`partition_clusters`) -> one connected-components pass over the ranges' (document, root)
rows (scipy.sparse.csgraph). With `partitions=P` and a Dask map, each range is a task on
a worker whose scan skips the row groups outside its range: it reads ~1/P of the bands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tasks.core.docsref import DocsRef, resolve_docs
from tasks.core.hashing import hash_json, short
from tasks.core.sqlfiles import Sql, load_sql, render_sql, sql_fragment
from tasks.core.workspace import Workspace, write_json_atomic
from tasks.dedup.cluster_inputs import ClusterInputs
from tasks.dedup.minhash import (
    MinhashConfig,
    compute_shard,
    estimated_jaccard,
    exact_jaccard,
    shingle_sets,
    signals_key,
)
from tasks.dedup.registry import cluster_mode_names, get_mode
from tasks.dedup.spec import DedupSpec, MinhashDedupSpec

CODE_VERSION = "dedup-1"
CLUSTER_MODES = cluster_mode_names()  # run order, from tasks/dedup/registry.py
REFERENCE_SCOPE = "*reference*"
_RANK_SHIFT = 48

# Keep policies as ORDER BY clauses over dedup_alive (whitelisted: never user SQL).
_ORDER_BY = {
    "first": "doc_order",
    "longest": "n_chars DESC NULLS LAST, doc_order",
    "latest": "crawl_date DESC NULLS LAST, doc_order",
    "quality": "quality DESC NULLS LAST, doc_order",
}

# A map over independent work items: the builtin `map` locally, a Dask client's
# `lambda f, xs: client.gather(client.map(f, xs))` on a cluster.
MapFn = Callable[[Callable[[Any], Any], Sequence[Any]], Sequence[Any]]


def _local_map(fn, items):
    return [fn(x) for x in items]


@dataclass(frozen=True)
class DedupResult:
    key: str
    dir: Path
    stats: dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    @property
    def clusters_path(self) -> Path:
        return self.dir / "clusters.parquet"

    @property
    def lines_path(self) -> Path:
        return self.dir / "lines.parquet"


# ---------------------------------------------------------------- signatures (signals stage)


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


def ensure_signatures(workspace: Workspace, ref: DocsRef, cfg: MinhashConfig, map_fn: MapFn = _local_map) -> Path:
    """MinHash bands + signatures of one source, computed once (cached by docs hash + config)."""
    out = signatures_dir(workspace, ref, cfg)
    if not signature_jobs(workspace, ref, cfg):
        return out
    with workspace.claim("signals", signals_key(ref.docs_hash, cfg)):
        jobs = signature_jobs(workspace, ref, cfg)  # none if a concurrent run did them while we waited
        if jobs:
            t0 = time.time()
            results = list(map_fn(shard_job, jobs))
            finish_signatures(workspace, ref, cfg, results, time.time() - t0)
    return out


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


# ---------------------------------------------------------------- inputs


def dedup_key(targets: Sequence[DocsRef], against: Sequence[DocsRef], spec: DedupSpec) -> str:
    return short(
        hash_json(
            {
                "targets": [(r.name, r.docs_hash) for r in targets],
                "against": sorted((r.name, r.docs_hash) for r in against),
                "spec": spec.model_dump(exclude={"options", "against"}),
                "code": CODE_VERSION,
            }
        )
    )


def _as_ref(workspace: Workspace, x: DocsRef | str) -> DocsRef:
    return x if isinstance(x, DocsRef) else resolve_docs(workspace, x)


def _files_table(
    targets: Sequence[DocsRef],
    against: Sequence[DocsRef],
    scope: str,
    paths: Callable[[DocsRef], Sequence[Path]] | None = None,
) -> pa.Table:
    rows = []
    for rank, ref in enumerate([*targets, *against]):
        is_ref = rank >= len(targets)
        scope_key = REFERENCE_SCOPE if is_ref else (ref.name if scope == "source" else "")
        for index, path in enumerate(paths(ref) if paths else ref.shards):
            rows.append(
                {
                    "path": str(Path(path).resolve()),
                    "source": ref.name,
                    "source_rank": rank,
                    "shard_index": index,
                    "is_reference": is_ref,
                    "scope_key": scope_key,
                }
            )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("path", pa.string()),
                ("source", pa.string()),
                ("source_rank", pa.int32()),
                ("shard_index", pa.int32()),
                ("is_reference", pa.bool_()),
                ("scope_key", pa.string()),
            ]
        ),
    )


def _connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(load_sql("dedup/macros"))
    return con


def _open_docs(
    con: duckdb.DuckDBPyConnection, files: pa.Table, quality: pa.Table | None, quality_column: str | None
) -> None:
    paths = files.column("path").to_pylist()
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"dedup input shard {p} does not exist")
    names = set()
    for p in paths:
        schema = pq.read_schema(p)
        missing = {"doc_id", "text"} - set(schema.names)
        if missing:
            raise ValueError(f"dedup input {p} lacks column(s) {sorted(missing)}")
        names |= set(schema.names)
    con.register("dedup_files", files)
    con.read_parquet(paths, filename=True, file_row_number=True, union_by_name=True).create_view("dedup_raw")
    # Column expressions (not queries): an input's column, or a typed NULL when it lacks it.
    fill = {"url": "NULL::VARCHAR", "crawl_date": "NULL::TIMESTAMPTZ", "n_chars": "NULL::BIGINT"}
    cols = {c: Sql(f"d.{c}" if c in names else null) for c, null in fill.items()}
    if quality is not None:
        if quality_column not in quality.column_names or "doc_id" not in quality.column_names:
            raise ValueError(f"quality table needs columns doc_id and {quality_column!r}")
        # Renamed to `quality`, so no name from the recipe is spliced into the SQL.
        con.register("dedup_quality", quality.select(["doc_id", quality_column]).rename_columns(["doc_id", "quality"]))
        cols["quality"] = Sql("q.quality::DOUBLE")
        cols["quality_join"] = sql_fragment("dedup/fragments/quality_join")
    else:
        cols["quality"] = Sql("NULL::DOUBLE")
        cols["quality_join"] = Sql("")
    con.execute(render_sql("dedup/docs_view", **cols))


# ---------------------------------------------------------------- near duplicates


@dataclass(frozen=True)
class PartitionJob:
    """One band_hash range of the near-duplicate join (a Dask task on a cluster): its
    candidate pairs, verified, reduced to clusters within the partition."""

    band_files: pa.Table  # _files_table of the bands files
    doc_files: pa.Table  # _files_table of the docs shards (exact verification reads texts)
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
    con = _connect(job.threads)
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
        con = _connect(job.threads)
        try:
            if job.spec.verify == "exact":
                _open_docs(con, job.doc_files, None, None)
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


def minhash_clusters(run: ClusterInputs) -> tuple[pa.Table, dict]:
    """The minhash mode's entry in tasks/dedup/registry.py."""
    return near_duplicate_clusters(
        run.con, run.workspace, run.targets, run.against, run.spec, run.map_fn, run.partitions, run.threads
    )


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

    band_files = _files_table(targets, against, spec.scope, band_paths)
    doc_files = _files_table(targets, against, spec.scope)
    return [PartitionJob(band_files, doc_files, p, partitions, mspec, len(targets), threads) for p in range(partitions)]


def near_duplicate_clusters(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    targets: Sequence[DocsRef],
    against: Sequence[DocsRef],
    spec: DedupSpec,
    map_fn: MapFn = _local_map,
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


# ---------------------------------------------------------------- keep policies


def choose_kept(con: duckdb.DuckDBPyConnection, alive: pa.Table, policy: str) -> pa.Table:
    """(doc_order, keep) for the alive documents: one per cluster by `policy`."""
    if policy not in _ORDER_BY:
        raise ValueError(f"unknown keep policy {policy!r}; known: {', '.join(_ORDER_BY)}")
    con.register("dedup_alive", alive)
    try:
        return con.sql(render_sql("dedup/keep", order_by=Sql(_ORDER_BY[policy]))).to_arrow_table()
    finally:
        con.unregister("dedup_alive")


def _policy(spec: DedupSpec, mode: str) -> str:
    return getattr(getattr(spec, mode), "keep", "first")


def _align(orders: np.ndarray, table: pa.Table, column: str, default: Any) -> np.ndarray:
    """Values of `column` for `orders` from a (doc_order, column) table, default where absent."""
    src = table.column("doc_order").to_numpy()
    vals = table.column(column).to_numpy(zero_copy_only=False)
    out = np.full(len(orders), default, dtype=vals.dtype if len(vals) else np.asarray(default).dtype)
    if len(src):
        pos = np.argsort(src)
        idx = np.searchsorted(src[pos], orders)
        idx = np.minimum(idx, len(src) - 1)
        hit = src[pos][idx] == orders
        out[hit] = vals[pos][idx[hit]]
    return out


# ---------------------------------------------------------------- the stage


def run_dedup(
    workspace: Workspace,
    targets: Sequence[DocsRef | str],
    spec: DedupSpec,
    against: Sequence[DocsRef | str] | None = None,
    *,
    quality: pa.Table | None = None,
    map_fn: MapFn = _local_map,
    partitions: int = 1,
    threads: int | None = None,
    force: bool = False,
) -> DedupResult:
    """Clusters and keep flags of every target document for the modes in `spec`.

    `targets`: sources (names, keys or DocsRefs) deduplicated together (scope "global")
    or each on its own (scope "source"); `against`: an earlier dataset's sources, whose
    documents win every cluster they are in and are not part of the output.
    """
    target_refs = [_as_ref(workspace, t) for t in targets]
    against_refs = [_as_ref(workspace, t) for t in (against if against is not None else spec.against)]
    if not target_refs:
        raise ValueError("run_dedup needs at least one target source")
    key = dedup_key(target_refs, against_refs, spec)
    out = workspace.stage_dir("dedup", key)
    if workspace.is_done("dedup", key) and not force:
        return DedupResult(key, out, workspace.read_done("dedup", key).get("stats", {}), cached=True)
    with workspace.claim("dedup", key) as claim:
        if not claim.todo and not force:  # a concurrent run finished it while we waited
            return DedupResult(key, out, workspace.read_done("dedup", key).get("stats", {}), cached=True)
        t0 = time.time()
        out.mkdir(parents=True, exist_ok=True)
        con = _connect(threads)
        _open_docs(con, _files_table(target_refs, against_refs, spec.scope), quality, spec.quality_column)
        state = con.sql(load_sql("dedup/state")).to_arrow_table()
        orders = state.column("doc_order").to_numpy()
        n = len(orders)
        doc_ids = state.column("doc_id")
        columns: dict[str, Any] = {
            "doc_id": doc_ids,
            "source": state.column("source"),
            "doc_order": orders,
            "n_chars": state.column("n_chars"),
            "crawl_date": state.column("crawl_date"),
            "quality": state.column("quality"),
        }
        alive = np.ones(n, dtype=bool)
        stats: dict[str, Any] = {
            "input_docs": n,
            "sources": [r.name for r in target_refs],
            "against": [r.name for r in against_refs],
            "removed": {},
        }
        policy_cols = state.select(["n_chars", "crawl_date", "quality"])
        for mode in CLUSTER_MODES:
            mspec = getattr(spec, mode)
            if mspec is None:
                continue
            tm = time.time()
            entry = get_mode(mode)
            if entry.clusters is not None:
                inputs = ClusterInputs(con, workspace, target_refs, against_refs, spec, map_fn, partitions, threads)
                comp, info = entry.cluster_fn()(inputs)
                stats[mode] = info
            else:
                params = mspec.model_dump(exclude={"keep"})
                comp = con.sql(load_sql(f"dedup/{mode}_clusters"), params=params).to_arrow_table()
            cluster_order = _align(orders, comp, "cluster_order", -1)
            cluster_order = np.where(cluster_order < 0, orders, cluster_order)
            size = _align(orders, comp, "cluster_size", 1)
            ref_match = _align(orders, comp, "ref_match", False)
            idx = np.flatnonzero(alive)
            chosen = choose_kept(
                con,
                pa.table(
                    {
                        "doc_order": orders[idx],
                        "cluster_order": cluster_order[idx],
                        "ref_match": ref_match[idx],
                        **{c: policy_cols.column(c).take(pa.array(idx)) for c in policy_cols.column_names},
                    }
                ),
                _policy(spec, mode),
            )
            keep = _align(orders, chosen, "keep", False)
            rep_pos = np.searchsorted(orders, cluster_order)
            columns.update(
                {
                    f"{mode}_cluster_id": doc_ids.take(pa.array(rep_pos)),
                    f"{mode}_cluster_order": cluster_order,
                    f"{mode}_cluster_size": size,
                    f"{mode}_ref_match": ref_match,
                    f"{mode}_keep": keep,
                }
            )
            stats["removed"][mode] = int(alive.sum() - keep.sum())
            stats.setdefault("seconds", {})[mode] = round(time.time() - tm, 3)
            stats.setdefault("duplicate_docs", {})[mode] = int((size > 1).sum() + ref_match.sum())
            alive &= keep
        removed_frac = np.zeros(n)
        if spec.lines is not None:
            tm = time.time()
            lparams = {"paragraphs": spec.lines.paragraphs}
            con.sql(load_sql("dedup/line_removals"), params={**lparams, "max_count": spec.lines.max_count}).create(
                "dedup_line_removals"
            )
            tmp = out / ".lines.parquet.tmp"
            con.sql(load_sql("dedup/line_rewrite"), params=lparams).write_parquet(str(tmp))
            tmp.replace(out / "lines.parquet")
            lines = pq.read_table(
                out / "lines.parquet", columns=["doc_order", "emptied", "removed_frac", "lines_removed"]
            )
            removed_frac = _align(orders, lines, "removed_frac", 0.0)
            emptied = lines.filter(lines.column("emptied")).column("doc_order").to_numpy()
            emptied_mask = np.isin(orders, emptied)
            stats["lines"] = {
                "docs_rewritten": lines.num_rows,
                "lines_removed": int(pc.sum(lines.column("lines_removed")).as_py() or 0),
                "docs_emptied": int((emptied_mask & alive).sum()),
                "chars_removed_frac_mean": float(removed_frac[alive].mean()) if alive.any() else 0.0,
            }
            stats["removed"]["lines"] = int((emptied_mask & alive).sum())
            stats.setdefault("seconds", {})["lines"] = round(time.time() - tm, 3)
            alive &= ~emptied_mask
        columns["keep"] = alive
        columns["lines_removed_frac"] = removed_frac
        con.close()
        table = pa.table(columns)
        tmp = out / ".clusters.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(out / "clusters.parquet")
        stats["output_docs"] = int(alive.sum())
        stats["seconds_total"] = round(time.time() - t0, 3)
        write_json_atomic(out / "stats.json", stats)
        workspace.mark_done(
            "dedup",
            key,
            {
                "stats": stats,
                "spec": spec.model_dump(),
                "targets": [(r.name, r.docs_hash) for r in target_refs],
                "against": [(r.name, r.docs_hash) for r in against_refs],
            },
        )
        return DedupResult(key, out, stats)


def apply_dedup(
    con: duckdb.DuckDBPyConnection,
    relation: duckdb.DuckDBPyRelation,
    spec: DedupSpec,
    workspace: Workspace,
    sources: Sequence[DocsRef | str],
    *,
    result: DedupResult | None = None,
    quality: pa.Table | None = None,
    explain: bool = False,
) -> tuple[duckdb.DuckDBPyRelation, dict[str, Any]]:
    """The curate step's dedup: `relation` (with doc_id; text for the lines mode; the
    quality column for the `quality` policy) restricted to the documents each mode keeps,
    re-choosing each cluster's survivor among the documents the relation still has.

    Adds `<mode>_cluster_size` columns (for upsampling by duplicate count) and
    `lines_removed_frac`; with the lines mode, `text` is the rewritten text and
    documents left empty are dropped. Returns (relation, removal stats). With `explain`,
    stats["losers"] is a table of every document a cluster mode removed: doc_id, reason
    (dedup.<mode>), the cluster's id and size, and the kept duplicate it lost to
    (kept_doc_id; null when the cluster holds a document of an earlier dataset).
    """
    modes = spec.modes()
    if not modes:
        return relation, {"input_docs": None, "removed": {}}
    result = result or run_dedup(workspace, sources, spec, quality=quality)
    clusters = pq.read_table(result.clusters_path)
    cols = relation.columns
    if "doc_id" not in cols:
        raise ValueError(f"apply_dedup needs a doc_id column; relation has {cols}")
    ids = relation.select("doc_id").to_arrow_table().column("doc_id")
    subset = clusters.filter(pc.is_in(clusters.column("doc_id"), value_set=ids.unique()))
    orders = subset.column("doc_order").to_numpy()
    unknown = len(ids.unique()) - subset.num_rows
    if unknown:
        raise ValueError(
            f"apply_dedup: {unknown} document(s) of the relation are not in dedup run "
            f"{result.key} (sources {list(result.stats.get('sources', []))})"
        )
    alive = np.ones(len(orders), dtype=bool)
    stats: dict[str, Any] = {"input_docs": len(orders), "removed": {}}
    qual = None
    if spec.quality_column and spec.quality_column in cols:
        qual = relation.select(f'doc_id, "{spec.quality_column}"::DOUBLE AS quality').to_arrow_table()
    helper = _connect()
    losers: list[pa.Table] = []
    try:
        for mode in (m for m in CLUSTER_MODES if m in modes):
            idx = np.flatnonzero(alive)
            part = subset.take(pa.array(idx))
            alive_tbl = pa.table(
                {
                    "doc_order": part.column("doc_order"),
                    "cluster_order": part.column(f"{mode}_cluster_order"),
                    "ref_match": part.column(f"{mode}_ref_match"),
                    "n_chars": pa.nulls(len(idx), pa.int64()),
                    "crawl_date": pa.nulls(len(idx), pa.timestamp("us", "UTC")),
                    "quality": pa.nulls(len(idx), pa.float64()),
                }
            )
            alive_tbl = _with_policy_columns(alive_tbl, part, result, qual)
            chosen = choose_kept(helper, alive_tbl, _policy(spec, mode))
            keep = _align(orders, chosen, "keep", False)
            stats["removed"][mode] = int(alive.sum() - keep.sum())
            if explain:
                losers.append(_losers(subset, orders, mode, alive, keep))
            alive &= keep
    finally:
        helper.close()
    if explain:
        stats["losers"] = pa.concat_tables(losers) if losers else _LOSERS_SCHEMA.empty_table()
    kept = subset.filter(pa.array(alive)).select(
        ["doc_id", *[f"{m}_cluster_size" for m in CLUSTER_MODES if m in modes], "lines_removed_frac"]
    )
    con.register("dedup_kept", kept)
    out = relation.join(con.table("dedup_kept"), "doc_id")
    if "lines" in modes and "text" in cols:
        con.read_parquet(str(result.lines_path)).select("doc_id AS _lid, text AS _ltext").create_view("dedup_lines")
        out = out.join(con.table("dedup_lines"), "doc_id = _lid", how="left")
        rest = [f'"{c}"' for c in out.columns if c not in ("text", "_lid", "_ltext")]
        out = out.select(", ".join(rest) + ", coalesce(_ltext, text) AS text")
        n_before = int(alive.sum())
        out = out.filter("length(trim(text)) > 0")
        stats["removed"]["lines"] = n_before - out.count("*").fetchall()[0][0]
    stats["output_docs"] = out.count("*").fetchall()[0][0]
    return out, stats


_LOSERS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("reason", pa.string()),
        ("kept_doc_id", pa.string()),
        ("cluster_id", pa.string()),
        ("cluster_size", pa.int64()),
    ]
)


def _losers(subset: pa.Table, orders: np.ndarray, mode: str, alive: np.ndarray, keep: np.ndarray) -> pa.Table:
    """The documents `mode` removed (alive, not kept) with the kept document of their cluster."""
    cluster = subset.column(f"{mode}_cluster_order").to_numpy()
    lost = np.flatnonzero(alive & ~keep)
    won = np.flatnonzero(alive & keep)
    by_cluster = won[np.argsort(cluster[won], kind="stable")]
    pos = np.searchsorted(cluster[by_cluster], cluster[lost]) if len(by_cluster) else np.zeros(len(lost), np.int64)
    pos = np.minimum(pos, max(len(by_cluster) - 1, 0))
    hit = (cluster[by_cluster][pos] == cluster[lost]) if len(by_cluster) else np.zeros(len(lost), bool)
    ids = subset.column("doc_id")
    if not len(lost):
        return _LOSERS_SCHEMA.empty_table()
    winner = ids.take(pa.array(by_cluster[pos] if len(by_cluster) else np.zeros(len(lost), np.int64)))
    return pa.table(
        {
            "doc_id": ids.take(pa.array(lost, pa.int64())),
            "reason": pa.array([f"dedup.{mode}"] * len(lost), pa.string()),
            "kept_doc_id": pc.if_else(pa.array(hit, pa.bool_()), winner, pa.scalar(None, pa.string())),
            "cluster_id": subset.column(f"{mode}_cluster_id").take(pa.array(lost, pa.int64())),
            "cluster_size": subset.column(f"{mode}_cluster_size").take(pa.array(lost, pa.int64())),
        },
        schema=_LOSERS_SCHEMA,
    )


def _with_policy_columns(alive_tbl: pa.Table, part: pa.Table, result: DedupResult, qual: pa.Table | None) -> pa.Table:
    for c in ("n_chars", "crawl_date"):
        if c in part.column_names:
            alive_tbl = alive_tbl.set_column(alive_tbl.column_names.index(c), c, part.column(c))
    if qual is not None:
        q = _align_by_id(part.column("doc_id"), qual)
        alive_tbl = alive_tbl.set_column(alive_tbl.column_names.index("quality"), "quality", q)
    elif "quality" in part.column_names:
        alive_tbl = alive_tbl.set_column(alive_tbl.column_names.index("quality"), "quality", part.column("quality"))
    return alive_tbl


def _align_by_id(ids: pa.ChunkedArray, table: pa.Table) -> pa.Array:
    pos = pc.index_in(ids, value_set=table.column("doc_id"))
    return table.column("quality").take(pos)
