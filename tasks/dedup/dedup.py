"""The dedup stage: exact, URL, MinHash-LSH near duplicates, CCNet-style lines and exact substrings.

`run_dedup` computes, once per (inputs, spec), the duplicate clusters of every
document and writes `dedup/<key>/`:

- `clusters.parquet`: one row per target document: doc_id, source, doc_order and for
  each mode m that ran `m_cluster_id` (doc_id of the cluster's first document),
  `m_cluster_order`, `m_cluster_size` (documents of the cluster), `m_ref_match` (the
  cluster holds a document of an earlier dataset) and `m_keep`; then `keep` (survives
  every mode, in order exact -> url -> minhash -> lines) and `lines_removed_frac`.
- `lines.parquet` (lines mode): doc_id, text rewritten without boilerplate lines,
  emptied, lines_removed, lines_total, removed_frac; only documents that changed.
- `<mode>.parquet` (rewrite modes, e.g. substring): doc_id, text cut, emptied,
  removed_frac, spans; only documents that changed (tasks/dedup/substring.py).
- `stats.json`: what each step removed.

Cluster sizes stay in the table so a recipe can upsample or downweight by duplicate
count (FineWeb2-style rebalancing) instead of only dropping. The curate step applies a
run with tasks/dedup/apply.py; near duplicates are tasks/dedup/near.py, keep policies
tasks/dedup/keep.py, the inputs' DuckDB views tasks/dedup/inputs.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef
from tasks.core.hashing import hash_json, short
from tasks.core.shards import MapFn, local_map
from tasks.core.sqlfiles import load_sql
from tasks.core.workspace import Workspace, write_json_atomic
from tasks.dedup.cluster_inputs import ClusterInputs, RewriteInputs
from tasks.dedup.inputs import as_ref, connect, files_table, open_docs
from tasks.dedup.keep import align, choose_kept, keep_policy
from tasks.dedup.registry import cluster_mode_names, get_mode, rewrite_mode_names
from tasks.dedup.spec import DedupSpec, drop_later_modes_off, drop_unset_rehydrate

CODE_VERSION = "dedup-1"
CLUSTER_MODES = cluster_mode_names()  # run order, from tasks/dedup/registry.py
REWRITE_MODES = rewrite_mode_names()  # text cut in Python, after the lines mode


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


def dedup_key(targets: Sequence[DocsRef], against: Sequence[DocsRef], spec: DedupSpec) -> str:
    return short(
        hash_json(
            {
                "targets": [(r.name, r.docs_hash) for r in targets],
                "against": sorted((r.name, r.docs_hash) for r in against),
                "spec": _cluster_spec(spec),
                "code": CODE_VERSION,
            }
        )
    )


def _cluster_spec(spec: DedupSpec) -> dict[str, Any]:
    """What decides the clusters and keep flags. Rehydration keeps the first document of
    each cluster and repeats it only at curate time, so it shares the `keep: first` run."""
    dumped = spec.model_dump(exclude={"options", "against"})
    if spec.rehydrates():
        dumped["minhash"]["keep"] = "first"
        dumped["minhash"]["rehydrate"] = None
    drop_unset_rehydrate(dumped)
    return drop_later_modes_off(dumped)


def run_dedup(
    workspace: Workspace,
    targets: Sequence[DocsRef | str],
    spec: DedupSpec,
    against: Sequence[DocsRef | str] | None = None,
    *,
    quality: pa.Table | None = None,
    map_fn: MapFn = local_map,
    partitions: int = 1,
    threads: int | None = None,
    force: bool = False,
) -> DedupResult:
    """Clusters and keep flags of every target document for the modes in `spec`.

    `targets`: sources (names, keys or DocsRefs) deduplicated together (scope "global")
    or each on its own (scope "source"); `against`: an earlier dataset's sources, whose
    documents win every cluster they are in and are not part of the output.
    """
    target_refs = [as_ref(workspace, t) for t in targets]
    against_refs = [as_ref(workspace, t) for t in (against if against is not None else spec.against)]
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
        con = connect(threads)
        open_docs(con, files_table(target_refs, against_refs, spec.scope), quality, spec.quality_column)
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
        for mode in CLUSTER_MODES:
            if getattr(spec, mode) is None:
                continue
            inputs = ClusterInputs(con, workspace, target_refs, against_refs, spec, map_fn, partitions, threads)
            alive &= _run_mode(mode, inputs, state, alive, columns, stats)
        removed_frac = np.zeros(n)
        if spec.lines is not None:
            removed_frac, emptied_mask = _rewrite_lines(con, spec, out, orders, alive, stats)
            alive &= ~emptied_mask
        for mode in REWRITE_MODES:
            if getattr(spec, mode) is not None:
                inputs_r = RewriteInputs(con, workspace, spec, out, orders[alive], _lines_text(out, spec), map_fn)
                alive &= ~_rewrite(mode, inputs_r, orders, alive, columns, stats)
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


def _run_mode(
    mode: str,
    inputs: ClusterInputs,
    state: pa.Table,
    alive: np.ndarray,
    columns: dict[str, Any],
    stats: dict[str, Any],
) -> np.ndarray:
    """One cluster mode over the documents still `alive`: adds its `<mode>_*` columns to
    `columns` and what it removed to `stats`; returns its keep flags."""
    con, spec = inputs.con, inputs.spec
    orders = state.column("doc_order").to_numpy()
    doc_ids = state.column("doc_id")
    policy_cols = state.select(["n_chars", "crawl_date", "quality"])
    mspec = getattr(spec, mode)
    tm = time.time()
    entry = get_mode(mode)
    if entry.clusters is not None:
        comp, info = entry.cluster_fn()(inputs)
        stats[mode] = info
    else:
        params = mspec.model_dump(exclude={"keep"})
        comp = con.sql(load_sql(f"dedup/{mode}_clusters"), params=params).to_arrow_table()
    cluster_order = align(orders, comp, "cluster_order", -1)
    cluster_order = np.where(cluster_order < 0, orders, cluster_order)
    size = align(orders, comp, "cluster_size", 1)
    ref_match = align(orders, comp, "ref_match", False)
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
        keep_policy(spec, mode),
    )
    keep = align(orders, chosen, "keep", False)
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
    return keep


def _lines_text(out: Path, spec: DedupSpec) -> pa.Table | None:
    """The lines mode's rewritten texts (doc_order, text), which a later rewrite starts from."""
    return pq.read_table(out / "lines.parquet", columns=["doc_order", "text"]) if spec.lines is not None else None


