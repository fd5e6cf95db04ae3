"""The recipe sections `selection:` (tasks/selection/selection.py, the methods of
tasks/selection/registry.py) and `mixture:` (tasks/selection/mixing.py), with their
options models. Imports the registry (light), no selection code.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, field_validator, model_validator

from tasks.core.spec import Strict, refuse_options
from tasks.selection.registry import get_method, method_names
from tasks.train.spec import OnlineMixSpec


class FastTextConfig(Strict):
    """DCLM-style quality classifier: wiki leads (train split) vs documents of the crawl."""

    dim: int = Field(64, gt=0)
    epoch: int = Field(10, gt=0)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(2, ge=1, le=5)
    min_count: int = Field(2, ge=1)
    folds: int = Field(2, ge=2, le=10, description="cross-fitting: no crawl document is scored by a model that saw it")
    positives_per_negative: float | None = Field(4.0, gt=0, description="positives sampled per negative; null = all")
    max_negatives: int = Field(100_000, gt=0, description="crawl documents sampled as negatives")
    report_fraction: float = Field(0.1, gt=0, lt=1, description="positives held back for the held-out report")


class DSIRConfig(Strict):
    """DSIR (Xie et al. 2023): hashed n-gram bag models of target and raw, importance weights."""

    buckets: int = Field(10_000, ge=16)
    ngrams: int = Field(2, ge=1, le=3)
    smoothing: float = Field(1.0, gt=0, description="add-alpha count smoothing of both models")
    length_normalize: bool = Field(False, description="divide the log weight by the number of n-grams")


class PerplexityConfig(Strict):
    """Byte-level interpolated Kneser-Ney n-gram LM trained on the reference (KenLM-style)."""

    order: int = Field(5, ge=2, le=8)
    max_bytes: int | None = Field(None, gt=0, description="score only the first N bytes of a document")


class KenLMConfig(Strict):
    """Word-level modified Kneser-Ney LM of the reference, queried with kenlm (CCNet-style)."""

    order: int = Field(3, ge=2, le=5)


class SemDedupConfig(Strict):
    """SemDeDup / D4: MiniLM embeddings, k-means, drop near neighbours within clusters."""

    n_clusters: int | None = Field(None, gt=0, description="default: round(sqrt(n / 2))")
    eps: float | None = Field(
        0.1, gt=0, lt=1, description="drop a document whose cosine to a kept-earlier one in its cluster is > 1 - eps"
    )
    remove_fraction: float | None = Field(
        None, ge=0, lt=1, description="instead of eps: drop this fraction (the most redundant)"
    )
    balance: bool = Field(False, description="cluster-balanced sampling (round robin over clusters) to the budget")
    batch_size: int = Field(32, gt=0)
    max_tokens: int = Field(256, gt=0, le=512, description="the model's sequence length")


_METHOD_CHOICES: list[JsonValue] = list(method_names())


class SelectionSpec(Strict):
    """Which documents to keep among the candidates (tasks/selection/selection.py).

    Score rules (fasttext, dsir, perplexity, kenlm): `min_score`/`max_score` (absolute band),
    `band` (quantile band among the candidates), `keep_fraction` (top fraction by score;
    for perplexity and kenlm, the lowest perplexities) and `tokens` (cut to a token budget: by score,
    or by Gumbel top-k for dsir, or a seeded random order for random). `tokens` defaults to
    the recipe's token_budget for dsir and random.
    """

    method: str = Field(
        "none",
        description="a method of tasks/selection/registry.py",
        json_schema_extra={"enum": _METHOD_CHOICES},  # the UI form's choices
    )
    seed: int = 0
    keep_fraction: float | None = Field(None, gt=0, le=1)
    min_score: float | None = None
    max_score: float | None = None
    band: tuple[float, float] | None = Field(None, description="quantiles [lo, hi] of the score to keep")
    tokens: int | None = Field(None, gt=0, description="token budget of the selection")
    log_kl: bool = Field(True, description="log the DSIR KL reduction of the selected set")
    fasttext: FastTextConfig = Field(default_factory=FastTextConfig)
    dsir: DSIRConfig = Field(default_factory=DSIRConfig)
    perplexity: PerplexityConfig = Field(default_factory=PerplexityConfig)
    semdedup: SemDedupConfig = Field(default_factory=SemDedupConfig)
    kenlm: KenLMConfig = Field(default_factory=KenLMConfig)
    options: dict[str, Any] = Field(default_factory=dict, description="reserved; use the typed sections")

    @field_validator("method")
    @classmethod
    def _known_method(cls, v: str) -> str:
        return get_method(v).name  # a clear error listing the known methods

    @field_validator("band")
    @classmethod
    def _band_order(cls, v):
        if v is not None and not (0.0 <= v[0] < v[1] <= 1.0):
            raise ValueError(f"band must be quantiles 0 <= lo < hi <= 1, got {list(v)}")
        return v

    @field_validator("options")
    @classmethod
    def _no_loose_options(cls, v):
        return refuse_options(v, "selection", "use the fasttext/dsir/perplexity/semdedup/kenlm sections")

    def method_config(self) -> dict[str, Any]:
        """The part of the spec that decides the stored score column (the score cache key)."""
        section = getattr(self, self.method, None)
        return section.model_dump() if isinstance(section, BaseModel) else {}


class UpsampleSpec(Strict):
    """FineWeb2-style rehydration: repeat documents by duplicate-cluster size x quality."""

    cluster_size: list[tuple[int, float]] = Field(
        default_factory=lambda: [(1, 1.0), (2, 2.0), (5, 3.0), (100, 1.0)],
        description="(min cluster size, repeat factor) steps; the largest min <= size applies",
    )
    quality_column: str | None = Field("score", description="scale the extra repeats by this column's percentile")
    max_repeat: int = Field(5, ge=1)


class PhaseSpec(Strict):
    """A final-phase mixture for the last `fraction` of the tokens (domain upsampling)."""

    name: str = "final"
    fraction: float = Field(..., gt=0, lt=1)
    weights: dict[str, float] | None = None
    temperature: float | None = Field(None, gt=0)


class TopicsSpec(Strict):
    """Topic groups (`group_by: topic`, tasks/selection/topics.py): k-means over the MiniLM
    embeddings of every document of the recipe's sources; groups are named t0..t<n-1>,
    largest first."""

    n: int = Field(8, ge=2, description="number of topics (k-means clusters)")
    seed: int = Field(0, description="k-means initialisation")
    max_tokens: int = Field(256, gt=0, le=512, description="embedding sequence length (shared with semdedup)")


TOPIC_ID = re.compile(r"^t(\d+)$")


class MixtureSpec(Strict):
    """How the selected documents become a token plan per group (source, URL domain or
    embedding topic) and phase (tasks/selection/mixing.py). `weights` are target token shares;
    `temperature` gives shares proportional to available_tokens^(1/T) (T=1 natural, large T uniform)."""

    group_by: Literal["source", "domain", "topic"] = "source"
    topics: TopicsSpec | None = Field(None, description="group_by topic: how many topics and the k-means seed")
    weights: dict[str, float] | None = Field(None, description="per-group target token shares")
    temperature: float | None = Field(None, gt=0)
    default_weight: float = Field(0.0, ge=0, description="weight of groups missing from `weights`")
    max_epochs: float = Field(4.0, gt=0, description="cap on how often a group's tokens repeat")
    upsample: UpsampleSpec | None = None
    final_phase: PhaseSpec | None = None
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict, description="reserved; use the typed fields")
    online: OnlineMixSpec | None = Field(
        None,
        description="choose each training batch's group online (ODM, tasks/train/online_mix.py); it changes "
        "training, not the dataset, so it is outside the dataset's hash",
    )

    @field_validator("options")
    @classmethod
    def _no_loose_options(cls, v):
        return refuse_options(v, "mixture")

    @model_validator(mode="after")
    def _online_groups(self):
        if self.online is not None and self.online.group_by is None:
            if self.group_by == "topic":
                raise ValueError("mixture.online groups by source or domain; set online.group_by")
            self.online = self.online.model_copy(update={"group_by": self.group_by})
        return self

    @field_validator("weights")
    @classmethod
    def _weights_positive(cls, v):
        if v is not None and (any(w < 0 for w in v.values()) or not any(w > 0 for w in v.values())):
            raise ValueError(f"weights must be >= 0 with at least one > 0, got {v}")
        return v

    @model_validator(mode="after")
    def _topics(self):
        if self.group_by != "topic":
            if self.topics is not None:
                raise ValueError(f"mixture.topics is set but group_by is {self.group_by!r}; use group_by: topic")
            return self
        if self.topics is None:
            self.topics = TopicsSpec()
        n = self.topics.n
        named = [("weights", self.weights)]
        if self.final_phase is not None:
            named.append(("final_phase.weights", self.final_phase.weights))
        for where, weights in named:
            for g in weights or {}:
                m = TOPIC_ID.match(g)
                if m is None or int(m.group(1)) >= n:
                    raise ValueError(
                        f"mixture.{where}: {g!r} is not a topic id; with topics.n = {n} they are t0..t{n - 1}"
                    )
        return self

    @property
    def asked(self) -> bool:
        """Whether the recipe asks for a mixture: weights, a temperature, upsampling or a
        final phase. Without one the budget step cuts the dataset (tasks/curate/pipeline.py)
        and the mixer never cuts (tasks/selection/selection.py select_and_mix)."""
        return bool(self.weights or self.temperature or self.upsample or self.final_phase)
