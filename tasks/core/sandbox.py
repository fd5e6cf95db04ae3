"""DuckDB connections that run recipe SQL, which is untrusted input (the Prefect UI form,
deployment parameters): a second line behind the predicate checker
(tasks/signals/sql_guard.py), in case something gets past it.

`sandboxed_connection(allowed_dirs)`: external access off, except for the listed
directories (DuckDB's `allowed_directories`: reading and writing files there still
works, e.g. the workspace's Parquet and the dataset being written; any other file, URL,
extension install/load or ATTACH is a Permission Error), a `memory_limit`, and the
configuration locked so that no later statement can undo it.

`query_timeout(con, what)`: DuckDB has no statement timeout, so a `threading.Timer`
calls `con.interrupt()` when a query runs longer than `$WINNOW_SQL_TIMEOUT_S` seconds
(default 600) and the interrupt becomes a `SqlTimeoutError` naming `what` (the recipe).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

SQL_TIMEOUT_ENV = "WINNOW_SQL_TIMEOUT_S"
DEFAULT_SQL_TIMEOUT_S = 600.0
MEMORY_LIMIT_ENV = "WINNOW_SQL_MEMORY_LIMIT"
# Of the machine's memory, per connection: up to four arms curate at once (flows/ablation.py).
DEFAULT_MEMORY_LIMIT = "50%"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(%|[KMGT]i?B|B)$", re.I)


class SqlTimeoutError(RuntimeError):
    """A query of recipe SQL ran past its time limit and was interrupted."""


def sql_timeout_s() -> float:
    """Seconds a recipe query may run: `$WINNOW_SQL_TIMEOUT_S`, default 600."""
    raw = os.environ.get(SQL_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_SQL_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"${SQL_TIMEOUT_ENV}={raw!r}: expected a positive number of seconds")
    return value


def memory_limit() -> str:
    """DuckDB `memory_limit` of a sandboxed connection: `$WINNOW_SQL_MEMORY_LIMIT` (e.g. 4GB,
    50%), default 50% of the machine."""
    raw = (os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT).strip()
    if not _MEMORY.match(raw):
        raise ValueError(f"${MEMORY_LIMIT_ENV}={raw!r}: expected a size such as 4GB or 50%")
    return raw


def sandboxed_connection(allowed_dirs: Iterable[str | Path], memory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection that may read and write files only under
    `allowed_dirs`, with a memory limit and its configuration locked."""
    # as given and with links resolved: DuckDB compares the path a query names
    dirs = sorted({str(p).rstrip("/") + "/" for d in allowed_dirs for p in (Path(d).absolute(), Path(d).resolve())})
    limit = memory or memory_limit()
    if not _MEMORY.match(limit):
        raise ValueError(f"memory limit {limit!r}: expected a size such as 4GB or 50%")
    con = duckdb.connect()
    try:
        # allowed_directories can only be set while external access is still on
        con.execute("SET allowed_directories = $dirs", {"dirs": dirs})
        con.execute("SET enable_external_access = false")
        con.execute("SET memory_limit = $limit", {"limit": limit})
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def query_timeout(con: duckdb.DuckDBPyConnection, what: str, seconds: float | None = None) -> Iterator[None]:
    """Interrupt `con` if the block (one query) runs longer than `seconds`
    (default `sql_timeout_s()`); the interrupt is raised as SqlTimeoutError naming `what`."""
    limit = sql_timeout_s() if seconds is None else seconds
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(limit, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException:
        if fired.is_set():
            raise SqlTimeoutError(
                f"{what}: query stopped after {limit:g} s (the limit for recipe SQL; ${SQL_TIMEOUT_ENV} sets it)"
            ) from None
        raise
    finally:
        timer.cancel()
