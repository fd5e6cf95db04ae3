"""What each component of an ablated recipe removes, and from which slices of the pool.

**Removals.** The pool is the documents of the recipe's sources that pass its language
step (what its filters see). Each component is applied *alone* to the pool by the curate
step it belongs to (tasks/curate/steps.py): a filter family or one rule as the filters
step with only its rules, a dedup mode as the dedup step with only that mode, the
selection step as the recipe has it (to the suite's token budget). Its removal set
R(c) is the pool minus what survives. Reported per component: |R(c)| and its tokens,
and what *only* it removes: R(c) minus the removal sets of the other components. Left out
of that union: the selection step (it cuts to the token budget, so it overlaps nearly
everything) and a component's own family or rules.

**Slices.** For every rule of the recipe, over every document of its sources (before the
language step, so languages show; the k-means topics are fitted on that pool too): the
groups (URL domain, language, source, topic) where the rule removes a larger share than
its average share, with counts, largest excess first. A rule that removes one domain, one
language or one topic far above its average acts as a domain, language or topic filter.

No Prefect here: flows/ablation.py calls `data_side` once per suite and stores the result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.attribution.design import Component, components_of
from tasks.core.sandbox import query_timeout
from tasks.core.sqlfiles import ident, join_sql, render_sql, sql_fragment
from tasks.core.workspace import Workspace
from tasks.curate import pipeline as P
from tasks.curate import steps as S
from tasks.curate.context import CurateContext
from tasks.recipe import Recipe
from tasks.selection.spec import TopicsSpec
from tasks.signals.filters import Rule, keep_predicate, named_filter_rules, resolve_rules

TOP_SLICES = 3  # groups shown per rule and dimension
MIN_REMOVED = 2  # a group needs at least this many removals to be named
DIMENSIONS = ("domain", "language", "source", "topic")
NO_VALUE = "(none)"  # a document without a URL domain (Wikipedia leads, JSONL without URLs)


@dataclass
class Removal:
    component: str
    kind: str
    documents: int
    tokens: int
    only_documents: int
    only_tokens: int


@dataclass
class Slice:
    dimension: str  # domain | language | source | topic
    group: str
    removed: int  # documents of the group the rule removes
    documents: int  # documents of the group in the pool
    share: float  # removed / documents
    lift: float  # share / the rule's average share
    label: str = ""  # a topic's words


@dataclass
class RuleSlices:
    rule: str
    removed: int
    documents: int
    share: float
    slices: list[Slice] = field(default_factory=list)


@dataclass
class DataSide:
    pool_documents: int  # after the language step: what the components are applied to
    pool_tokens: int
    token_unit: str  # "tokens" (the suite tokenizer) or "est. tokens" (characters / 4)
    candidates: int  # every document of the sources: the slices' pool
    removals: list[Removal]
    slices: list[RuleSlices]
    topics: dict[str, list[str]] | None = None  # topic id -> its words
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataSide:
        return cls(
            pool_documents=d["pool_documents"],
            pool_tokens=d["pool_tokens"],
            token_unit=d["token_unit"],
            candidates=d["candidates"],
            removals=[Removal(**r) for r in d["removals"]],
            slices=[RuleSlices(**{**s, "slices": [Slice(**x) for x in s["slices"]]}) for s in d["slices"]],
            topics=d.get("topics"),
            seconds=float(d.get("seconds") or 0.0),
        )

    def removal(self, component: str) -> Removal | None:
        return next((r for r in self.removals if r.component == component), None)


# ---------------------------------------------------------------- pure parts


def overlap(
    removed: Mapping[str, np.ndarray],
    tokens: np.ndarray,
    kinds: Mapping[str, str],
    related: Mapping[str, set[str]] | None = None,
) -> list[Removal]:
    """Per component: its removals (boolean masks over the pool) and what only it removes
    (see the module docstring: selection and the component's own family/rules do not count
    against it)."""
    related = related or {}
    out = []
    for c, mask in removed.items():
        others = [
            m for o, m in removed.items() if o != c and kinds.get(o) != "selection" and o not in related.get(c, ())
        ]
        union = np.logical_or.reduce(others) if others else np.zeros_like(mask)
        only = mask & ~union
        out.append(
            Removal(
                c, kinds.get(c, ""), int(mask.sum()), int(tokens[mask].sum()), int(only.sum()), int(tokens[only].sum())
            )
        )
    return out


def rule_slices(
    fails: Mapping[str, np.ndarray],
    groups: Mapping[str, np.ndarray],
    labels: Mapping[str, Mapping[str, str]] | None = None,
    top: int = TOP_SLICES,
    min_removed: int = MIN_REMOVED,
) -> list[RuleSlices]:
    """Per rule (a boolean mask of the documents it removes), the groups of each dimension
    (an array of group names per document) where it removes more than its average share,
    largest excess (removed - average share x documents) first."""
    labels = labels or {}
    out = []
    for rule, mask in fails.items():
        n, k = len(mask), int(mask.sum())
        p = k / n if n else 0.0
        rows: list[Slice] = []
        for dim, g in groups.items():
            names, inverse = np.unique(g, return_inverse=True)
            size = np.bincount(inverse, minlength=len(names))
            hit = np.bincount(inverse, weights=mask.astype(float), minlength=len(names)).astype(int)
            excess = hit - p * size
            found = [
                i for i in np.argsort(-excess, kind="stable") if hit[i] >= min_removed and hit[i] > p * size[i] + 1e-12
            ]
            for i in found[:top]:
                share = hit[i] / size[i]
                name = str(names[i])
                lift = float(share / p) if p else 0.0
                label = labels.get(dim, {}).get(name, "")
                rows.append(Slice(dim, name, int(hit[i]), int(size[i]), float(share), lift, label))
        out.append(RuleSlices(rule, k, n, p, rows))
    return out


# ---------------------------------------------------------------- on a workspace


def _removed(ctx: CurateContext, before: str, after: str) -> set[str]:
    if after == before:
        return set()
    rows = ctx.con.sql(render_sql("attribution/removed_ids", before=before, after=after)).fetchall()
    return {r[0] for r in rows}


def _component_rules(recipe: Recipe, c: Component) -> list[Rule]:
    assert c.index is not None
    spec = recipe.filters[c.index]
    rules = resolve_rules([spec]) if spec.sql else named_filter_rules(spec)
    if spec.sql:  # resolve_rules numbers unlabelled SQL filters from 1; use the recipe's label
        rules = [Rule("sql", c.family or c.name, r.predicate) for r in rules]
    if c.kind == "rule" and c.rule is not None:
        rules = [r for r in rules if r.name == c.rule]
    return rules


def _apply_alone(ctx: CurateContext, full: Recipe, c: Component, pool: str) -> set[str]:
    """R(c): what the component's step removes from the pool on its own."""
    saved_recipe, saved_rules = ctx.recipe, ctx.rules
    try:
        if c.kind in ("filter", "rule"):
            ctx.rules = _component_rules(full, c)
            out = S.filters_step(ctx, pool)
        elif c.kind == "dedup":
            mode = c.name.split(".", 1)[1]
            only = {m: (getattr(full.dedup, m) if m == mode else None) for m in full.dedup.modes()}
            ctx.recipe = full.model_copy(update={"dedup": full.dedup.model_copy(update=only)})
            out = S.dedup_step(ctx, pool)
        else:
            out = S.selection_step(ctx, pool)
        return _removed(ctx, pool, out)
    finally:
        ctx.recipe, ctx.rules = saved_recipe, saved_rules


