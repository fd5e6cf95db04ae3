"""A suite's `ablate:` section as a model (tasks/attribution/design.py expands it into
arms; docs/attribution.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tasks.core.spec import Strict
from tasks.selection.spec import TopicsSpec

KINDS = ("filters", "rules", "dedup", "selection")
Mode = Literal["leave_one_out", "add_one"]


class AblateError(ValueError):
    """An `ablate:` section that cannot expand; the message names the field."""


class AblateSpec(Strict):
    """`ablate:` — arms generated from one recipe (see the module docstring)."""

    recipe: str = Field(..., description="an arm of the suite, a recipe in recipes/, or a recipe file")
    over: list[str] = Field(
        default_factory=lambda: ["filters", "dedup", "selection"],
        min_length=1,
        description="component kinds (filters, rules, dedup, selection) or component names",
    )
    mode: Mode = "leave_one_out"
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="prefix of the arm names (default: the recipe's)"
    )
    topics: TopicsSpec | None = Field(
        default_factory=TopicsSpec,
        description="k-means topics (tasks/selection/topics.py) for the slices of what each rule removes; "
        "null: none. The MiniLM embeddings of every document cost ~0.1 CPU-s each, once per source",
    )

    @field_validator("over")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"over lists a component twice: {v}")
        return v
