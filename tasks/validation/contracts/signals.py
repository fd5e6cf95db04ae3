"""The signals contract (signals output)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.core.sqlfiles import render_sql
from tasks.validation.contracts._inputs import (
    _as_table,
    _duck,
    _gx,
    _sample_mask,
    _schema_frame,
)
from tasks.validation.model import (
    Check,
    Contract,
)


def _default_fraction_columns(schema: pa.Schema) -> list[str]:
    # Top n-gram character fractions count overlapping occurrences (datatrove): may exceed 1.
    return [
        f.name
        for f in schema
        if pa.types.is_floating(f.type) and "frac" in f.name.lower() and not f.name.startswith("rep_top_")
    ]


def signals_contract(
    signals: pa.Table | str | Path | Sequence[str | Path],
    *,
    expected_columns: Iterable[str] = (),
    fraction_columns: Iterable[str] | None = None,
    docs: pa.Table | str | Path | Sequence[str | Path] | None = None,
    max_rows: int | None = 1_000_000,
) -> Contract:
    """Contract on a signals table (doc_id + signal columns). Fraction columns default to
    float columns with `frac` in their name; every float column must be NaN-free."""
    E = _gx().expectations
    table = _as_table(signals)
    expected = ["doc_id", *[c for c in expected_columns if c != "doc_id"]]
    checks = [
        Check(
            "signals.columns_present", "schema", E.ExpectTableColumnsToMatchSet(column_set=expected, exact_match=False)
        )
    ]
    frames = {"schema": _schema_frame(table.schema)}
    fractions = list(fraction_columns) if fraction_columns is not None else _default_fraction_columns(table.schema)
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    n_rows = table.num_rows
    if "doc_id" in table.column_names:
        frames["rows"] = _rows_frame(table, fractions, floats, max_rows)
        checks += _row_checks(fractions, floats)
        if docs is not None:
            frames["facts"] = _match_frame(table, docs)
            checks.append(
                Check(
                    "signals.rows_match_documents",
                    "facts",
                    E.ExpectColumnValuesToBeBetween(column="unmatched", min_value=0, max_value=0),
                )
            )
        rows_validated = min(n_rows, len(frames["rows"]))
    else:
        rows_validated = 0
    return Contract("signals", frames, checks, n_rows, rows_validated)


def _rows_frame(table: pa.Table, fractions: list[str], floats: list[str], max_rows: int | None) -> pd.DataFrame:
    """Per row: doc_id, its occurrences, the fraction columns and a NaN flag per float
    column; a sample past `max_rows`, plus every row some check would flag."""
    cols: dict[str, Any] = {"doc_id": table["doc_id"]}
    counts = pc.value_counts(table["doc_id"])
    occ = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
    occurrences = np.array([occ[d] for d in table["doc_id"].to_pylist()], dtype=np.int64)
    cols["doc_id_occurrences"] = occurrences
    flagged = occurrences > 1
    for c in fractions:
        if c in table.column_names:
            cols[c] = table[c]
            bad = pc.or_kleene(pc.less(table[c], 0), pc.greater(table[c], 1))
            flagged |= pc.fill_null(bad, False).to_numpy(zero_copy_only=False)
    for c in floats:
        nan = pc.fill_null(pc.is_nan(table[c]), False)
        cols[f"{c}__is_nan"] = nan
        flagged |= nan.to_numpy(zero_copy_only=False)
    keep = _sample_mask(table["doc_id"], table.num_rows, max_rows) | flagged
    return pa.table(cols).filter(pa.array(keep)).to_pandas()


def _row_checks(fractions: list[str], floats: list[str]) -> list[Check]:
    """Checks on the `rows` frame: unique ids, fractions in [0, 1], no NaN."""
    E = _gx().expectations
    checks = [
        Check(
            "signals.doc_id_unique",
            "rows",
            E.ExpectColumnValuesToBeBetween(column="doc_id_occurrences", min_value=1, max_value=1),
        )
    ]
    for c in fractions:
        checks.append(
            Check(
                f"signals.fraction_in_range.{c}",
                "rows",
                E.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0),
            )
        )
    for c in floats:
        checks.append(
            Check(
                f"signals.no_nan.{c}",
                "rows",
                E.ExpectColumnValuesToBeInSet(column=f"{c}__is_nan", value_set=[False]),
            )
        )
    return checks


def _match_frame(table: pa.Table, docs: pa.Table | str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Documents without signals and signals without a document, counted."""
    doc_ids = _as_table(docs, columns=["doc_id"])
    con = _duck(s=table.select(["doc_id"]), d=doc_ids)
    missing = con.execute(render_sql("validation/ids_without_match", left="d", right="s")).fetchall()[0][0]
    extra = con.execute(render_sql("validation/ids_without_match", left="s", right="d")).fetchall()[0][0]
    return pd.DataFrame([{"docs_without_signals": missing, "signals_without_doc": extra, "unmatched": missing + extra}])
