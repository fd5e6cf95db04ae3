"""Recipes: one arm of an ablation, loaded from YAML, validated and hashed.

A recipe is only a *choice* over data computed once per source (signals, MinHash,
scores): which sources, which filters, which dedup policy, which selection and mixture,
then how to train and evaluate. Each section is a pydantic model so that a bad recipe
fails before any work runs, and the Prefect UI renders the recipe as a form.

Sections owned by stages: `filters` (tasks/signals/filters.py), `dedup` (tasks/dedup/dedup.py),
`selection` and `mixture` (tasks/selection/selection.py, tasks/selection/mixing.py), `train`
(tasks/train/loop.py), `eval` (tasks/evaluate/harness.py), `validation` and `decontamination`
(tasks/validation/, tasks/decontam/decontaminate.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tasks.core.hashing import hash_json
from tasks.decontam.decontaminate import DecontaminationSpec
from tasks.dedup.registry import mode_names as dedup_mode_names
from tasks.selection.registry import get_method, method_names


def refuse_options(v: dict[str, Any], section: str, hint: str = "") -> dict[str, Any]:
    """A reserved `options:` mapping must stay empty: a loose key would be silently ignored."""
    if v:
        raise ValueError(f"unknown {section} options {sorted(v)}" + (f": {hint}" if hint else ""))
    return v


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a recipe must not silently do nothing."""

    model_config = ConfigDict(extra="forbid")


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


KeepPolicy = Literal["first", "longest", "quality"]


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
    keep: KeepPolicy = "first"


class LinesDedupSpec(Strict):
    """CCNet-style: drop lines (or paragraphs) that occur more than `max_count` times."""

    max_count: int = Field(2, ge=1, description="a line seen more often than this is boilerplate")
    paragraphs: bool = Field(False, description="compare paragraphs (blank-line separated), not lines")


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
    (exact -> url -> minhash -> lines).

    Each mode is `true` (defaults), `false` (off) or a mapping of its options: one field
    per registered mode, of that mode's name.
    """

    exact: ExactDedupSpec | None = None
    url: UrlDedupSpec | None = None
    minhash: MinhashDedupSpec | None = None
    lines: LinesDedupSpec | None = None
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

    @field_validator("options")
    @classmethod
    def _no_loose_options(cls, v):
        return refuse_options(v, "mixture")

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


class TrainSpec(Strict):
    """How the proxy model trains (tasks/train/loop.py). Null fields take the preset's value."""

    preset: Literal["nano", "tiny", "mini", "small", "base"] = "nano"
    seed: int = Field(0, description="model init, packing shuffle and data order")
    tokens: int | None = Field(None, gt=0, description="token budget; default from the preset")
    vocab_size: int | None = Field(
        None,
        ge=300,
        description="vocabulary of the suite tokenizer (tasks/train/tokenizer.py) that counts the "
        "dataset's token budget and that the model trains with; null = the preset's. A ladder "
        "fixes it so that every rung sees the same data in the same tokens",
    )
    tokens_per_param: float | None = Field(
        None,
        gt=0,
        description="Chinchilla-style budget (e.g. 20): tokens = this x parameters; used when `tokens` is null",
    )
    batch_size: int | None = Field(None, gt=0, description="sequences per optimizer step")
    micro_batch_size: int | None = Field(None, gt=0, description="sequences per forward (grad accumulation)")
    lr: float | None = Field(None, gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final lr as a fraction of the peak")
    schedule: Literal["cosine", "wsd"] = Field("cosine", description="warmup + cosine, or warmup-stable-decay")
    warmup: float = Field(0.05, ge=0, lt=1, description="warmup, fraction of the steps")
    decay: float = Field(0.2, gt=0, le=1, description="WSD: final decay, fraction of the steps")
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, gt=0, lt=1)
    beta2: float = Field(0.95, gt=0, lt=1)
    grad_clip: float = Field(1.0, gt=0, description="max global gradient norm")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast where the hardware has bf16 (CUDA, AVX512-BF16/AMX CPUs)"
    )
    compile: bool | None = Field(None, description="torch.compile; null = on CUDA only")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = Field(50, gt=0, description="steps between checkpoints (not part of the hash)")
    snapshots: int = Field(
        4,
        ge=0,
        description="evaluation snapshots (weights only) evenly spaced over the final `snapshot_window` of "
        "training, the final step included; the eval stage scores the held-out texts on each to measure "
        "training noise (Signal and Noise, Heineman et al. 2025). 0 = none (not part of the hash)",
    )
    snapshot_window: float = Field(
        0.2, gt=0, le=1, description="fraction of the steps the snapshots spread over (not part of the hash)"
    )
    options: dict[str, Any] = Field(default_factory=dict)


