"""The recipe section `dedup:`: which deduplication modes run and their options.

One options field per mode of tasks/dedup/registry.py (the field's name is the mode's
name); the modes run in the registry's order. The implementations are in
tasks/dedup/dedup.py and tasks/dedup/minhash.py; this module imports none of them.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from tasks.core.spec import Strict
from tasks.dedup.registry import mode_names as dedup_mode_names

KeepPolicy = Literal["first", "longest", "quality"]
# minhash alone may also rehydrate: keep the first document of each cluster and repeat it
# by its cluster size (RehydrateSpec).
MinhashKeep = Literal["first", "longest", "quality", "rehydrate"]

# FineWeb2's published upsampling weights (huggingface/fineweb-2 README, "Deduplication"):
# minimum cluster size -> copies. Sizes 2-3 keep N copies, 4 keeps 3, 5-99 keep 5,
# 100-999 keep 8, and 1000+ only 1 (very large clusters are assumed to be spam/boilerplate).
FINEWEB2_WEIGHTS = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}


class ExactDedupSpec(Strict):
    """Exact duplicates: same text after the chosen normalisation."""

    lower_case: bool = True
    whitespace: bool = True
    punctuation: bool = False
    digits: bool = False
    keep: KeepPolicy = Field("first", description="which member of a duplicate group survives")


class UrlDedupSpec(Strict):
    """Same normalised URL (scheme, www., fragment, tracking parameters ignored)."""

    strip_query: bool = Field(False, description="also ignore the whole query string")
    keep: Literal["latest", "longest", "first"] = Field("latest", description="latest crawl_date or longest text")


class RehydrateSpec(Strict):
    """FineWeb2 rehydration (Penedo et al., 2025): after MinHash dedup each kept document is
    repeated by a step function of its duplicate-cluster size, optionally damped by quality.

    copies(d) = min(max_repeat, round_u(1 + (w(size_d) - 1) * q_d)), where
    - w(s) = weights[max{m in weights : m <= s}] (FineWeb2's published steps by default);
    - q_d = 1 without `quality_column`; else the document's percentile rank (0, 1] of that
      signals column among the documents the step keeps (`higher_is_better` sets the
      direction), so only the best documents get all of their cluster's extra copies;
    - round_u rounds down or up with probability the fraction, by a seeded hash of the
      doc_id (tasks.core.sampling.hash_uniform), so the counts are reproducible.
    Cluster sizes are counted over the whole dedup pool (before the recipe's filters), as
    FineWeb2 deduplicates before filtering. The token budget is cut after the copies.
    """

    weights: dict[int, int] = Field(
        default_factory=lambda: dict(FINEWEB2_WEIGHTS),
        description="minimum cluster size -> copies; the largest minimum <= the size applies",
    )
    quality_column: str | None = Field(None, description="a signals column scaling the extra copies")
    higher_is_better: bool = Field(True, description="direction of quality_column")
    max_repeat: int = Field(8, ge=1, description="cap on copies of one document")
    seed: int = Field(0, description="stochastic rounding of fractional copies")

    @field_validator("weights")
    @classmethod
    def _steps(cls, v: dict[int, int]) -> dict[int, int]:
        if 1 not in v or any(k < 1 or c < 1 for k, c in v.items()):
            raise ValueError(f"rehydrate.weights needs a step at size 1, sizes >= 1 and copies >= 1, got {v}")
        return dict(sorted(v.items()))


class MinhashDedupSpec(Strict):
    """Near duplicates by MinHash LSH (defaults: FineWeb's 5-grams, 14 bands x 8 rows)."""

    n_grams: int = Field(5, ge=1)
    num_bands: int = Field(14, ge=1)
    rows_per_band: int = Field(8, ge=1)
    seed: int = 1
    verify: Literal["none", "estimate", "exact"] = Field(
        "exact",
        description="check candidate pairs by exact or estimated (signature) Jaccard; "
        "none = FineWeb (every LSH candidate is a duplicate)",
    )
    threshold: float = Field(0.8, ge=0.0, le=1.0, description="Jaccard a verified pair must reach")
    keep: MinhashKeep = Field("first", description="survivor policy, or `rehydrate` (see `rehydrate`)")
    rehydrate: RehydrateSpec | None = Field(
        None, description="keep: rehydrate: how many copies each kept document gets (defaults: FineWeb2)"
    )

    @model_validator(mode="after")
    def _rehydrate_defaults(self) -> MinhashDedupSpec:
        if self.keep == "rehydrate" and self.rehydrate is None:
            self.rehydrate = RehydrateSpec()
        if self.keep != "rehydrate" and self.rehydrate is not None:
            raise ValueError("minhash.rehydrate is set but minhash.keep is not `rehydrate`")
        return self


class LinesDedupSpec(Strict):
    """CCNet-style: drop lines (or paragraphs) that occur more than `max_count` times."""

    max_count: int = Field(2, ge=1, description="a line seen more often than this is boilerplate")
    paragraphs: bool = Field(False, description="compare paragraphs (blank-line separated), not lines")


class SubstringDedupSpec(Strict):
    """Exact-substring dedup (Lee et al., 2022): spans of at least `min_len` bytes or tokens
    that occur earlier in the same unit (a docs shard, or the dedup scope) are cut out."""

    min_len: int = Field(50, ge=1, description="shortest repeated span removed (the paper: 50 tokens)")
    unit: Literal["bytes", "tokens"] = Field("bytes", description="what min_len counts")
    per: Literal["shard", "scope"] = Field(
        "shard", description="suffix array per docs shard (bounded memory) or per dedup scope (source/global)"
    )
    keep: Literal["first", "none"] = Field(
        "first", description="keep a span's first occurrence, or strike every copy (the paper's released code)"
    )
    min_chars: int = Field(50, ge=0, description="a document cut below this many characters is dropped")
    vocab_size: int = Field(8192, ge=256, description="suite tokenizer vocabulary, for unit: tokens")


# The modes every recipe and dedup hash has held from the start (null when off). A mode
# registered later enters a hash only when it is on, so recipes without it keep their
# dataset and dedup keys (and cached stages) when it is added.
HASHED_WHEN_OFF = ("exact", "url", "minhash", "lines")


def drop_later_modes_off(dump: dict[str, Any]) -> dict[str, Any]:
    """A DedupSpec dump without the modes that are off and not in HASHED_WHEN_OFF."""
    for mode in dedup_mode_names():
        if mode not in HASHED_WHEN_OFF and dump.get(mode) is None:
            dump.pop(mode, None)
    return dump


def _mode_spec(value: Any, model: type[BaseModel]) -> Any:
    # `exact: true` (the original boolean form) means the defaults; `false`/null: off.
    if value is True:
        return model()
    if value is False:
        return None
    return value


def _mode_model(spec_cls: type[BaseModel], mode: str) -> type[BaseModel]:
    """The options model of a dedup mode: the type of DedupSpec's field of that name."""
    field = spec_cls.model_fields.get(mode)
    models = (
        [a for a in get_args(field.annotation) if isinstance(a, type) and issubclass(a, BaseModel)] if field else []
    )
    if len(models) != 1:
        raise TypeError(f"DedupSpec needs a field `{mode}: <options model> | None` for dedup mode {mode!r}")
    return models[0]


class DedupSpec(Strict):
    """Which deduplication steps run, in the order of tasks/dedup/registry.py
    (exact -> url -> minhash -> lines -> substring).

    Each mode is `true` (defaults), `false` (off) or a mapping of its options: one field
    per registered mode, of that mode's name.
    """

    exact: ExactDedupSpec | None = None
    url: UrlDedupSpec | None = None
    minhash: MinhashDedupSpec | None = None
    lines: LinesDedupSpec | None = None
    substring: SubstringDedupSpec | None = None
    scope: Literal["source", "global"] = Field(
        "global", description="find duplicates within each source, or across all sources"
    )
    against: list[str] = Field(
        default_factory=list, description="earlier datasets' sources: documents matching them are removed"
    )
    quality_column: str | None = Field(None, description="score column for the `quality` keep policy")
    options: dict[str, Any] = Field(default_factory=dict, description="per-step options (legacy form)")

    @field_validator(*dedup_mode_names(), mode="before")
    @classmethod
    def _mode(cls, v: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        return _mode_spec(v, _mode_model(cls, info.field_name))

    @model_validator(mode="after")
    def _legacy_options_and_policy(self) -> DedupSpec:
        # Legacy `options: {minhash: {...}}` fill a mode switched on by `minhash: true`.
        for mode in dedup_mode_names():
            model = _mode_model(type(self), mode)
            extra = self.options.get(mode)
            if isinstance(extra, dict) and getattr(self, mode) is not None:
                merged = {**getattr(self, mode).model_dump(), **extra}
                setattr(self, mode, model.model_validate(merged))
        uses_quality = any(getattr(getattr(self, m), "keep", None) == "quality" for m in dedup_mode_names())
        if uses_quality and not self.quality_column:
            raise ValueError("keep policy 'quality' needs dedup.quality_column")
        return self

    def modes(self) -> list[str]:
        return [m for m in dedup_mode_names() if getattr(self, m) is not None]

    def rehydrates(self) -> bool:
        return self.minhash is not None and self.minhash.keep == "rehydrate"


def drop_unset_rehydrate(dumped: dict[str, Any]) -> None:
    """A dumped DedupSpec without the `minhash.rehydrate` field while it is unset, so that
    dedup runs and recipes without rehydration keep their hashes (cache keys)."""
    minhash = dumped.get("minhash")
    if isinstance(minhash, dict) and minhash.get("rehydrate") is None:
        minhash.pop("rehydrate", None)
