"""The catalog: `$WINNOW_HOME/catalog.duckdb`, the one place that records what ran.

This module owns every catalog read and write. DuckDB allows one writer process at a
time, so each call opens the file, runs one short transaction and closes it, under a
file lock: two suites running at once on one workspace queue for a few milliseconds
instead of failing or corrupting the file. Dask workers never touch the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from filelock import FileLock

from tasks.core.sqlfiles import SQL_DIR, load_sql, render_sql

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Catalog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path) + ".lock", timeout=600)
        self._schema_ready = False

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside the lock and one transaction; committed on success."""
        with self._lock:
            con = duckdb.connect(str(self.path))
            try:
                if not self._schema_ready:
                    self._create_schema(con)
                    self._schema_ready = True
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                con.close()

    @staticmethod
    def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
        # Every stage brings its tables as `sql/catalog/schema/NN_<stage>.sql`
        # (CREATE ... IF NOT EXISTS), applied in file-name order.
        for path in sorted((SQL_DIR / "catalog" / "schema").glob("*.sql")):
            con.execute(path.read_text())

    def execute(self, name: str, params: Sequence[Any] | dict | None = None) -> None:
        """Run `sql/catalog/<name>.sql` for its effect."""
        with self.connect() as con:
            con.execute(load_sql(f"catalog/{name}"), params or [])

    def query(self, name: str, params: Sequence[Any] | dict | None = None) -> list[dict[str, Any]]:
        """Rows of `sql/catalog/<name>.sql` as dicts."""
        with self.connect() as con:
            cur = con.execute(load_sql(f"catalog/{name}"), params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def insert(self, table: str, rows: Sequence[dict[str, Any]], replace: bool = False) -> int:
        """Insert rows (dicts keyed by column name) into a catalog table.

        `replace=True` overwrites rows with the same primary key, which makes a rerun's
        record of a stage replace the earlier one instead of duplicating it.
        """
        if not rows:
            return 0
        if not _IDENT.match(table):
            raise ValueError(f"bad catalog table name {table!r}")
        batch = pa.Table.from_pylist(list(rows))
        query = render_sql("catalog/upsert_rows" if replace else "catalog/insert_rows", table=table)
        with self.connect() as con:
            con.register("_rows", batch)
            con.execute(query)
            con.unregister("_rows")
        return len(rows)

    def table(self, name: str) -> pa.Table:
        """A whole catalog table or view as Arrow (for reports and tests)."""
        if not _IDENT.match(name):
            raise ValueError(f"bad catalog table name {name!r}")
        with self.connect() as con:
            return con.sql(render_sql("catalog/whole_table", table=name)).to_arrow_table()
