"""Keep policies: which document of each duplicate cluster survives (first, longest,
latest or highest quality), as whitelisted ORDER BY clauses over `sql/dedup/keep.sql`."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from tasks.core.sqlfiles import Sql, render_sql
from tasks.dedup.spec import DedupSpec

# Keep policies as ORDER BY clauses over dedup_alive (whitelisted: never user SQL).
_ORDER_BY = {
    "first": "doc_order",
    "longest": "n_chars DESC NULLS LAST, doc_order",
    "latest": "crawl_date DESC NULLS LAST, doc_order",
    "quality": "quality DESC NULLS LAST, doc_order",
}


def choose_kept(con: duckdb.DuckDBPyConnection, alive: pa.Table, policy: str) -> pa.Table:
    """(doc_order, keep) for the alive documents: one per cluster by `policy`."""
    if policy not in _ORDER_BY:
        raise ValueError(f"unknown keep policy {policy!r}; known: {', '.join(_ORDER_BY)}")
    con.register("dedup_alive", alive)
    try:
        return con.sql(render_sql("dedup/keep", order_by=Sql(_ORDER_BY[policy]))).to_arrow_table()
    finally:
        con.unregister("dedup_alive")


def keep_policy(spec: DedupSpec, mode: str) -> str:
    policy = getattr(getattr(spec, mode), "keep", "first")
    return "first" if policy == "rehydrate" else policy  # rehydration repeats the first


def align(orders: np.ndarray, table: pa.Table, column: str, default: Any) -> np.ndarray:
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
