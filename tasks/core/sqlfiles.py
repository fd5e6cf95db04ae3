"""Load SQL from `sql/`: every query lives in a file of its own, never in Python strings."""

from __future__ import annotations

from functools import cache

from tasks.core.paths import sql_dir

SQL_DIR = sql_dir()


@cache
def load_sql(relpath: str) -> str:
    """Text of `sql/<relpath>` (`.sql` appended when missing)."""
    if not relpath.endswith(".sql"):
        relpath += ".sql"
    path = SQL_DIR / relpath
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()
