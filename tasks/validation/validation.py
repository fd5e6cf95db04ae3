"""Data contracts at every hand-off, as great-expectations 1.x suites written in code.

Four contracts, each a function that takes what a stage wrote (an Arrow table or its
Parquet/`.bin` files) and returns a `Contract`: a few pandas frames and the GX
expectations to run on them.

- `documents_contract`  ingest output: schema and types, unique doc_id, non-empty text,
                         language_score in [0, 1], lengths within caps, url parseable,
                         record accounting balanced.
- `signals_contract`    signals output: expected columns present, fractions in [0, 1],
                         no NaN (undefined cases must be 0 or null), one row per document.
- `dataset_contract`    a recipe's dataset: unique ids, every id from its own source,
                         token estimate within budget, languages and source mixture as
                         asked, duplicate rate below the bound, no eval n-gram overlap.
- `token_shards_contract` training input: ids < vocab, EOS-separated documents, total
                         tokens as recorded.

Frames: `rows` (one row per record; exact per-record flags are computed by DuckDB over
*all* rows, and the frame keeps every offending row even when the rest is sampled, so
counts and sample ids of uniqueness/emptiness/contamination are exact), `schema` (one
row: column -> Arrow type) and `facts` (one row of whole-input numbers such as the
record accounting). Text never enters pandas: only its lengths do.

`run_contract` validates through an ephemeral GX context (analytics off), builds Data
Docs into `<ws>/validation/<key>/data_docs/`, and returns a `ValidationResult`;
`record_validation` writes it to the catalog (flow process only) and `enforce` raises
`ValidationFailed` with a one-screen summary when an expectation of severity `fail`
failed. A recipe's `validation: {name: warn|fail}` overrides severities; a name also
matches every expectation below it (`signals.fraction_in_range` covers
`signals.fraction_in_range.<column>`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.schema import DOCS
from tasks.core.sqlfiles import load_sql, render_sql
from tasks.core.workspace import Workspace

# Every expectation name a recipe may give a severity for, with what it means.
EXPECTATIONS: dict[str, str] = {
    "documents.schema_columns": "the columns are exactly tasks.core.schema.DOCS",
    "documents.column_type": "each column has its DOCS Arrow type (documents.column_type.<col>)",
    "documents.doc_id_not_null": "every document has an id",
    "documents.doc_id_unique": "no doc_id occurs twice",
    "documents.text_not_empty": "text has a visible character",
    "documents.language_score_in_range": "language_score in [0, 1]",
    "documents.length_within_caps": "n_chars within [min_chars, max_chars]",
    "documents.n_chars_matches_text": "n_chars equals the length of text",
    "documents.bytes_within_cap": "n_bytes within [0, max_bytes]",
    "documents.url_parseable": "url (where present) is scheme://host...",
    "documents.accounting_balanced": "records read = documents written + WAT metadata rows + records quarantined",
    "documents.docs_written_match_rows": "documents written (recorded) = rows found",
    "signals.columns_present": "every expected signal column exists",
    "signals.doc_id_unique": "one signals row per doc_id",
    "signals.fraction_in_range": "fraction columns in [0, 1] (signals.fraction_in_range.<col>)",
    "signals.no_nan": "no NaN in float columns (signals.no_nan.<col>)",
    "signals.rows_match_documents": "one signals row for every document",
    "dataset.doc_id_unique": "no doc_id occurs twice in the dataset",
    "dataset.id_from_its_source": "every doc_id exists in the documents of its source",
    "dataset.text_not_empty": "no empty text",
    "dataset.token_estimate_within_budget": "estimated tokens <= budget * (1 + slack)",
    "dataset.language_allowed": "every document's language is one the recipe allows",
    "dataset.mixture_as_asked": "each source's share within tolerance of its weight",
    "dataset.duplicate_rate_below_bound": "exact duplicate text rate <= bound",
    "dataset.decontaminated": "no document shares an n-gram with an eval item",
    "token_shards.ids_within_vocab": "every token id < vocab size (per sequence)",
    "token_shards.no_empty_documents": "no two EOS in a row (per sequence)",
    "token_shards.whole_items": "each shard holds whole tokens of its dtype",
    "token_shards.eos_present": "documents are separated by EOS",
    "token_shards.total_tokens_match": "total tokens = the recorded count",
    "token_shards.eos_match_documents": "EOS count = documents recorded",
    # tasks/validation/matched_tokens.py (suite tokenizer, real tokens)
    "matched_tokens.within_budget": "unique tokens in [budget * (1 - tolerance), budget]",
    "matched_tokens.unique_tokens_matched": "unique tokens within tolerance of the suite's largest arm",
    "matched_tokens.train_tokens_equal": "every arm trains the same number of tokens",
}

# scheme optional (Common Crawl's `url` field has none), a dotted host, bracketed IPv6 or
# localhost, an optional port, then anything without whitespace
URL_REGEX = (
    r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^\s/?#@]+@)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@:.]+(?:\.[^\s/?#@:.]+)+|localhost)(?::\d+)?(?:[/?#]\S*)?$"
)


class ValidationFailed(RuntimeError):
    """A contract failed; `str()` is the one-screen summary, `.result` the details."""

    def __init__(self, result: ValidationResult):
        self.result = result
        super().__init__(result.summary())


@dataclass
class Check:
    name: str
    batch: str
    expectation: Any  # a great_expectations.expectations.Expectation
    severity: str = "fail"


@dataclass
class Contract:
    suite: str
    frames: dict[str, pd.DataFrame]
    checks: list[Check]
    n_rows: int
    rows_validated: int
    id_column: str = "doc_id"


@dataclass
class ExpectationOutcome:
    expectation: str
    expectation_type: str
    batch: str
    severity: str
    success: bool
    unexpected_count: int
    element_count: int
    observed: str
    sample_ids: list[str]
    message: str


@dataclass
class ValidationResult:
    suite: str
    key: str
    success: bool
    outcomes: list[ExpectationOutcome]
    n_rows: int
    rows_validated: int
    data_docs: str | None = None
    seconds: float = 0.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    finished_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "fail"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]

    def outcome(self, name: str) -> ExpectationOutcome:
        for o in self.outcomes:
            if o.expectation == name:
                return o
        raise KeyError(f"no expectation {name!r} in suite {self.suite}")

    def summary(self, max_lines: int = 12) -> str:
        state = "passed" if self.success else "FAILED"
        sampled = "" if self.rows_validated >= self.n_rows else f", row checks on a sample of {self.rows_validated:,}"
        lines = [
            f"contract {self.suite} {state} (key {self.key[:16]}): {len(self.outcomes)} expectations, "
            f"{len(self.failures)} failed, {len(self.warnings)} warned; {self.n_rows:,} rows{sampled}"
        ]
        bad = self.failures + self.warnings
        for o in bad[:max_lines]:
            mark = "FAIL" if o.severity == "fail" else "warn"
            lines.append(f"  [{mark}] {o.message}")
        if len(bad) > max_lines:
            lines.append(f"  ... and {len(bad) - max_lines} more (see the catalog table validation_results)")
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ValidationResult:
        d = dict(d)
        d["outcomes"] = [ExpectationOutcome(**o) for o in d["outcomes"]]
        return cls(**d)


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


def _schema_frame(schema: pa.Schema) -> pd.DataFrame:
    return pd.DataFrame([{f.name: str(f.type) for f in schema}])


# ---------------------------------------------------------------- documents


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
            Check(
                "documents.doc_id_unique",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="doc_id_occurrences", min_value=1, max_value=1),
            ),
            Check(
                "documents.text_not_empty",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="text_visible", min_value=1, max_value=1),
            ),
            Check(
                "documents.language_score_in_range",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="language_score", min_value=0.0, max_value=1.0),
            ),
            Check(
                "documents.length_within_caps",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="n_chars", min_value=min_chars, max_value=max_chars),
            ),
            Check(
                "documents.n_chars_matches_text",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="n_chars_error", min_value=0, max_value=0),
            ),
            Check(
                "documents.bytes_within_cap",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="n_bytes", min_value=0, max_value=max_bytes),
            ),
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
            Check(
                "documents.accounting_balanced",
                "facts",
                E.ExpectColumnValuesToBeBetween(column="records_unaccounted", min_value=0, max_value=0),
            ),
            Check(
                "documents.docs_written_match_rows",
                "facts",
                E.ExpectColumnValuesToBeBetween(column="docs_written_minus_rows", min_value=0, max_value=0),
            ),
        ]
    return Contract("documents", frames, checks, n_rows, rows_validated)


def ingest_counts(docs_dir: str | Path) -> dict[str, int]:
    """The record accounting of an ingest from its `_SUCCESS` marker (`counts` or top level)."""
    info = json.loads((Path(docs_dir) / "_SUCCESS").read_text())
    counts = info.get("counts", info)
    keys = ("records_read", "docs_written", "records_quarantined", "metadata_written")
    return {k: int(counts[k]) for k in keys if k in counts}


# ---------------------------------------------------------------- signals


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
        rows = pa.table(cols)
        keep = _sample_mask(table["doc_id"], n_rows, max_rows) | flagged
        frames["rows"] = rows.filter(pa.array(keep)).to_pandas()
        checks.append(
            Check(
                "signals.doc_id_unique",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="doc_id_occurrences", min_value=1, max_value=1),
            )
        )
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
        if docs is not None:
            doc_ids = _as_table(docs, columns=["doc_id"])
            con = _duck(s=table.select(["doc_id"]), d=doc_ids)
            missing = con.execute(render_sql("validation/ids_without_match", left="d", right="s")).fetchall()[0][0]
            extra = con.execute(render_sql("validation/ids_without_match", left="s", right="d")).fetchall()[0][0]
            frames["facts"] = pd.DataFrame(
                [{"docs_without_signals": missing, "signals_without_doc": extra, "unmatched": missing + extra}]
            )
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


def _sample_mask(ids: pa.ChunkedArray | pa.Array, n_rows: int, max_rows: int | None) -> np.ndarray:
    keep = _keep_per_million(n_rows, max_rows)
    if keep >= 1_000_000:
        return np.ones(n_rows, bool)
    h = pc.cast(pc.fill_null(ids, ""), pa.string())
    import xxhash

    return np.fromiter((xxhash.xxh64_intdigest(s) % 1_000_000 < keep for s in h.to_pylist()), bool, n_rows)


# ---------------------------------------------------------------- dataset


def dataset_contract(
    dataset: pa.Table | str | Path | Sequence[str | Path],
    *,
    source_docs: Mapping[str, pa.Table | str | Path | Sequence[str | Path]] | None = None,
    token_budget: int | None = None,
    chars_per_token: float = 4.0,
    budget_slack: float = 0.05,
    allowed_languages: Iterable[str] | None = None,
    mixture_weights: Mapping[str, float] | None = None,
    mixture_tolerance: float = 0.05,
    max_duplicate_rate: float | None = 0.0,
    eval_index: Any | None = None,
    min_overlaps: int = 1,
    max_rows: int | None = 1_000_000,
) -> Contract:
    """Contract on a recipe's dataset (doc_id, source, url, text, repeat).

    `source_docs`: source name -> its documents (for `id_from_its_source` and languages);
    `eval_index`: a tasks.decontam.decontaminate.NgramIndex (for `decontaminated`)."""
    E = _gx().expectations
    table = _as_table(dataset)
    n_rows = table.num_rows
    if "repeat" not in table.column_names:
        table = table.append_column("repeat", pa.array(np.ones(n_rows, np.int64)))
    if eval_index is not None:
        from tasks.decontam.decontaminate import scan_table

        overlap = scan_table(table, eval_index).n_matches
    else:
        overlap = np.zeros(n_rows, np.int64)
    table = table.append_column("eval_overlap", pa.array(overlap))
    src_parts = []
    for name, docs in (source_docs or {}).items():
        t = _as_table(docs, columns=["doc_id", "language"])
        src_parts.append(
            pa.table(
                {"doc_id": t["doc_id"], "source": pa.array([name] * t.num_rows, pa.string()), "language": t["language"]}
            )
        )
    src = (
        pa.concat_tables(src_parts)
        if src_parts
        else pa.table(
            {
                "doc_id": pa.array([], pa.string()),
                "source": pa.array([], pa.string()),
                "language": pa.array([], pa.string()),
            }
        )
    )
    con = _duck(dataset=table.select(["doc_id", "source", "text", "repeat", "eval_overlap"]), source_docs=src)
    rows = con.execute(
        load_sql("validation/dataset_rows"), {"keep_per_million": _keep_per_million(n_rows, max_rows)}
    ).df()
    facts_row = con.execute(load_sql("validation/dataset_facts")).df().iloc[0].to_dict()
    mixture = con.execute(load_sql("validation/dataset_mixture")).df()
    con.close()
    frames: dict[str, pd.DataFrame] = {"rows": rows}
    checks = [
        Check(
            "dataset.doc_id_unique",
            "rows",
            E.ExpectColumnValuesToBeBetween(column="doc_id_occurrences", min_value=1, max_value=1),
        ),
        Check("dataset.text_not_empty", "rows", E.ExpectColumnValuesToBeBetween(column="text_chars", min_value=1)),
    ]
    if source_docs is not None:
        checks.append(
            Check(
                "dataset.id_from_its_source",
                "rows",
                E.ExpectColumnValuesToBeInSet(column="in_source", value_set=[True]),
            )
        )
        if allowed_languages:
            checks.append(
                Check(
                    "dataset.language_allowed",
                    "rows",
                    E.ExpectColumnValuesToBeInSet(column="language", value_set=sorted(allowed_languages)),
                )
            )
    if eval_index is not None:
        checks.append(
            Check(
                "dataset.decontaminated",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="eval_overlap", min_value=0, max_value=min_overlaps - 1),
            )
        )
    n = int(facts_row["n_rows"])
    facts = {
        "n_rows": n,
        "duplicate_rate": 0.0 if n == 0 else 1.0 - int(facts_row["distinct_texts"]) / n,
        "token_estimate": float(facts_row["chars_with_repeats"]) / chars_per_token,
    }
    frames["facts"] = pd.DataFrame([facts])
    if token_budget:
        checks.append(
            Check(
                "dataset.token_estimate_within_budget",
                "facts",
                E.ExpectColumnValuesToBeBetween(
                    column="token_estimate", min_value=0, max_value=token_budget * (1 + budget_slack)
                ),
            )
        )
    if max_duplicate_rate is not None:
        checks.append(
            Check(
                "dataset.duplicate_rate_below_bound",
                "facts",
                E.ExpectColumnValuesToBeBetween(column="duplicate_rate", min_value=0.0, max_value=max_duplicate_rate),
            )
        )
    if mixture_weights:
        total_w = sum(mixture_weights.values()) or 1.0
        total_c = float(mixture["chars"].sum()) or 1.0
        realised = dict(zip(mixture["source"], mixture["chars"].astype(float) / total_c))
        mix = pd.DataFrame(
            [
                {
                    "source": s,
                    "target": w / total_w,
                    "share": realised.get(s, 0.0),
                    "deviation": abs(realised.get(s, 0.0) - w / total_w),
                }
                for s, w in sorted({**{k: 0.0 for k in realised}, **mixture_weights}.items())
            ]
        )
        frames["mixture"] = mix
        checks.append(
            Check(
                "dataset.mixture_as_asked",
                "mixture",
                E.ExpectColumnValuesToBeBetween(column="deviation", min_value=0.0, max_value=mixture_tolerance),
            )
        )
    return Contract("dataset", frames, checks, n_rows, min(n_rows, len(rows)))


def dataset_contract_for_recipe(dataset, recipe, *, source_docs=None, eval_index=None, **overrides) -> Contract:
    """`dataset_contract` with the bounds a tasks.recipe.Recipe asks for: token budget,
    allowed languages, mixture weights, and the duplicate-rate bound (`dedup.options.
    max_duplicate_rate`, default 0 when exact dedup ran, unchecked otherwise)."""
    dup = recipe.dedup.options.get("max_duplicate_rate", 0.0 if recipe.dedup.exact else None)
    kwargs = dict(
        token_budget=recipe.token_budget,
        allowed_languages=recipe.language.allowed,
        mixture_weights=recipe.mixture.weights,
        max_duplicate_rate=dup,
    )
    kwargs.update(overrides)
    return dataset_contract(dataset, source_docs=source_docs, eval_index=eval_index, **kwargs)


# ---------------------------------------------------------------- token shards


def token_shards_contract(
    shards: Sequence[str | Path],
    *,
    vocab_size: int,
    eos_id: int,
    dtype: str = "uint16",
    seq_len: int | None = None,
    expected_tokens: int | None = None,
    expected_documents: int | None = None,
) -> Contract:
    """Contract on packed token shards (`.bin` memmaps of `dtype`). Per sequence (of
    `seq_len` tokens, or 4096 when unknown): ids < vocab, no empty document (EOS EOS).
    Whole input: every shard a whole number of tokens, EOS present, totals as recorded."""
    E = _gx().expectations
    itemsize = np.dtype(dtype).itemsize
    chunk = seq_len or 4096
    names, seq_index, oov_counts, empty_counts, max_ids, shard_rows = [], [], [], [], [], []
    for path in map(Path, shards):
        size = path.stat().st_size
        n = size // itemsize
        arr = np.memmap(path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
        eos_total = 0
        step = chunk * 1024  # whole sequences per block, bounded memory
        for start in range(0, n, step):
            block = np.asarray(arr[start : start + step])
            pad = (-len(block)) % chunk  # the last, short sequence is padded with a
            if pad:  # valid non-EOS id (0 or 1) to keep the shape
                block = np.concatenate([block, np.full(pad, 0 if eos_id != 0 else 1, block.dtype)])
            seqs = block.reshape(-1, chunk)
            eos = seqs == eos_id
            eos_total += int(eos.sum())
            oov_counts.append((seqs >= vocab_size).sum(1))
            empty_counts.append((eos[:, 1:] & eos[:, :-1]).sum(1))
            max_ids.append(seqs.max(1))
            seq_index.append(np.arange(len(seqs)) + start // chunk)
            names.append(np.full(len(seqs), path.name, dtype=object))
        shard_rows.append({"shard": path.name, "bytes_remainder": size % itemsize, "tokens": n, "eos": eos_total})
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)
    seqs = pd.DataFrame(
        {
            "sequence": [f"{a}#{b}" for a, b in zip(cat(names, object), cat(seq_index, np.int64))],
            "out_of_vocab": cat(oov_counts, np.int64),
            "empty_documents": cat(empty_counts, np.int64),
            "max_id": cat(max_ids, np.int64).astype(np.int64),
        }
    )
    shard_df = pd.DataFrame(shard_rows, columns=["shard", "bytes_remainder", "tokens", "eos"])
    total = int(shard_df["tokens"].sum())
    eos = int(shard_df["eos"].sum())
    facts = {
        "total_tokens": total,
        "eos_total": eos,
        "tokens_minus_expected": total - expected_tokens if expected_tokens is not None else 0,
        "eos_minus_documents": eos - expected_documents if expected_documents is not None else 0,
    }
    frames = {"sequences": seqs, "shards": shard_df, "facts": pd.DataFrame([facts])}
    checks = [
        Check(
            "token_shards.ids_within_vocab",
            "sequences",
            E.ExpectColumnValuesToBeBetween(column="out_of_vocab", min_value=0, max_value=0),
        ),
        Check(
            "token_shards.no_empty_documents",
            "sequences",
            E.ExpectColumnValuesToBeBetween(column="empty_documents", min_value=0, max_value=0),
        ),
        Check(
            "token_shards.whole_items",
            "shards",
            E.ExpectColumnValuesToBeBetween(column="bytes_remainder", min_value=0, max_value=0),
        ),
        Check("token_shards.eos_present", "shards", E.ExpectColumnValuesToBeBetween(column="eos", min_value=1)),
    ]
    if expected_tokens is not None:
        checks.append(
            Check(
                "token_shards.total_tokens_match",
                "facts",
                E.ExpectColumnValuesToBeBetween(column="tokens_minus_expected", min_value=0, max_value=0),
            )
        )
    if expected_documents is not None:
        # packing may end on a document without its EOS: allow one missing
        checks.append(
            Check(
                "token_shards.eos_match_documents",
                "facts",
                E.ExpectColumnValuesToBeBetween(column="eos_minus_documents", min_value=-1, max_value=0),
            )
        )
    return Contract("token_shards", frames, checks, total, total, id_column="sequence")


# ---------------------------------------------------------------- running


def check_severity_names(overrides: Mapping[str, str]) -> None:
    """Fail early on a recipe's `validation:` key that names no expectation (a typo)."""
    unknown = [
        k
        for k in overrides
        if k not in EXPECTATIONS
        and k.rsplit(".", 1)[0] not in EXPECTATIONS
        and not any(n.startswith(k + ".") for n in EXPECTATIONS)
        and k not in {"documents", "signals", "dataset", "token_shards"}
    ]
    if unknown:
        raise ValueError(f"recipe validation: unknown expectation name(s) {unknown}; known: {', '.join(EXPECTATIONS)}")
    bad = {k: v for k, v in overrides.items() if v not in ("warn", "fail")}
    if bad:
        raise ValueError(f"recipe validation: severity must be warn or fail, got {bad}")


