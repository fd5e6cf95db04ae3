"""Curate: a recipe -> a dataset, as a pipeline of steps over DuckDB tables of doc ids.

    candidates -> language -> filters -> dedup -> selection -> mixture/budget -> write

Each step (tasks/curate/steps.py) is a function `step(ctx, ids) -> ids` where `ids` is
the name of a DuckDB table with columns (doc_id, repeat) and the returned table holds the
step's survivors. Steps read the `signals` and `docs` views of `ctx.con`; they never read
text unless they must. `STEPS` below is the whole pipeline, in order.

Output: `datasets/<recipe data_hash16>/part-00000.parquet` (doc_id, source, url, text,
repeat) and `stats.json`, then `_SUCCESS` (which records the signals the dataset was
made from: a re-ingest makes the folder stale and it is rebuilt).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb

from tasks.core.docsref import resolve_docs
from tasks.core.hashing import hash_json, short
from tasks.core.sandbox import sandboxed_connection
from tasks.core.spec import RecipeError
from tasks.core.sqlfiles import render_sql, string_list, string_literal
from tasks.core.workspace import Workspace, write_json_atomic
from tasks.curate import steps as S
from tasks.curate.context import CurateContext, SourceInput, StepImpl
from tasks.curate.exclusions import ExclusionSampler, SampleConfig, rule_signal_columns
from tasks.curate.results import DatasetRef
from tasks.curate.steps import CHARS_PER_TOKEN
from tasks.membership.sketch import write_sketch
from tasks.recipe import Recipe
from tasks.signals.filters import FilterCounts, Rule, resolve_rules
from tasks.signals.schema import SIGNALS_SCHEMA
from tasks.signals.signals import signals_ref

TOP_DOMAINS = 100


# The pipeline: every step in the order it runs, with the test of whether a recipe wants it.
# Adding a step is one function in tasks/curate/steps.py and one line here.
STEPS: dict[str, StepImpl] = {
    "language": StepImpl(S.language_step, lambda r: True),
    "filters": StepImpl(S.filters_step, lambda r: True),
    "dedup": StepImpl(S.dedup_step, lambda r: bool(r.dedup.modes())),
    "decontaminate": StepImpl(S.decontaminate_step, lambda r: r.decontamination.enabled),
    "selection": StepImpl(S.selection_step, lambda r: r.selection.method != "none" or S.mixture_active(r)),
    "budget": StepImpl(S.budget_step, lambda r: r.token_budget is not None and not S.mixture_active(r)),
}


# ---------------------------------------------------------------- validation and inputs


def validate(recipe: Recipe) -> list[Rule]:
    """Everything about the recipe that can be checked before any work: rules, steps."""
    return resolve_rules(recipe.filters)


def validate_arms(arms: Iterable[Recipe]) -> None:
    """`validate` on every arm of a suite, before any ingest or signal work: one
    RecipeError naming each arm that fails and why. (Recipe validation runs the same
    checks; this also covers arms that reached a flow without it, e.g. built in code.)"""
    errors = []
    for arm in arms:
        try:
            validate(arm)
        except RecipeError as exc:
            errors.append(f"arm {arm.name!r}: {exc}")
    if errors:
        raise RecipeError("\n".join(errors))


def curate_connection(workspace: Workspace, inputs: list[SourceInput]) -> duckdb.DuckDBPyConnection:
    """The connection curation runs recipe SQL on: sandboxed (tasks/core/sandbox.py), so
    it can read and write only the workspace and the folders of the sources' documents
    and signals, within a memory limit, its configuration locked."""
    shards = [p for i in inputs for p in (*i.signals.shards, *i.docs.shards)]
    return sandboxed_connection([workspace.root, *{Path(p).parent for p in shards}])


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


# Bump when a change to curation changes what a recipe's dataset holds: a dataset cached by
# older code is then rebuilt. (Without it, the budget-fill fix of 2026-12-07 left workspaces
# serving the old, 1.5%-short random arm, which then failed its matched-token contract.)
CURATE_CODE_VERSION = "curate-2026-12-07"


def inputs_fingerprint(inputs: list[SourceInput]) -> str:
    """What a cached dataset was built from besides its recipe: the signals and the code."""
    return hash_json({"signals": sorted(i.signals.key for i in inputs), "code": CURATE_CODE_VERSION})


def cached_dataset(workspace: Workspace, recipe: Recipe, inputs: list[SourceInput]) -> dict | None:
    key = dataset_key(recipe)
    if not workspace.is_done("datasets", key):
        return None
    info = workspace.read_done("datasets", key)
    return info if info.get("inputs") == inputs_fingerprint(inputs) else None


# ---------------------------------------------------------------- the pipeline


def curate(
    recipe: Recipe,
    workspace: Workspace,
    inputs: list[SourceInput] | None = None,
    exclusions: SampleConfig | None = None,
) -> DatasetRef:
    """Run the pipeline and write the dataset; returns it, its stats (also in stats.json)
    under `.stats`.
    Beside it: `exclusions.parquet`, a seeded sample of what every step removed and why
    (tasks/curate/exclusions.py; `exclusions` sets its size and seed)."""
    started = time.perf_counter()
    rules = validate(recipe)
    inputs = inputs if inputs is not None else resolve_inputs(workspace, recipe)
    key = dataset_key(recipe)
    with workspace.claim("datasets", key) as claim:
        if not claim.todo and cached_dataset(workspace, recipe, inputs) is not None:
            # a concurrent run wrote it
            return read_dataset(workspace, recipe).with_cached(True)
        return DatasetRef.from_stats(
            workspace, _write_dataset(recipe, workspace, inputs, rules, key, started, exclusions)
        )


def _write_dataset(
    recipe: Recipe,
    workspace: Workspace,
    inputs: list[SourceInput],
    rules,
    key: str,
    started: float,
    exclusions: SampleConfig | None = None,
) -> dict[str, Any]:
    out_dir = workspace.stage_dir("datasets", key)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = open_context(recipe, workspace, inputs, rules)
    con = ctx.con
    try:
        ids = ctx.new_table("candidates")
        con.execute(render_sql("curate/all_candidates", out=ids))
        candidates = ids
        documents_in = ctx.size(ids)
        steps_run = []
        columns = SIGNALS_SCHEMA.names
        sampler = ExclusionSampler(con, exclusions, {r.key: rule_signal_columns(r.predicate, columns) for r in rules})
        pool_tokens = None
        for name, impl in STEPS.items():
            if impl.wanted(recipe):
                if name in TOKEN_STEPS and pool_tokens is None and ctx.tokenizer is not None:
                    # what the arm had to fill its budget from, after its filters
                    pool = S.tokens_of(ctx, ids)
                    pool_tokens = {"tokens": S.total_tokens(pool), "unique_tokens": _unique(pool)}
                before = ids
                ids = impl.fn(ctx, ids)
                steps_run.append(name)
                if ids != before:  # a step that changed nothing returns its input table
                    sampler.record(name, before, ids, ctx.explained.get(name))
                sampler.record_rewritten(name, ctx.explained.get(name))
        sampler.write(out_dir)
        part = out_dir / "part-00000.parquet"
        tmp = out_dir / ".part-00000.parquet.tmp"
        con.execute(render_sql("curate/write_dataset", ids=ids, path=string_literal(tmp)))
        tmp.replace(part)
        stats = _stats(ctx, ids, recipe, documents_in, steps_run)
        # Data Portraits' membership sketch beside the part files (flows.inspect --member)
        stats["sketch"] = asdict(write_sketch(out_dir))
        if ctx.tokenizer is not None:
            final = S.tokens_of(ctx, ids)
            stats["tokenizer"] = {"hash": ctx.tokenizer.digest, "vocab_size": ctx.tokenizer.vocab_size}
            stats["tokens"] = S.total_tokens(final)  # with repeats: what the dataset packs to
            stats["unique_tokens"] = _unique(final)  # each document once
            stats["pool_tokens"] = (pool_tokens or {}).get("unique_tokens", stats["unique_tokens"])
        stats.update(S.kl_reduction_of(ctx, candidates, ids))
        stats["exclusions"] = {
            "file": "exclusions.parquet",
            "per_reason": sampler.config.n,
            "seed": sampler.config.seed,
            "rows": len(sampler.rows),
            "removed_by_reason": sampler.removed,
        }
    finally:
        con.close()
    stats["seconds"] = time.perf_counter() - started
    write_json_atomic(out_dir / "stats.json", stats)
    workspace.mark_done(
        "datasets",
        key,
        {
            "recipe": recipe.name,
            "data_hash": recipe.data_hash(),
            "inputs": inputs_fingerprint(inputs),
            "signals": [i.signals.key for i in inputs],
            "documents": stats["documents"],
            "files": [part.name],
        },
    )
    return stats


def open_context(
    recipe: Recipe, workspace: Workspace, inputs: list[SourceInput], rules: list[Rule] | None = None
) -> CurateContext:
    """What the steps run on: a sandboxed connection with the `signals`, `docs` and
    `doc_tokens` views of the sources (the caller closes `ctx.con`)."""
    con = curate_connection(workspace, inputs)
    try:
        con.execute(render_sql("curate/signals_view", files=string_list([p for i in inputs for p in i.signals.shards])))
        con.execute(render_sql("curate/docs_view", files=string_list([p for i in inputs for p in i.docs.shards])))
        tokenizer = _count_tokens(con, recipe, workspace, inputs)
    except BaseException:
        con.close()
        raise
    return CurateContext(
        con, recipe, validate(recipe) if rules is None else rules, workspace, inputs, tokenizer=tokenizer
    )


# Steps that cut to a number of tokens; the pool is measured before the first of them.
TOKEN_STEPS = ("selection", "budget")


def _unique(table) -> int:
    import numpy as np

    return int(table.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.int64).sum())


def _count_tokens(con: duckdb.DuckDBPyConnection, recipe: Recipe, workspace: Workspace, inputs: list[SourceInput]):
    """The `doc_tokens` view: real token counts of every source's documents under the
    suite tokenizer, when the recipe cuts to tokens (else an empty view and None)."""
    if not recipe.counts_tokens() or workspace is None:
        con.execute(render_sql("curate/doc_tokens_empty"))
        return None
    from tasks.train.doc_tokens import doc_token_counts, suite_tokenizer

    tok = suite_tokenizer(workspace, recipe.tokenizer_vocab())
    files = [doc_token_counts(workspace, i.docs, tok) for i in inputs]
    con.execute(render_sql("curate/doc_tokens_view", files=string_list(files)))
    return tok


def _groups(ctx: CurateContext, ids: str, column: str) -> list[tuple[str, int, int]]:
    return ctx.con.execute(render_sql("curate/dataset_groups", ids=ids, column=column)).fetchall()


def _stats(ctx: CurateContext, ids: str, recipe: Recipe, documents_in: int, steps_run: list[str]) -> dict:
    docs, docs_rep, chars = ctx.con.execute(render_sql("curate/dataset_totals", ids=ids)).fetchall()[0]
    domains = _groups(ctx, ids, "domain")
    removals = {}
    for step, c in ctx.counts.items():
        removals[step] = (
            {"documents_in": c.total, "kept": c.kept, "rules": c.rules} if isinstance(c, FilterCounts) else c
        )
    return {
        "recipe": recipe.name,
        "data_hash": recipe.data_hash(),
        "sources": recipe.sources,
        "documents_in": int(documents_in),
        "documents": int(docs),
        "documents_with_repeats": int(docs_rep),
        "characters": int(chars),
        "chars_per_token": CHARS_PER_TOKEN,
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
            rows.append(
                {
                    "data_hash": stats["data_hash"],
                    "recipe": stats["recipe"],
                    "step": step,
                    "rule_order": r["order"],
                    "filter": r["filter"],
                    "rule": r["rule"],
                    "predicate": r["predicate"],
                    "documents_in": part["documents_in"],
                    "removed_alone": r["removed_alone"],
                    "removed_marginal": r["removed_marginal"],
                }
            )
    return rows


def stats_markdown(stats: dict, cached: bool = False) -> str:
    lines = [
        f"# Dataset {stats['recipe']} (`{stats['data_hash'][:16]}`)",
        "",
        f"{stats['documents']:,} of {stats['documents_in']:,} documents kept, "
        f"{stats['characters']:,} characters, "
        + (
            f"{stats['tokens']:,} tokens of the suite tokenizer ({stats['unique_tokens']:,} unique; "
            f"pool {stats['pool_tokens']:,})"
            if "tokens" in stats
            else f"~{stats['est_tokens']:,} tokens (chars/{stats['chars_per_token']:g})"
        )
        + f"{' — cached' if cached else ''}.",
        "",
        "Steps: " + " -> ".join(stats["steps"]),
        "",
    ]
    for step in ("language", "filters"):
        part = stats["removals"].get(step)
        if part:
            lines += [
                f"## {step}",
                "",
                FilterCounts(part["documents_in"], part["kept"], part["rules"]).as_markdown(),
                "",
            ]
    lines += ["## language mix", "", "| language | documents |", "|---|---:|"]
    lines += [f"| {k} | {v['documents']:,} |" for k, v in stats["language_mix"].items()]
    lines += ["", f"## top domains ({stats['domains']:,} in all)", "", "| domain | documents |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in list(stats["top_domains"].items())[:20]]
    return "\n".join(lines) + "\n"


def read_stats(workspace: Workspace, recipe: Recipe) -> dict:
    return json.loads((workspace.stage_dir("datasets", dataset_key(recipe)) / "stats.json").read_text())


def read_dataset(workspace: Workspace, recipe: Recipe) -> DatasetRef:
    """The recipe's dataset as an earlier run curated it (its stats.json)."""
    return DatasetRef.from_stats(workspace, read_stats(workspace, recipe))