class EvalSpec(Strict):
    """What tasks/evaluate/harness.py runs: the task YAMLs in `evals/` through lm-eval."""

    tasks: list[str] | None = Field(
        None,
        description="short task names (hellaswag, arc_easy, ..., lambada, wikitext2, "
        "wiki_leads_heldout, news_heldout) or groups benchmarks / lm; null = all",
    )
    limit: int | None = Field(
        None,
        gt=0,
        description="items per task (a fixed seeded subsample); "
        "null = the CI default (tasks.evaluate.harness.DEFAULT_LIMIT)",
    )
    full: bool = Field(False, description="every item of every task (overrides limit)")
    batch_size: int = Field(16, gt=0, description="lm-eval batch size")
    options: dict[str, Any] = Field(default_factory=dict, description="reserved; use the typed fields")

    @field_validator("options")
    @classmethod
    def _no_loose_options(cls, v):
        # `options: {full: true}` was once read by the ablation flow; now it would be ignored
        return refuse_options(v, "eval", "use eval.full / eval.limit / eval.batch_size")


class Recipe(Strict):
    # `+` for generated add-one arms (`hdf.base+fineweb`, tasks/attribution/design.py)
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    description: str = ""
    sources: list[str] = Field(..., min_length=1, description="ingested source names")
    language: LanguageSpec = Field(default_factory=LanguageSpec)
    filters: list[FilterSpec] = Field(default_factory=list)
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    mixture: MixtureSpec = Field(default_factory=MixtureSpec)
    token_budget: int | None = Field(None, gt=0, description="tokens the dataset is cut to")
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    validation: dict[str, Literal["warn", "fail"]] = Field(
        default_factory=dict, description="expectation name -> severity override"
    )
    decontamination: DecontaminationSpec = Field(default_factory=DecontaminationSpec)

    @field_validator("filters", mode="before")
    @classmethod
    def _names_as_specs(cls, v: Any) -> Any:
        # `- gopher_quality` is shorthand for `- {name: gopher_quality}`.
        return [{"name": f} if isinstance(f, str) else f for f in (v or [])]

    @field_validator("filters")
    @classmethod
    def _filters_resolve(cls, v: list[FilterSpec]) -> list[FilterSpec]:
        # Every filter checked when the recipe is: named filters and their params against
        # sql/filters/, raw SQL (untrusted: the UI form, deployment parameters) against
        # DuckDB's parse tree and the signals schema. So a bad predicate in any arm fails
        # the suite before any ingest or signal work. Imported here: the stage imports this module.
        from tasks.signals.filters import resolve_rules

        resolve_rules(v)
        return v

    def counts_tokens(self) -> bool:
        """Does curation cut to a number of tokens (so it needs the suite tokenizer)?"""
        m = self.mixture
        mixture = bool(m.weights or m.temperature or m.upsample or m.final_phase)
        return bool(self.token_budget or self.selection.tokens or mixture)

    def tokenizer_vocab(self) -> int:
        """Vocabulary of the suite tokenizer: the train section's, else its preset's."""
        from tasks.train.model import get_preset

        return self.train.vocab_size or get_preset(self.train.preset).vocab_size

    def data_hash(self) -> str:
        """Hash of everything that decides the dataset (not the name, training or eval).
        Token budgets are counted with the suite tokenizer, so its vocabulary is part of it."""
        fields = self.model_dump(
            include={
                "sources",
                "language",
                "filters",
                "dedup",
                "selection",
                "mixture",
                "token_budget",
                "decontamination",
            }
        )
        _keep_old_hash(fields)
        if self.counts_tokens():
            from tasks.train.tokenizer import TOKENIZER_VERSION

            fields["budget_tokenizer"] = {"vocab_size": self.tokenizer_vocab(), "version": TOKENIZER_VERSION}
        return hash_json(fields)

    def content_hash(self) -> str:
        fields = self.model_dump(exclude={"name", "description"})
        _keep_old_hash(fields)
        return hash_json(fields)


def _keep_old_hash(fields: dict[str, Any]) -> None:
    """Drop fields added later while they hold their defaults, so that recipes without them
    keep the hashes (dataset keys, cached stages) they had."""
    if fields["mixture"].get("topics") is None:
        fields["mixture"].pop("topics", None)
    for f in fields["filters"]:
        if not f.get("skip"):
            f.pop("skip", None)


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file and the field."""


def load_yaml_model(path: str | Path, model: type[BaseModel], kind: str) -> Any:
    """Read a YAML mapping into `model` (name defaults to the file stem); any problem is a
    RecipeError naming the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a {kind} is a YAML mapping, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RecipeError(f"{path}: invalid {kind}: {errors}") from exc


def load_recipe(path: str | Path) -> Recipe:
    return load_yaml_model(path, Recipe, "recipe")
