"""The contract model: expectation names, Check/Contract, outcomes and results."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

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
    "dataset.doc_id_unique": "no doc_id occurs twice in the dataset (in one phase)",
    "dataset.id_from_its_source": "every doc_id exists in the documents of its source",
    "dataset.text_not_empty": "no empty text",
    "dataset.token_estimate_within_budget": "estimated tokens <= budget * (1 + slack)",
    "dataset.language_allowed": "every document's language is one the recipe allows",
    "dataset.mixture_as_asked": (
        "each group's (source, domain or topic; per phase) share within tolerance of its weight, measured in "
        "the mixer's unit: real tokens of the suite tokenizer when the dataset records them, else characters "
        "(the column says which: token_share_deviation or char_share_deviation)"
    ),
    "dataset.duplicate_rate_below_bound": "exact duplicate text rate <= bound",
    "dataset.decontaminated": "no document shares an n-gram with an eval item",
    "token_shards.ids_within_vocab": "every token id < vocab size (per sequence)",
    "token_shards.no_empty_documents": "no two EOS in a row (per sequence)",
    "token_shards.whole_items": "each shard holds whole tokens of its dtype",
    "token_shards.eos_present": "documents are separated by EOS",
    "token_shards.total_tokens_match": "total tokens = the recorded count",
    "token_shards.eos_match_documents": "EOS count = documents recorded",
    # tasks/validation/contracts/matched_tokens.py (suite tokenizer, real tokens)
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
