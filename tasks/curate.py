"""Curate: a recipe -> a dataset, as a pipeline of steps over DuckDB tables of doc ids.

    candidates -> language -> filters -> dedup -> selection -> mixture/budget -> write

Each step is a function `step(ctx, ids) -> ids` where `ids` is the name of a DuckDB
table with columns (doc_id, repeat) and the returned table holds the step's
survivors. Steps read the `signals` and `docs` views of `ctx.con`; they never read
text unless they must. Dedup, selection and mixing are plugged in by their stages with
`register_step(name, fn, wanted)`; until then a recipe that asks for one fails at
validation, before any work runs.

Output: `datasets/<recipe data_hash16>/part-00000.parquet` (doc_id, source, url, text,
repeat) and `stats.json`, then `_SUCCESS` (which records the signals the dataset was
made from: a re-ingest makes the folder stale and it is rebuilt).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa

from tasks.docsref import DocsRef, resolve_docs
from tasks.filters import FilterCounts, Rule, combined_predicate, filter_counts, resolve_rules
from tasks.hashing import hash_json, short
from tasks.recipe import Recipe, RecipeError
from tasks.signals import SignalsRef, signals_ref
from tasks.sqlfiles import load_sql
from tasks.workspace import Workspace, write_json_atomic

CHARS_PER_TOKEN = 4.0  # the estimate used for token counts and budgets (documented in docs/signals.md)
TOP_DOMAINS = 100


@dataclass
class CurateContext:
    con: duckdb.DuckDBPyConnection
    recipe: Recipe
    rules: list[Rule]
    workspace: Workspace | None = None
    inputs: list["SourceInput"] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)   # step name -> its accounting
    _n: int = 0

    def new_table(self, step: str) -> str:
        self._n += 1
        return f"ids_{self._n:02d}_{step}"

    def size(self, ids: str) -> int:
        return self.con.execute(f"SELECT count(*) FROM {ids}").fetchall()[0][0]


Step = Callable[[CurateContext, str], str]


@dataclass(frozen=True)
class StepImpl:
    fn: Step
    wanted: Callable[[Recipe], bool]   # does this recipe ask for the step?


# ---------------------------------------------------------------- steps

def language_step(ctx: CurateContext, ids: str) -> str:
    spec = ctx.recipe.language
    if spec.allowed is None and spec.min_score <= 0:
        return ids
    allowed = "TRUE" if spec.allowed is None else \
        "language IN (" + ", ".join(f"'{code}'" for code in spec.allowed) + ")"  # codes validated by LanguageSpec
    min_score = f"{float(spec.min_score)!r}::DOUBLE"
    row = ctx.con.execute(load_sql("curate/language_counts").format(
        ids=ids, allowed=allowed, min_score=min_score)).fetchall()[0]
    rules = []
    if spec.allowed is not None:
        rules.append({"order": 1, "filter": "language", "rule": "allowed", "predicate": allowed,
                      "removed_alone": row[1], "removed_marginal": row[1]})
    if spec.min_score > 0:
        rules.append({"order": len(rules) + 1, "filter": "language", "rule": "min_score",
                      "predicate": f"language_score >= {min_score}", "removed_alone": row[2],
                      "removed_marginal": row[3] if spec.allowed is not None else row[2]})
    out = ctx.new_table("language")
    pred = f"coalesce({allowed}, FALSE) AND coalesce(language_score >= {min_score}, FALSE)"
    ctx.con.execute(load_sql("curate/keep_step").format(out=out, ids=ids, predicate=pred))
    kept = ctx.size(out)
    ctx.counts["language"] = FilterCounts(row[0], kept, rules)
    return out


def filters_step(ctx: CurateContext, ids: str) -> str:
    if not ctx.rules:
        return ids
    source = f"(SELECT s.* FROM signals s SEMI JOIN {ids} USING (doc_id))"
    counts = filter_counts(source, ctx.rules, con=ctx.con)
    out = ctx.new_table("filters")
    ctx.con.execute(load_sql("curate/keep_step").format(out=out, ids=ids, predicate=combined_predicate(ctx.rules)))
    if ctx.size(out) != counts.kept:
        raise RuntimeError(f"filter step kept {ctx.size(out)} documents but its counts say {counts.kept}")
    ctx.counts["filters"] = counts
    return out


def budget_step(ctx: CurateContext, ids: str) -> str:
    """Cut to `token_budget` (estimated tokens) in a fixed pseudo-random order."""
    budget = ctx.recipe.token_budget
    if not budget:
        return ids
    before = ctx.size(ids)
    out = ctx.new_table("budget")
    order = ctx.con.sql(load_sql("curate/budget_order").format(
        ids=ids, chars_per_token=CHARS_PER_TOKEN)).to_arrow_table()
    # Greedy fill in a fixed pseudo-random order: a document that would overflow the budget
    # is skipped and smaller ones after it still fit, so the dataset lands just under it.
    tokens, total, keep = order.column("doc_tokens").to_pylist(), 0.0, []
    for t in tokens:
        fits = total + t <= budget
        keep.append(fits)
        total += t if fits else 0.0
    ctx.con.register("_budget_kept", order.select(["doc_id"]).filter(pa.array(keep, pa.bool_())))
    ctx.con.execute(load_sql("curate/budget_cut").format(out=out, ids=ids))
    ctx.con.unregister("_budget_kept")
    ctx.counts["budget"] = {"documents_in": before, "documents_out": ctx.size(out), "token_budget": budget}
    return out


# Pluggable steps, in pipeline order. Dedup, selection and mixture register themselves.
STEPS: dict[str, StepImpl | None] = {
    "language": StepImpl(language_step, lambda r: True),
    "filters": StepImpl(filters_step, lambda r: True),
    "dedup": None,
    "decontaminate": None,  # no 13-gram shared with an eval item (tasks/decontaminate.py)
    "selection": None,   # selection, then the mixture resolved to the token budget
    "budget": StepImpl(budget_step, lambda r: r.token_budget is not None and not mixture_active(r)),
}

_WANTED: dict[str, Callable[[Recipe], bool]] = {
    "dedup": lambda r: any([r.dedup.exact, r.dedup.url, r.dedup.minhash, r.dedup.lines]),
    "decontaminate": lambda r: r.decontamination.enabled,
    "selection": lambda r: r.selection.method != "none" or mixture_active(r),
}


def mixture_active(recipe: Recipe) -> bool:
    m = recipe.mixture
    return bool(m.weights or m.temperature or m.upsample or m.final_phase)


def register_step(name: str, fn: Step, wanted: Callable[[Recipe], bool] | None = None) -> None:
    """Plug a stage into the pipeline (dedup, selection, mixture)."""
    if name not in STEPS:
        raise ValueError(f"unknown curate step {name!r}; steps: {', '.join(STEPS)}")
    STEPS[name] = StepImpl(fn, wanted or _WANTED.get(name, lambda r: True))


# ---------------------------------------------------------------- validation and inputs

def validate(recipe: Recipe) -> list[Rule]:
    """Everything about the recipe that can be checked before any work: rules, steps."""
    rules = resolve_rules(recipe.filters)
    for name, wanted in _WANTED.items():
        if wanted(recipe) and STEPS[name] is None:
            raise RecipeError(f"recipe {recipe.name!r} asks for {name}, but no {name} step is installed "
                              "in this build of winnow")
    return rules


@dataclass(frozen=True)
class SourceInput:
    docs: DocsRef
    signals: SignalsRef


def resolve_inputs(workspace: Workspace, recipe: Recipe) -> list[SourceInput]:
    """Each source's documents and signals (LookupError naming what to run first)."""
    out = []
    for name in recipe.sources:
        docs = resolve_docs(workspace, name)
        sig = signals_ref(workspace, docs)
        if sig is None:
            raise LookupError(f"no signals for source {name!r}; run `python -m flows.signals {name}` first")
        out.append(SourceInput(docs, sig))
    return out


