"""What every curate step sees: the DuckDB connection with the `signals` and `docs`
views, the recipe, its resolved filter rules, and each step's accounting.

Kept apart from the pipeline and the steps so that both import it and neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from tasks.core.docsref import DocsRef
from tasks.core.sqlfiles import render_sql
from tasks.core.workspace import Workspace
from tasks.recipe import Recipe
from tasks.signals.filters import Rule
from tasks.signals.signals import SignalsRef


@dataclass(frozen=True)
class SourceInput:
    docs: DocsRef
    signals: SignalsRef


@dataclass
class CurateContext:
    con: duckdb.DuckDBPyConnection
    recipe: Recipe
    rules: list[Rule]
    workspace: Workspace | None = None
    inputs: list[SourceInput] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)  # step name -> its accounting
    # step name -> why it removed what it removed, where the step knows: an Arrow table
    # (doc_id, reason, detail columns) of its removed documents (tasks/curate/exclusions.py samples it)
    explained: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None  # tasks.train.doc_tokens.SuiteTokenizer when the recipe cuts to tokens
    _tokenizer_obj: Any = None

    def encoder(self):
        """The loaded suite tokenizer (to recount texts a step rewrote)."""
        if self._tokenizer_obj is None:
            self._tokenizer_obj = self.tokenizer.load()
        return self._tokenizer_obj

    _n: int = 0

    def new_table(self, step: str) -> str:
        self._n += 1
        return f"ids_{self._n:02d}_{step}"

    def size(self, ids: str) -> int:
        return self.con.execute(render_sql("common/count_rows", source=ids)).fetchall()[0][0]


Step = Callable[[CurateContext, str], str]


@dataclass(frozen=True)
class StepImpl:
    fn: Step
    wanted: Callable[[Recipe], bool]  # does this recipe ask for the step?
