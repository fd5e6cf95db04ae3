"""The base of every recipe section (spec): `Strict` models, the empty-options rule and
`RecipeError`.

Each stage package declares its own spec next to it (`tasks/<stage>/spec.py`), built on
`Strict`; `tasks/recipe.py` and `tasks/suite.py` compose them. Specs import pydantic and
this module, nothing heavy (no numpy, duckdb, torch) and no stage logic, so that
validating a recipe needs no stage (tests/test_architecture.py guards it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file and the field."""


def refuse_options(v: dict[str, Any], section: str, hint: str = "") -> dict[str, Any]:
    """A reserved `options:` mapping must stay empty: a loose key would be silently ignored."""
    if v:
        raise ValueError(f"unknown {section} options {sorted(v)}" + (f": {hint}" if hint else ""))
    return v


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a recipe must not silently do nothing."""

    model_config = ConfigDict(extra="forbid")
