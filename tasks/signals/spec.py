"""The recipe sections that select on signal columns: `language` (the first curate step)
and `filters` (named filters in sql/filters/ or raw SQL predicates, tasks/signals/filters.py).

`check_filters` validates a recipe's filter list against the filter files and, for raw
SQL, against DuckDB's parse tree and the signals schema. That check needs DuckDB and the
signals schema, so it is named here as "module:attribute" and imported on first use (as
the registries load implementations): importing this module stays light.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from tasks.core.spec import Strict

# The check of a recipe's filters (raises RecipeError): tasks/signals/filters.py.
FILTER_CHECK = "tasks.signals.filters:resolve_rules"


class LanguageSpec(Strict):
    """The first curate step: documents whose language is `allowed` (the `language`
    signal, lid.176's label) with a language-ID probability strictly above `min_score`,
    as datatrove's LanguageFilter keeps (FineWeb/DCLM: English, 0.65)."""

    allowed: list[str] | None = Field(None, description="ISO 639-1 codes to keep; null keeps all")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="keep a language-ID probability above this")

    @field_validator("allowed")
    @classmethod
    def _codes(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [c for c in v if not isinstance(c, str) or not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]{4})?", c)]
        if bad:
            raise ValueError(f"not language codes (ISO 639-1, e.g. en): {bad}")
        return sorted(set(v))


class FilterSpec(Strict):
    """A named filter from `sql/filters/<name>.sql` with threshold overrides, or a raw
    SQL predicate over signal columns (then `name` is an optional label). tasks/signals/filters.py
    checks names, params and SQL against the filter files and the signals schema."""

    name: str | None = Field(None, description="named filter, e.g. gopher_quality; or a label for `sql`")
    params: dict[str, Any] = Field(default_factory=dict, description="threshold overrides (numbers; null = rule off)")
    sql: str | None = Field(None, description="a raw SQL predicate over signal columns")
    skip: list[str] = Field(
        default_factory=list,
        description="rules of the named filter switched off (e.g. by a generated ablation: tasks/attribution/design.py)",
    )

    @field_validator("sql")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if v else v

    @model_validator(mode="after")
    def _one_kind(self) -> FilterSpec:
        if not self.name and not self.sql:
            raise ValueError("a filter needs a `name` (named filter) or `sql` (raw predicate)")
        if self.sql and (self.params or self.skip):
            raise ValueError("`params` and `skip` apply to named filters, not to raw `sql`")
        if self.name and not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"bad filter name {self.name!r} (lower-case letters, digits, _)")
        return self


def check_filters(specs: Sequence[FilterSpec]) -> None:
    """Every filter checked when the recipe is: named filters and their params against
    sql/filters/, raw SQL (untrusted: the UI form, deployment parameters) against DuckDB's
    parse tree and the signals schema (RecipeError otherwise)."""
    module, _, attr = FILTER_CHECK.partition(":")
    getattr(importlib.import_module(module), attr)(specs)