def _severity(name: str, default: str, overrides: Mapping[str, str]) -> str:
    # the most specific override wins: a.b.c, then a.b, then a
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in overrides:
            return overrides[key]
    return default


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _describe(
    check: Check, kwargs: dict, result: dict, sample_ids: list[str], id_label: str, exception: str | None
) -> tuple[str, str]:
    if exception:
        return "error", f"{check.name}: could not be evaluated: {exception}"
    observed = result.get("observed_value")
    if observed is None and result.get("partial_unexpected_list"):
        observed = result["partial_unexpected_list"][:3]
    expect = ""
    if "min_value" in kwargs or "max_value" in kwargs:
        expect = f"expected in [{kwargs.get('min_value', '-inf')}, {kwargs.get('max_value', 'inf')}]"
    elif "value_set" in kwargs:
        expect = f"expected one of {list(kwargs['value_set'])[:5]}"
    elif "column_set" in kwargs:
        missing = (result.get("details") or {}).get("mismatched") or {}
        expect = f"mismatched columns {_jsonable(missing)}" if missing else f"expected columns {kwargs['column_set']}"
    elif "regex" in kwargs:
        expect = "expected to match the url pattern"
    count = result.get("unexpected_count")
    column = kwargs.get("column")
    if count is not None and check.batch in ("rows", "sequences", "shards", "mixture") and column:
        ids = f"; sample {id_label}: {', '.join(sample_ids)}" if sample_ids else ""
        return (
            json.dumps(_jsonable(observed)),
            f"{check.name}: {count:,} of {result.get('element_count', 0):,} rows, column {column} "
            f"({expect}; e.g. {_jsonable(result.get('partial_unexpected_list', [])[:3])}){ids}",
        )
    if column and result.get("partial_unexpected_list"):
        observed = result["partial_unexpected_list"][0]
    return json.dumps(_jsonable(observed)), f"{check.name}: observed {_jsonable(observed)} ({expect})"


