"""The curate step's dedup: a recipe's documents restricted to those each mode keeps.

`apply_dedup` re-chooses the kept document of each cluster among the documents a recipe
still has (after its filters), so a filtered-out representative does not take its whole
cluster with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef
from tasks.core.sqlfiles import render_sql
from tasks.core.workspace import Workspace
from tasks.dedup.dedup import CLUSTER_MODES, REWRITE_MODES, DedupResult, run_dedup
from tasks.dedup.inputs import connect
from tasks.dedup.keep import align, choose_kept, keep_policy
from tasks.dedup.spec import DedupSpec


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
    cols = relation.columns
    subset = _relation_clusters(relation, result)
    orders = subset.column("doc_order").to_numpy()
    alive = np.ones(len(orders), dtype=bool)
    stats: dict[str, Any] = {"input_docs": len(orders), "removed": {}}
    qual = None
    if spec.quality_column and spec.quality_column in cols:
        qual = relation.select(f'doc_id, "{spec.quality_column}"::DOUBLE AS quality').to_arrow_table()
    helper = connect()
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
            chosen = choose_kept(helper, alive_tbl, keep_policy(spec, mode))
            keep = align(orders, chosen, "keep", False)
            stats["removed"][mode] = int(alive.sum() - keep.sum())
            if explain:
                losers.append(_losers(subset, orders, mode, alive, keep))
            alive &= keep
    finally:
        helper.close()
    kept = subset.filter(pa.array(alive)).select(
        ["doc_id", *[f"{m}_cluster_size" for m in CLUSTER_MODES if m in modes], "lines_removed_frac"]
    )
    con.register("dedup_kept", kept)
    out = relation.join(con.table("dedup_kept"), "doc_id")
    if "lines" in modes and "text" in cols:
        out = _with_rewritten_lines(con, out, result)
        stats["removed"]["lines"] = int(alive.sum()) - out.count("*").fetchall()[0][0]
    for mode in (m for m in REWRITE_MODES if m in modes and "text" in cols):
        out, dropped, cut = _apply_rewrite(con, out, result.dir / f"{mode}.parquet", mode)
        stats["removed"][mode] = dropped.num_rows
        if explain:
            losers.append(dropped)
            stats.setdefault("rewritten", []).append(cut)
    if explain:
        stats["losers"] = pa.concat_tables(losers) if losers else _LOSERS_SCHEMA.empty_table()
    stats["output_docs"] = out.count("*").fetchall()[0][0]
    return out, stats


def _apply_rewrite(
    con: duckdb.DuckDBPyConnection, out: duckdb.DuckDBPyRelation, path, mode: str
) -> tuple[duckdb.DuckDBPyRelation, pa.Table, pa.Table]:
    """A rewrite mode's cut texts in place of `out`'s text, the documents it emptied
    dropped. Returns (relation, dropped as losers rows, the cut ones that stay: doc_id,
    reason, chars_removed, removed_frac, span_texts — for the exclusion sample)."""
    ids = out.select("doc_id").to_arrow_table().column("doc_id")
    changed = pq.read_table(path)
    changed = changed.filter(pc.is_in(changed.column("doc_id"), value_set=ids.unique()))
    con.register(f"dedup_{mode}_text", changed.select(["doc_id", "text", "emptied"]))
    out.create_view(f"dedup_{mode}_in")
    joined = con.sql(render_sql("curate/dedup_rewrite_apply", src=f"dedup_{mode}_in", view=f"dedup_{mode}_text"))
    emptied = changed.column("emptied").to_numpy(zero_copy_only=False)
    lost = changed.filter(pa.array(emptied))
    dropped = pa.table(
        {
            "doc_id": lost.column("doc_id"),
            "reason": pa.array([f"dedup.{mode}"] * lost.num_rows, pa.string()),
            **{c: pa.nulls(lost.num_rows, t) for c, t in zip(_LOSERS_SCHEMA.names[2:], _LOSERS_SCHEMA.types[2:])},
        },
        schema=_LOSERS_SCHEMA,
    )
    cut = changed.filter(pa.array(~emptied)).select(["doc_id", "chars_removed", "removed_frac", "span_texts"])
    cut = cut.add_column(1, "reason", pa.array([f"dedup.{mode}.spans"] * cut.num_rows, pa.string()))
    return joined, dropped, cut


def _relation_clusters(relation: duckdb.DuckDBPyRelation, result: DedupResult) -> pa.Table:
    """The dedup run's cluster rows of the relation's documents (ValueError when the
    relation has no doc_id, or a document the run never saw)."""
    cols = relation.columns
    if "doc_id" not in cols:
        raise ValueError(f"apply_dedup needs a doc_id column; relation has {cols}")
    clusters = pq.read_table(result.clusters_path)
    ids = relation.select("doc_id").to_arrow_table().column("doc_id")
    subset = clusters.filter(pc.is_in(clusters.column("doc_id"), value_set=ids.unique()))
    unknown = len(ids.unique()) - subset.num_rows
    if unknown:
        raise ValueError(
            f"apply_dedup: {unknown} document(s) of the relation are not in dedup run "
            f"{result.key} (sources {list(result.stats.get('sources', []))})"
        )
    return subset


def _with_rewritten_lines(
    con: duckdb.DuckDBPyConnection, out: duckdb.DuckDBPyRelation, result: DedupResult
) -> duckdb.DuckDBPyRelation:
    """`out` with the lines mode's rewritten text, less the documents it left empty."""
    con.read_parquet(str(result.lines_path)).select("doc_id AS _lid, text AS _ltext").create_view("dedup_lines")
    out = out.join(con.table("dedup_lines"), "doc_id = _lid", how="left")
    rest = [f'"{c}"' for c in out.columns if c not in ("text", "_lid", "_ltext")]
    out = out.select(", ".join(rest) + ", coalesce(_ltext, text) AS text")
    return out.filter("length(trim(text)) > 0")


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
