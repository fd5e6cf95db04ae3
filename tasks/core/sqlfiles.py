"""Load SQL from `sql/`: every query lives in a file of its own, never in Python strings.

One placeholder style, `$name` (sql/README.md):
- a value is bound by DuckDB as a parameter (`con.execute(render_sql(...), {"name": v})`);
- a part DuckDB cannot bind (a temp-table name, a file list, a fragment) is spliced in by
  `render_sql(relpath, name=part)`; a part is either an identifier or `Sql` (text from
  a file under sql/, or a literal validated by one of the helpers below).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

from tasks.core.paths import sql_dir

SQL_DIR = sql_dir()

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class Sql(str):
    """SQL text that may be spliced into a query: read from sql/, or a literal built by
    `ident`, `string_literal`, `string_list`, `number_literal`."""


@cache
def load_sql(relpath: str) -> str:
    """Text of `sql/<relpath>` (`.sql` appended when missing)."""
    if not relpath.endswith(".sql"):
        relpath += ".sql"
    path = SQL_DIR / relpath
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()


def _part(relpath: str, name: str, value: object) -> str:
    if isinstance(value, Sql):
        return value
    if isinstance(value, str) and _IDENT.match(value):
        return value
    raise TypeError(
        f"sql/{relpath}: part ${name}={value!r} is neither an identifier nor Sql "
        "(bind values as parameters; build literals with tasks.core.sqlfiles helpers)"
    )


def render_sql(relpath: str, **parts: object) -> Sql:
    """`sql/<relpath>` with each `$name` given in `parts` replaced by that part; the other
    `$name`s are left for DuckDB to bind. A part the file does not use is an error."""
    text = load_sql(relpath)
    used = set(_PLACEHOLDER.findall(text))
    unused = sorted(set(parts) - used)
    if unused:
        raise KeyError(f"sql/{relpath} has no placeholder(s) {', '.join('$' + u for u in unused)}")
    spliced = {k: _part(relpath, k, v) for k, v in parts.items()}
    return Sql(_PLACEHOLDER.sub(lambda m: spliced.get(m.group(1), m.group(0)), text))


def sql_fragment(relpath: str, **parts: object) -> Sql:
    """A fragment file rendered as one line: `--` comment lines dropped, lines joined by a space."""
    text = render_sql(relpath, **parts)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    return Sql(" ".join(lines))


def join_sql(fragments: Iterable[Sql], sep: str) -> Sql:
    """Rendered fragments joined by a separator (`", "`, `" AND "`, `" "`)."""
    items = list(fragments)
    for f in items:
        if not isinstance(f, Sql):
            raise TypeError(f"join_sql: {f!r} is not Sql")
    return Sql(sep.join(items))


def ident(name: str) -> Sql:
    """An identifier made in code (temp table, view, column)."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"not a SQL identifier: {name!r}")
    return Sql(name)


def string_literal(value: str | Path) -> Sql:
    """A quoted SQL string literal ('' escapes a quote)."""
    return Sql("'" + str(value).replace("'", "''") + "'")


def string_list(values: Sequence[str | Path]) -> Sql:
    """`'a', 'b'` (quoted, comma-separated), for `[...]` or `IN (...)`."""
    return Sql(", ".join(string_literal(v) for v in values))


def number_literal(value: float, cast: str | None = "DOUBLE") -> Sql:
    """A finite number as `<repr>::<cast>` (bare `repr(float)` when cast is None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    text = repr(float(value))
    return Sql(f"{text}::{cast}" if cast else text)


def int_literal(value: int) -> Sql:
    """An integer as SQL text."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return Sql(str(value))
