"""A dedup run's inputs in DuckDB: the table of input files (targets, then an earlier
dataset's sources), a connection with the dedup macros and the `dedup_docs` view.

The map over independent work items that the signatures and the near-duplicate join
run on (`MapFn`, `local_map`) is in tasks/core/shards.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef, resolve_docs
from tasks.core.sqlfiles import Sql, load_sql, render_sql, sql_fragment
from tasks.core.workspace import Workspace

REFERENCE_SCOPE = "*reference*"


def as_ref(workspace: Workspace, x: DocsRef | str) -> DocsRef:
    return x if isinstance(x, DocsRef) else resolve_docs(workspace, x)


def files_table(
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


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(load_sql("dedup/macros"))
    return con


def open_docs(
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