def run_contract(
    contract: Contract,
    *,
    key: str,
    workspace: Workspace | None = None,
    severities: Mapping[str, str] | None = None,
    sample_ids: int = 5,
) -> ValidationResult:
    """Validate a contract with great-expectations; build Data Docs into
    `<ws>/validation/<key>/data_docs/` when a workspace is given."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    t0 = time.time()
    overrides = dict(severities or {})
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir = None
    if workspace is not None:
        docs_dir = workspace.stage_dir("validation", key) / "data_docs"
        ctx.add_data_docs_site(
            site_name="winnow",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = ctx.data_sources.add_pandas("winnow")
    outcomes: list[ExpectationOutcome] = []
    for batch, frame in contract.frames.items():
        checks = [c for c in contract.checks if c.batch == batch]
        if not checks:
            continue
        asset = source.add_dataframe_asset(batch)
        definition = asset.add_batch_definition_whole_dataframe(batch)
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"{contract.suite}.{batch}"))
        by_name: dict[str, Check] = {}
        for check in checks:
            check.expectation.meta = {"name": check.name}
            suite.add_expectation(check.expectation)
            by_name[check.name] = check
        vd = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{contract.suite}.{batch}", data=definition, suite=suite)
        )
        id_col = (
            contract.id_column
            if contract.id_column in frame.columns
            else (frame.columns[0] if batch in ("shards", "mixture") else None)
        )
        fmt: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": sample_ids}
        if id_col:
            fmt["unexpected_index_column_names"] = [id_col]
        res = vd.run(batch_parameters={"dataframe": frame}, result_format=fmt)
        for r in res.results:
            name = str((r.expectation_config.meta or {}).get("name"))  # set on every expectation above
            check = by_name[name]
            result = r.result or {}
            exc = (
                (r.exception_info or {}).get("exception_message")
                if (r.exception_info or {}).get("raised_exception")
                else None
            )
            ids = []
            if id_col:
                for row in result.get("partial_unexpected_index_list") or []:
                    if isinstance(row, dict) and id_col in row:
                        ids.append(str(row[id_col]))
            ids = list(dict.fromkeys(ids))[:sample_ids]
            observed, message = _describe(check, dict(r.expectation_config.kwargs), result, ids, id_col or "id", exc)
            unexpected = result.get("unexpected_count")
            if unexpected is None:
                unexpected = 0 if r.success else 1
            outcomes.append(
                ExpectationOutcome(
                    expectation=name,
                    expectation_type=r.expectation_config.type,
                    batch=batch,
                    severity=_severity(name, check.severity, overrides),
                    success=bool(r.success),
                    unexpected_count=int(unexpected),
                    element_count=int(result.get("element_count") or len(frame)),
                    observed=observed,
                    sample_ids=ids,
                    message=message,
                )
            )
    index_html = None
    if docs_dir is not None and workspace is not None:
        with workspace.claim("validation", key):  # a concurrent suite validating the same data waits
            ctx.build_data_docs(site_names=["winnow"])
        index_html = str(docs_dir / "index.html")
    order = {c.name: i for i, c in enumerate(contract.checks)}
    outcomes.sort(key=lambda o: order.get(o.expectation, 0))
    success = not any(not o.success and o.severity == "fail" for o in outcomes)
    return ValidationResult(
        contract.suite,
        key,
        success,
        outcomes,
        contract.n_rows,
        contract.rows_validated,
        index_html,
        round(time.time() - t0, 3),
    )


def enforce(result: ValidationResult) -> ValidationResult:
    """Raise ValidationFailed when an expectation of severity `fail` failed."""
    if not result.success:
        raise ValidationFailed(result)
    return result


def record_validation(catalog, result: ValidationResult) -> None:
    """Write a result into the catalog tables validation_runs / validation_results
    (sql/catalog/schema/30_validation.sql). Flow process only."""
    catalog.insert(
        "validation_runs",
        [
            {
                "run_id": result.run_id,
                "suite": result.suite,
                "key": result.key,
                "success": result.success,
                "n_rows": result.n_rows,
                "rows_validated": result.rows_validated,
                "n_expectations": len(result.outcomes),
                "n_failed": len(result.failures),
                "n_warned": len(result.warnings),
                "data_docs": result.data_docs,
                "seconds": result.seconds,
                "finished_at": datetime.fromisoformat(result.finished_at).replace(tzinfo=None),
            }
        ],
        replace=True,
    )
    catalog.insert(
        "validation_results",
        [
            {"run_id": result.run_id, "suite": result.suite, "key": result.key, **{k: v for k, v in asdict(o).items()}}
            for o in result.outcomes
        ],
        replace=True,
    )


def validate(
    contract: Contract,
    *,
    key: str,
    workspace: Workspace | None = None,
    severities: Mapping[str, str] | None = None,
    catalog=None,
) -> ValidationResult:
    """Run, record (when a catalog is given) and enforce: the one call a flow makes."""
    result = run_contract(contract, key=key, workspace=workspace, severities=severities)
    if catalog is not None:
        record_validation(catalog, result)
    return enforce(result)


# ---------------------------------------------------------------- entry points for flows


def validate_documents_dir(
    docs_dir: str, key: str, workspace_root: str, severities: dict | None = None, **options
) -> dict:
    """Documents contract over `docs/<key>/shard-*.parquet` with the `_SUCCESS` accounting;
    returns the ValidationResult as a dict (the flow records and enforces it). Plain
    function: flows/validate.py wraps it in a Prefect task."""
    d = Path(docs_dir)
    contract = documents_contract(sorted(d.glob("shard-*.parquet")), counts=ingest_counts(d), **options)
    return run_contract(
        contract, key=key, workspace=Workspace.from_env(workspace_root), severities=severities
    ).as_dict()


def record_and_enforce(catalog, result: dict | ValidationResult) -> ValidationResult:
    """In the flow process: store a task's result in the catalog, then fail the flow
    (ValidationFailed, one-screen summary) if a `fail` expectation failed."""
    if isinstance(result, dict):
        result = ValidationResult.from_dict(result)
    record_validation(catalog, result)
    return enforce(result)