def _topic_groups(
    ws: Workspace, ctx: CurateContext, doc_ids: pa.Array, spec: TopicsSpec
) -> tuple[np.ndarray, dict[str, str]]:
    from tasks.selection.topics import source_topics

    topics = source_topics(ws, [i.docs for i in ctx.inputs], spec)
    at = pc.index_in(doc_ids, value_set=topics.table.column("doc_id"))
    names = topics.table.column("topic").take(at).fill_null(NO_VALUE).to_numpy(zero_copy_only=False)
    return np.asarray(names, dtype=object).astype(str), {t: ", ".join(w) for t, w in topics.words.items()}


def slices_of(
    ctx: CurateContext, full: Recipe, ids: str, topics: TopicsSpec | None, ws: Workspace
) -> tuple[list[RuleSlices], dict[str, list[str]] | None]:
    """Every rule of the recipe, with its over-represented groups among `ids`."""
    rules = resolve_rules(full.filters)
    if not rules:
        return [], None
    fails = join_sql(
        (
            sql_fragment("attribution/fragments/rule_fails", keep=keep_predicate(r.predicate), alias=ident(f"f{i}"))
            for i, r in enumerate(rules)
        ),
        ", ",
    )
    with query_timeout(ctx.con, f"recipe {full.name!r}, rule slices"):
        table = ctx.con.sql(render_sql("attribution/rule_fails", ids=ids, fails=fails)).to_arrow_table()
    groups: dict[str, np.ndarray] = {}
    for dim in ("domain", "language", "source"):
        col = table.column(dim).to_pylist()
        groups[dim] = np.asarray([v if v else NO_VALUE for v in col], dtype=object).astype(str)
    labels: dict[str, dict[str, str]] = {}
    words = None
    if topics:
        groups["topic"], topic_words = _topic_groups(ws, ctx, table.column("doc_id"), topics)
        labels["topic"] = topic_words
        words = {t: w.split(", ") for t, w in topic_words.items()}
    masks = {r.key: np.asarray(table.column(f"f{i}").to_numpy(zero_copy_only=False), bool) for i, r in enumerate(rules)}
    return rule_slices(masks, groups, labels), words


