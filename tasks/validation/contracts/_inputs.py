"""Shared input helpers of the contracts: Parquet files, Arrow tables, DuckDB, sampling."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.validation.model import Check

# ---------------------------------------------------------------- inputs


def _parquet_files(data: str | Path | Sequence[str | Path]) -> list[Path]:
    paths = [data] if isinstance(data, (str, Path)) else list(data)
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.parquet")) if p.is_dir() else [p])
    if not files:
        raise FileNotFoundError(f"no Parquet files in {[str(p) for p in paths]}")
    return files


def _as_table(data: pa.Table | str | Path | Sequence[str | Path], columns: list[str] | None = None) -> pa.Table:
    if isinstance(data, pa.Table):
        return data.select(columns) if columns else data
    return pa.concat_tables(
        [pq.read_table(f, columns=columns) for f in _parquet_files(data)], promote_options="default"
    )


def _keep_per_million(n_rows: int, max_rows: int | None) -> int:
    if not max_rows or n_rows <= max_rows:
        return 1_000_000
    return max(1, int(1_000_000 * max_rows / n_rows))


def _duck(**tables: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


def _gx():
    import great_expectations as gx

    return gx


def _between(
    name: str, batch: str, column: str, min_value: float | None = None, max_value: float | None = None
) -> Check:
    """The contracts' usual check: every value of `column` in frame `batch` lies in
    [min_value, max_value] (a bound left out is open)."""
    bounds = {k: v for k, v in (("min_value", min_value), ("max_value", max_value)) if v is not None}
    return Check(name, batch, _gx().expectations.ExpectColumnValuesToBeBetween(column=column, **bounds))


def _schema_frame(schema: pa.Schema) -> pd.DataFrame:
    return pd.DataFrame([{f.name: str(f.type) for f in schema}])


def _sample_mask(ids: pa.ChunkedArray | pa.Array, n_rows: int, max_rows: int | None) -> np.ndarray:
    keep = _keep_per_million(n_rows, max_rows)
    if keep >= 1_000_000:
        return np.ones(n_rows, bool)
    h = pc.cast(pc.fill_null(ids, ""), pa.string())
    import xxhash

    return np.fromiter((xxhash.xxh64_intdigest(s) % 1_000_000 < keep for s in h.to_pylist()), bool, n_rows)
