"""A suite's `sweep:` section as a model: the design's axes and their checks
(tasks/sweep/design.py expands it into arms; docs/sweeps.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, Field, JsonValue, ValidationError, field_validator, model_validator

from tasks.core.spec import Strict

EPOCHS = "epochs"  # the repetition axis (tasks/sweep/design.py)


class SweepError(ValueError):
    """A sweep that cannot expand; the message names the sweep, the axis and the point."""


class RangeAxis(Strict):
    """A numeric range: grid takes `num` points from low to high (geometric with `log`);
    random draws uniformly (log-uniformly with `log`)."""

    low: float
    high: float
    num: int | None = Field(None, ge=2, description="grid: points from low to high inclusive")
    log: bool = False
    integer: bool = Field(False, description="round values to whole numbers")

    @model_validator(mode="after")
    def _ordered(self) -> RangeAxis:
        if not self.low < self.high:
            raise ValueError(f"needs low < high, got low={self.low} high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log needs low > 0, got {self.low}")
        return self


class DirichletAxis(Strict):
    """Mixture weights drawn from a symmetric Dirichlet(alpha) over `over` (default: the
    base arm's sources when it mixes by source). Random design only."""

    dirichlet: float = Field(1.0, gt=0, description="concentration alpha (1 = uniform on the simplex)")
    over: list[str] | None = Field(None, min_length=2, description="the groups; default: the base's sources")


class EpochsAxis(Strict):
    """Repetition: `fix: train_tokens` trains every point on `tokens` with tokens/epochs
    unique; `fix: unique_tokens` cuts every dataset to `tokens` and trains tokens x epochs."""

    values: list[float] = Field(..., min_length=1)
    fix: Literal["train_tokens", "unique_tokens"]
    tokens: int = Field(..., gt=0)

    @field_validator("values")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(e <= 0 for e in v):
            raise ValueError(f"epochs must be > 0, got {v}")
        return v


Axis = Union[list[JsonValue], RangeAxis, DirichletAxis, EpochsAxis]  # noqa: UP007 (pydantic schema for the form)


class MergeSpec(Strict):
    """`sweep.merge`: score the sampled mixtures by merging per-partition models instead of
    training each (Na et al. 2024; tasks/sweep/merge.py); train only `top` + `random` of them."""

    warmup: float = Field(0.25, gt=0, lt=1, description="fraction of train tokens on the pooled warm-up")
    top: int = Field(5, ge=1, description="best merged scores trained for real (with the suite's seeds)")
    random: int = Field(3, ge=0, description="further mixtures, drawn at random from the rest, trained too")
    boot: int = Field(2000, ge=100, description="bootstrap resamples of the rank agreement")


class SweepSpec(Strict):
    """`sweep:` — arms from a design over recipe fields (see the module docstring)."""

    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="prefix of the arm names (name_ep4)"
    )
    base: dict[str, Any] = Field(..., description="the recipe fields every point shares (no name)")
    design: Literal["grid", "random"] = "grid"
    n: int | None = Field(None, gt=0, description="random: number of points")
    seed: int = 0
    axes: dict[str, Axis] = Field(..., min_length=1, description="dotted recipe field -> values or a range")
    max_arms: int = Field(100, gt=0, description="a design bigger than this is an error")
    merge: MergeSpec | None = Field(None, description="score mixtures by merged partition models (random design)")

    @field_validator("axes", mode="before")
    @classmethod
    def _parse_axes(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out: dict[str, Any] = {}
        for path, spec in v.items():
            if isinstance(spec, list | tuple):
                if not spec:
                    raise ValueError(f"axis {path!r}: an empty list of values")
                out[path] = list(spec)
            elif isinstance(spec, Mapping):
                model: type[BaseModel] = (
                    DirichletAxis if "dirichlet" in spec else EpochsAxis if "fix" in spec else RangeAxis
                )
                try:
                    out[path] = model.model_validate(spec)
                except ValidationError as exc:
                    msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or path}: {e['msg']}" for e in exc.errors())
                    raise ValueError(f"axis {path!r}: {msgs}") from None
            elif isinstance(spec, BaseModel):
                out[path] = spec
            else:
                raise ValueError(
                    f"axis {path!r}: values are a list, a range {{low, high[, num]}}, {{dirichlet: alpha}} "
                    f"or (epochs) {{values, fix, tokens}}; got {spec!r}"
                )
        return out

    @model_validator(mode="after")
    def _design(self) -> SweepSpec:
        if "name" in self.base:
            raise ValueError("sweep.base: arm names come from the points; remove `name`")
        if self.design == "random" and self.n is None:
            raise ValueError("sweep: design random needs `n` (how many points)")
        if self.design == "grid":
            if self.n is not None:
                raise ValueError("sweep: `n` is for design random; a grid has every combination")
            for path, axis in self.axes.items():
                if isinstance(axis, DirichletAxis):
                    raise ValueError(f"axis {path!r}: a Dirichlet axis needs design: random")
                if isinstance(axis, RangeAxis) and axis.num is None:
                    raise ValueError(f"axis {path!r}: a range in a grid needs `num` (points from low to high)")
        if self.merge is not None:
            self._check_merge()
        for path, axis in self.axes.items():
            if isinstance(axis, EpochsAxis) and path != EPOCHS:
                raise ValueError(f"axis {path!r}: {{values, fix, tokens}} is the form of the `epochs` axis")
            if isinstance(axis, DirichletAxis) and path.split(".")[-1] != "weights":
                raise ValueError(f"axis {path!r}: a Dirichlet axis sets mixture weights (a path ending in .weights)")
        return self

    def _check_merge(self) -> None:
        assert self.merge is not None
        if (
            self.design != "random"
            or len(self.axes) != 1
            or not isinstance(next(iter(self.axes.values())), DirichletAxis)
        ):
            raise ValueError("sweep.merge: needs design random and one axis, {dirichlet: alpha} on mixture weights")
        if self.n is not None and self.merge.top + self.merge.random > self.n:
            raise ValueError(
                f"sweep.merge: top + random = {self.merge.top + self.merge.random} is more than n={self.n}"
            )
        if self.merge.top + self.merge.random < 3:
            raise ValueError("sweep.merge: top + random must be at least 3 (a rank correlation needs 3 arms)")