def data_side(
    ws: Workspace, full: Recipe, components: Sequence[str], topics: TopicsSpec | None = None, slices: bool = True
) -> DataSide:
    """Removals of the named components of `full` (an arm as the suite resolves it: its
    token budget is the one the selection cuts to) and the slices of every rule."""
    t0 = time.perf_counter()
    every = {c.name: c for cs in components_of(full).values() for c in cs}
    missing = [c for c in components if c not in every]
    if missing:
        raise KeyError(f"recipe {full.name!r} has no component(s) {missing}")
    comps = [every[c] for c in components]
    inputs = P.resolve_inputs(ws, full)
    ctx = P.open_context(full, ws, inputs)
    try:
        candidates = ctx.new_table("candidates")
        ctx.con.execute(render_sql("curate/all_candidates", out=candidates))
        pool = S.language_step(ctx, candidates)
        docs = ctx.con.sql(render_sql("attribution/pool_docs", ids=pool)).to_arrow_table()
        ids = docs.column("doc_id").to_pylist()
        if ctx.tokenizer is not None:
            counted = S.tokens_of(ctx, pool)
            n_tok = dict(zip(counted.column("doc_id").to_pylist(), counted.column("n_tokens").to_pylist()))
            tokens = np.asarray([int(n_tok.get(d) or 0) for d in ids], dtype=np.int64)
            unit = "tokens"
        else:
            chars = docs.column("n_chars").to_numpy(zero_copy_only=False)
            tokens = (chars / S.CHARS_PER_TOKEN).astype(np.int64)
            unit = "est. tokens"
        index = {d: i for i, d in enumerate(ids)}
        masks: dict[str, np.ndarray] = {}
        for c in comps:
            mask = np.zeros(len(ids), dtype=bool)
            for d in _apply_alone(ctx, full, c, pool):
                mask[index[d]] = True
            masks[c.name] = mask
        related = {c.name: {o.name for o in comps if c.related(o)} for c in comps}
        removals = overlap(masks, tokens, {c.name: c.kind for c in comps}, related)
        n_candidates = ctx.size(candidates)
        rule_rows, words = slices_of(ctx, full, candidates, topics, ws) if slices else ([], None)
    finally:
        ctx.con.close()
    return DataSide(
        pool_documents=len(ids),
        pool_tokens=int(tokens.sum()),
        token_unit=unit,
        candidates=n_candidates,
        removals=removals,
        slices=rule_rows,
        topics=words,
        seconds=time.perf_counter() - t0,
    )