def _rewrite(
    mode: str, inputs: RewriteInputs, orders: np.ndarray, alive: np.ndarray, columns: dict[str, Any], stats: dict
) -> np.ndarray:
    """A text-rewriting mode (tasks/dedup/registry.py kind "rewrite"): adds its
    `<mode>_removed_frac` column and stats; returns the documents it dropped."""
    tm = time.time()
    outcome = get_mode(mode).rewrite_fn()(inputs)
    changed = pq.read_table(outcome.path, columns=["doc_order", "emptied", "removed_frac"])
    columns[f"{mode}_removed_frac"] = align(orders, changed, "removed_frac", 0.0)
    dropped = np.isin(orders, changed.filter(changed.column("emptied")).column("doc_order").to_numpy())
    stats[mode] = outcome.info
    stats["removed"][mode] = int((dropped & alive).sum())
    stats.setdefault("seconds", {})[mode] = round(time.time() - tm, 3)
    return dropped


def _rewrite_lines(
    con: duckdb.DuckDBPyConnection,
    spec: DedupSpec,
    out: Path,
    orders: np.ndarray,
    alive: np.ndarray,
    stats: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """The lines mode: writes `lines.parquet` (documents rewritten without boilerplate
    lines) and its stats; returns (removed_frac, emptied) per document of `orders`."""
    assert spec.lines is not None  # called only when the lines mode is on
    tm = time.time()
    lparams = {"paragraphs": spec.lines.paragraphs}
    con.sql(load_sql("dedup/line_removals"), params={**lparams, "max_count": spec.lines.max_count}).create(
        "dedup_line_removals"
    )
    tmp = out / ".lines.parquet.tmp"
    con.sql(load_sql("dedup/line_rewrite"), params=lparams).write_parquet(str(tmp))
    tmp.replace(out / "lines.parquet")
    lines = pq.read_table(out / "lines.parquet", columns=["doc_order", "emptied", "removed_frac", "lines_removed"])
    removed_frac = align(orders, lines, "removed_frac", 0.0)
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
    return removed_frac, emptied_mask
