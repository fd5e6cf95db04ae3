"""The documents contract (ingest output) and the ingest record accounting."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.schema import DOCS
from tasks.core.sqlfiles import load_sql
from tasks.validation.contracts._inputs import (
    _between,
    _gx,
    _keep_per_million,
    _parquet_files,
    _schema_frame,
)
from tasks.validation.model import (
    URL_REGEX,
    Check,
    Contract,
)


def documents_contract(
    docs: pa.Table | str | Path | Sequence[str | Path],
    *,
    counts: Mapping[str, int] | None = None,
    max_chars: int = 1_000_000,
    min_chars: int = 1,
    max_bytes: int = 100_000_000,
    max_rows: int | None = 1_000_000,
) -> Contract:
    """Contract on ingested documents (DOCS schema). `counts`: the ingest's `_SUCCESS`
    counts (records_read, docs_written, records_quarantined) for the accounting check."""
    E = _gx().expectations
    con = duckdb.connect()
    if isinstance(docs, pa.Table):
        schema, n_rows = docs.schema, docs.num_rows
        con.register("docs", docs)
    else:
        # Parquet shards stay on disk: DuckDB reads only the columns the frame needs.
        files = _parquet_files(docs)
        schema = pq.read_schema(files[0])
        n_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        con.read_parquet([str(f) for f in files]).create_view("docs")
    checks = [
        Check(
            "documents.schema_columns",
            "schema",
            E.ExpectTableColumnsToMatchSet(column_set=DOCS.names, exact_match=True),
        )
    ]
    for f in DOCS:
        if f.name in schema.names:
            checks.append(
                Check(
                    f"documents.column_type.{f.name}",
                    "schema",
                    E.ExpectColumnValuesToBeInSet(column=f.name, value_set=[str(f.type)]),
                )
            )
    frames = {"schema": _schema_frame(schema)}
    needed = {"doc_id", "source", "url", "language", "language_score", "n_chars", "n_bytes", "text"}
    rows_validated = 0
    if needed <= set(schema.names):
        rows = con.execute(
            load_sql("validation/documents_rows"), {"keep_per_million": _keep_per_million(n_rows, max_rows)}
        ).df()
        frames["rows"] = rows
        rows_validated = min(n_rows, len(rows))
        checks += [
            Check("documents.doc_id_not_null", "rows", E.ExpectColumnValuesToNotBeNull(column="doc_id")),
            _between("documents.doc_id_unique", "rows", "doc_id_occurrences", min_value=1, max_value=1),
            _between("documents.text_not_empty", "rows", "text_visible", min_value=1, max_value=1),
            _between("documents.language_score_in_range", "rows", "language_score", min_value=0.0, max_value=1.0),
            _between("documents.length_within_caps", "rows", "n_chars", min_value=min_chars, max_value=max_chars),
            _between("documents.n_chars_matches_text", "rows", "n_chars_error", min_value=0, max_value=0),
            _between("documents.bytes_within_cap", "rows", "n_bytes", min_value=0, max_value=max_bytes),
            Check("documents.url_parseable", "rows", E.ExpectColumnValuesToMatchRegex(column="url", regex=URL_REGEX)),
        ]
    if counts is not None:
        read = int(counts.get("records_read", 0))
        written = int(counts.get("docs_written", 0))
        quarantined = int(counts.get("records_quarantined", 0))
        metadata = int(counts.get("metadata_written", 0))  # WAT records: neither documents nor quarantine
        frames["facts"] = pd.DataFrame(
            [
                {
                    "records_read": read,
                    "docs_written": written,
                    "records_quarantined": quarantined,
                    "metadata_written": metadata,
                    "records_unaccounted": read - written - metadata - quarantined,
                    "rows_found": n_rows,
                    "docs_written_minus_rows": written - n_rows,
                }
            ]
        )
        checks += [
            _between("documents.accounting_balanced", "facts", "records_unaccounted", min_value=0, max_value=0),
            _between("documents.docs_written_match_rows", "facts", "docs_written_minus_rows", min_value=0, max_value=0),
        ]
    return Contract("documents", frames, checks, n_rows, rows_validated)


def ingest_counts(docs_dir: str | Path) -> dict[str, int]:
    """The record accounting of an ingest from its `_SUCCESS` marker (`counts` or top level)."""
    info = json.loads((Path(docs_dir) / "_SUCCESS").read_text())
    counts = info.get("counts", info)
    keys = ("records_read", "docs_written", "records_quarantined", "metadata_written")
    return {k: int(counts[k]) for k in keys if k in counts}
