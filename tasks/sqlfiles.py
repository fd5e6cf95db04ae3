"""Load SQL from `sql/`: every query lives in a file of its own, never in Python strings."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@lru_cache(maxsize=None)
def load_sql(relpath: str) -> str:
    """Text of `sql/<relpath>` (`.sql` appended when missing)."""
    if not relpath.endswith(".sql"):
        relpath += ".sql"
    path = SQL_DIR / relpath
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()
