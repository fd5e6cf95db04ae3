"""The selection methods: one line each, name -> a `SelectionMethod`.

The recipe (`SelectionSpec.method`, tasks/selection/spec.py), the curate step,
`python -m flows.select` and `tasks.selection.selection` all read this table. Its entries
name their implementation as "module:attribute", imported on first use, so that the spec
can list the method names without importing numpy, torch or the selection code (which
imports the spec: importing it here would be a circle).

Adding a method: a module with an object that has `choose(Choice) -> row indices`
(and, for a scored method, `fit`/`prepare`/`load`, see tasks/selection/methods.py),
its options section in `SelectionSpec` if it has options, and one line in METHODS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SelectionMethod:
    name: str
    impl: str  # "module:attribute" of the implementation (see tasks/selection/methods.py)
    scored: bool = False  # stores a per-document column once per source (flows/select.py)
    column: str | None = None  # the stored column: "score" or "embedding"
    higher_is_better: bool | None = None  # for score columns: which end is kept
    budget_from_recipe: bool = False  # `tokens` defaults to the recipe's token_budget
    seeded: bool = False  # a seeded sample: a suite seed varies it (tasks/suite.py arm_for_seed)

    def load(self) -> Any:
        module, _, attr = self.impl.partition(":")
        return getattr(importlib.import_module(module), attr)


_M = "tasks.selection.methods"
METHODS: dict[str, SelectionMethod] = {
    m.name: m
    for m in (
        SelectionMethod("none", f"{_M}:KEEP_ALL"),
        SelectionMethod("random", f"{_M}:RANDOM", budget_from_recipe=True, seeded=True),
        SelectionMethod("fasttext", f"{_M}:FASTTEXT", scored=True, column="score", higher_is_better=True),
        SelectionMethod(
            "dsir",
            f"{_M}:DSIR_METHOD",
            scored=True,
            column="score",
            higher_is_better=True,
            budget_from_recipe=True,
            seeded=True,
        ),
        SelectionMethod("perplexity", f"{_M}:PERPLEXITY", scored=True, column="score", higher_is_better=False),
        SelectionMethod("semdedup", f"{_M}:SEMDEDUP", scored=True, column="embedding"),
        SelectionMethod(
            "kenlm", "tasks.selection.kenlm_method:KENLM", scored=True, column="score", higher_is_better=False
        ),
    )
}


def method_names() -> list[str]:
    return list(METHODS)


def scored_names() -> list[str]:
    return [m.name for m in METHODS.values() if m.scored]


def get_method(name: str) -> SelectionMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown selection method {name!r}; known: {', '.join(METHODS)}") from None