def dataset_key(recipe: Recipe) -> str:
    return short(recipe.data_hash())


def inputs_fingerprint(inputs: list[SourceInput]) -> str:
    return hash_json(sorted(i.signals.key for i in inputs))


def cached_dataset(workspace: Workspace, recipe: Recipe, inputs: list[SourceInput]) -> dict | None:
    key = dataset_key(recipe)
    if not workspace.is_done("datasets", key):
        return None
    info = workspace.read_done("datasets", key)
    return info if info.get("inputs") == inputs_fingerprint(inputs) else None


# ---------------------------------------------------------------- the pipeline

def _list_literal(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def curate(recipe: Recipe, workspace: Workspace, inputs: list[SourceInput] | None = None) -> dict[str, Any]:
    """Run the pipeline and write the dataset; returns its stats (also in stats.json)."""
    started = time.perf_counter()
    rules = validate(recipe)
    inputs = inputs if inputs is not None else resolve_inputs(workspace, recipe)
    key = dataset_key(recipe)
    out_dir = workspace.stage_dir("datasets", key)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(load_sql("curate/signals_view").format(
            files=_list_literal([p for i in inputs for p in i.signals.shards])))
        con.execute(load_sql("curate/docs_view").format(
            files=_list_literal([p for i in inputs for p in i.docs.shards])))
        ctx = CurateContext(con, recipe, rules, workspace, inputs)
        ids = ctx.new_table("candidates")
        con.execute(load_sql("curate/all_candidates").format(out=ids))
        candidates = ids
        documents_in = ctx.size(ids)
        steps_run = []
        for name, impl in STEPS.items():
            if impl is not None and impl.wanted(recipe):
                ids = impl.fn(ctx, ids)
                steps_run.append(name)
        part = out_dir / "part-00000.parquet"
        tmp = out_dir / ".part-00000.parquet.tmp"
        con.execute(load_sql("curate/write_dataset").format(ids=ids, path="'" + str(tmp).replace("'", "''") + "'"))
        tmp.replace(part)
        stats = _stats(ctx, ids, recipe, documents_in, steps_run)
        stats.update(curate_steps.kl_reduction_of(ctx, candidates, ids))
    finally:
        con.close()
    stats["seconds"] = time.perf_counter() - started
    write_json_atomic(out_dir / "stats.json", stats)
    workspace.mark_done("datasets", key, {"recipe": recipe.name, "data_hash": recipe.data_hash(),
                                          "inputs": inputs_fingerprint(inputs),
                                          "signals": [i.signals.key for i in inputs],
                                          "documents": stats["documents"], "files": [part.name]})
    return stats


def _groups(ctx: CurateContext, ids: str, column: str) -> list[tuple[str, int, int]]:
    return ctx.con.execute(load_sql("curate/dataset_groups").format(ids=ids, column=column)).fetchall()


def _stats(ctx: CurateContext, ids: str, recipe: Recipe, documents_in: int, steps_run: list[str]) -> dict:
    docs, docs_rep, chars = ctx.con.execute(load_sql("curate/dataset_totals").format(ids=ids)).fetchall()[0]
    domains = _groups(ctx, ids, "domain")
    removals = {}
    for step, c in ctx.counts.items():
        removals[step] = ({"documents_in": c.total, "kept": c.kept, "rules": c.rules}
                          if isinstance(c, FilterCounts) else c)
    return {
        "recipe": recipe.name, "data_hash": recipe.data_hash(), "sources": recipe.sources,
        "documents_in": int(documents_in), "documents": int(docs), "documents_with_repeats": int(docs_rep),
        "characters": int(chars), "chars_per_token": CHARS_PER_TOKEN,
        "est_tokens": int(chars / CHARS_PER_TOKEN),
        "language_mix": {v: {"documents": int(d), "characters": int(c)} for v, d, c in _groups(ctx, ids, "language")},
        "sources_mix": {v: {"documents": int(d), "characters": int(c)} for v, d, c in _groups(ctx, ids, "source")},
        "domains": len(domains),
        "top_domains": {v: int(d) for v, d, _ in domains[:TOP_DOMAINS]},
        "steps": steps_run,
        "removals": removals,
    }


def removal_rows(stats: dict) -> list[dict[str, Any]]:
    """Catalog rows (filter_counts) for a dataset's per-rule removals."""
    rows = []
    for step in ("language", "filters"):
        part = stats["removals"].get(step)
        if not part:
            continue
        for r in part["rules"]:
            rows.append({"data_hash": stats["data_hash"], "recipe": stats["recipe"], "step": step,
                         "rule_order": r["order"], "filter": r["filter"], "rule": r["rule"],
                         "predicate": r["predicate"], "documents_in": part["documents_in"],
                         "removed_alone": r["removed_alone"], "removed_marginal": r["removed_marginal"]})
    return rows


def stats_markdown(stats: dict, cached: bool = False) -> str:
    lines = [f"# Dataset {stats['recipe']} (`{stats['data_hash'][:16]}`)", "",
             f"{stats['documents']:,} of {stats['documents_in']:,} documents kept, "
             f"{stats['characters']:,} characters, ~{stats['est_tokens']:,} tokens "
             f"(chars/{stats['chars_per_token']:g}){' — cached' if cached else ''}.", "",
             "Steps: " + " -> ".join(stats["steps"]), ""]
    for step in ("language", "filters"):
        part = stats["removals"].get(step)
        if part:
            lines += [f"## {step}", "", FilterCounts(part["documents_in"], part["kept"], part["rules"]).as_markdown(), ""]
    lines += ["## language mix", "", "| language | documents |", "|---|---:|"]
    lines += [f"| {k} | {v['documents']:,} |" for k, v in stats["language_mix"].items()]
    lines += ["", f"## top domains ({stats['domains']:,} in all)", "", "| domain | documents |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in list(stats["top_domains"].items())[:20]]
    return "\n".join(lines) + "\n"


def read_stats(workspace: Workspace, recipe: Recipe) -> dict:
    return json.loads((workspace.stage_dir("datasets", dataset_key(recipe)) / "stats.json").read_text())


# The steps other stages provide (imported last: they use this module's names).
from tasks import curate_steps  # noqa: E402,F401
