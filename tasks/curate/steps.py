"""The curate steps, each `step(ctx, ids) -> ids` over a DuckDB table of doc ids.

- language and filters: SQL predicates over the signals (tasks/signals/filters.py);
- dedup: tasks/dedup/apply.py (exact, URL, MinHash, line-level) over the surviving ids;
- decontaminate: no 13-gram shared with an eval item (tasks/decontam/decontaminate.py);
- selection: tasks/selection/selection.py (scores stored once per source) then
  tasks/selection/mixing.py (the token plan: weights, temperature, upsampling, phases) in one step;
- budget: the token budget, when the recipe asks for no mixture (a selection over the
  budget reaches it whole: the mixer only cuts a mixture that was asked for).

Budgets are counted in real tokens of the suite tokenizer (the `doc_tokens` view, one
count per document computed once per source and tokenizer: tasks/train/doc_tokens.py),
so every arm of a suite is cut to the same number of tokens the model will see.

The order they run in, and when each is wanted, is the list in tasks/curate/pipeline.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.core.sandbox import query_timeout
from tasks.core.spec import RecipeError
from tasks.core.sqlfiles import Sql, ident, join_sql, number_literal, render_sql, sql_fragment, string_list
from tasks.core.workspace import Workspace
from tasks.curate.context import CurateContext
from tasks.curate.exclusions import Explained, first_fail_whens
from tasks.recipe import Recipe
from tasks.selection import selection as sel
from tasks.selection.registry import get_method
from tasks.selection.spec import TopicsSpec
from tasks.selection.topics import Topics, attach_topics, source_topics
from tasks.signals.filters import FilterCounts, combined_predicate, filter_counts, keep_predicate

CHARS_PER_TOKEN = 4.0  # the estimate reported beside real tokens (documented in docs/signals.md)


def mixture_active(recipe: Recipe) -> bool:
    return recipe.mixture.asked


def language_step(ctx: CurateContext, ids: str) -> str:
    spec = ctx.recipe.language
    if spec.allowed is None and spec.min_score <= 0:
        return ids
    allowed = (
        sql_fragment("curate/fragments/language_allowed", codes=string_list(spec.allowed))
        if spec.allowed is not None
        else sql_fragment("curate/fragments/true")
    )  # codes validated by LanguageSpec
    min_score = number_literal(spec.min_score)
    score_ok = sql_fragment("curate/fragments/language_min_score", min_score=min_score)
    row = ctx.con.execute(
        render_sql("curate/language_counts", ids=ids, allowed=allowed, min_score=min_score)
    ).fetchall()[0]
    rules = []
    if spec.allowed is not None:
        rules.append(
            {
                "order": 1,
                "filter": "language",
                "rule": "allowed",
                "predicate": str(allowed),
                "removed_alone": row[1],
                "removed_marginal": row[1],
            }
        )
    if spec.min_score > 0:
        rules.append(
            {
                "order": len(rules) + 1,
                "filter": "language",
                "rule": "min_score",
                "predicate": str(score_ok),
                "removed_alone": row[2],
                "removed_marginal": row[3] if spec.allowed is not None else row[2],
            }
        )
    out = ctx.new_table("language")
    pred = join_sql([keep_predicate(allowed), keep_predicate(score_ok)], " AND ")
    ctx.con.execute(render_sql("curate/keep_step", out=out, ids=ids, predicate=pred))
    why = ctx.con.sql(render_sql("inspect/language_reasons", ids=ids, allowed=allowed, keep=pred))
    ctx.explained["language"] = Explained(why.to_arrow_table())
    kept = ctx.size(out)
    ctx.counts["language"] = FilterCounts(row[0], kept, rules)
    return out


def filters_step(ctx: CurateContext, ids: str) -> str:
    if not ctx.rules:
        return ids
    # The recipe's predicates run here: each query under the recipe SQL time limit.
    label = f"recipe {ctx.recipe.name!r}, filters"
    source = sql_fragment("curate/signals_of_ids", ids=ids)
    counts = filter_counts(source, ctx.rules, con=ctx.con, label=label)
    out = ctx.new_table("filters")
    with query_timeout(ctx.con, label):
        ctx.con.execute(render_sql("curate/keep_step", out=out, ids=ids, predicate=combined_predicate(ctx.rules)))
    if ctx.size(out) != counts.kept:
        raise RuntimeError(f"filter step kept {ctx.size(out)} documents but its counts say {counts.kept}")
    ctx.counts["filters"] = counts
    why = ctx.con.sql(
        render_sql(
            "inspect/filter_reasons",
            ids=ids,
            first_fail_whens=first_fail_whens(ctx.rules),
            keep=combined_predicate(ctx.rules),
        )
    )
    with query_timeout(ctx.con, label):
        ctx.explained["filters"] = Explained(why.to_arrow_table())
    return out


def fill_tokens(ctx: CurateContext, table: pa.Table) -> pa.Table:
    """`table`'s n_tokens with the rows a step rewrote (null n_tokens) recounted from their
    current text; the column is dropped when the recipe counts no tokens (no tokenizer)."""
    if "n_tokens" not in table.column_names:
        return table
    if ctx.tokenizer is None:
        return table.drop_columns(["n_tokens"])
    from tasks.train.doc_tokens import count_texts

    n = table.column("n_tokens").to_numpy(zero_copy_only=False)
    missing = np.flatnonzero(np.isnan(n.astype(np.float64)))
    if len(missing):
        current = table.column("text_rewritten").to_pylist()
        original = table.column("text").to_pylist() if "text" in table.column_names else [None] * len(current)
        texts = [current[i] if current[i] is not None else original[i] for i in missing]
        n = np.nan_to_num(n.astype(np.float64)).astype(np.int64)
        n[missing] = count_texts(ctx.encoder(), texts)
    idx = table.column_names.index("n_tokens")
    return table.set_column(idx, "n_tokens", pa.array(np.asarray(n, dtype=np.int64), pa.int64()))


def tokens_of(ctx: CurateContext, ids: str) -> pa.Table:
    """doc_id, repeat, n_tokens (real, per copy) of the ids, in the budget's fixed
    pseudo-random order; needs the suite tokenizer."""
    table = ctx.con.sql(render_sql("curate/ids_tokens", ids=ids)).to_arrow_table()
    if ctx.tokenizer is None:
        raise RuntimeError("counting tokens needs the suite tokenizer; the recipe asks for no token budget")
    return fill_tokens(ctx, table).select(["doc_id", "repeat", "n_tokens"])


def total_tokens(table: pa.Table) -> int:
    """Tokens with repeats: what the dataset packs to."""
    n = table.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.int64)
    r = table.column("repeat").to_numpy(zero_copy_only=False).astype(np.int64)
    return int((n * r).sum())


def fill_budget(tokens: np.ndarray, budget: int) -> np.ndarray:
    """Which documents (in the given fixed order) to keep so that their tokens come as close
    to `budget` as possible without going over it.

    Greedy fill: a document that would overflow is skipped and smaller ones after it
    still fit, so a large pool lands just under the budget. A set only slightly over
    the budget, such as a selection that stopped on the document crossing it, is handled
    differently. The greedy fill would skip the first document that overflows, however
    large it is. Instead, the smallest document that covers the overshoot is dropped.
    The better of the two results is kept (ties go to the greedy fill)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    total = int(tokens.sum())
    if total <= budget:
        return np.ones(len(tokens), dtype=bool)
    greedy, kept = np.zeros(len(tokens), dtype=bool), 0
    for i, t in enumerate(tokens.tolist()):
        if kept + t <= budget:
            greedy[i] = True
            kept += t
    over = total - budget
    covers = np.flatnonzero(tokens >= over)
    if len(covers):
        drop = covers[np.argmin(tokens[covers])]  # first of the smallest, in the fixed order
        if total - int(tokens[drop]) > kept:
            single = np.ones(len(tokens), dtype=bool)
            single[drop] = False
            return single
    return greedy


def budget_step(ctx: CurateContext, ids: str) -> str:
    """Cut to `token_budget` real tokens (suite tokenizer, EOS included) in a fixed
    pseudo-random order."""
    budget = ctx.recipe.token_budget
    if not budget:
        return ids
    before = ctx.size(ids)
    out = ctx.new_table("budget")
    order = tokens_of(ctx, ids)
    tokens = (
        order.column("n_tokens").to_numpy(zero_copy_only=False) * order.column("repeat").to_numpy(zero_copy_only=False)
    ).astype(np.int64)
    keep = fill_budget(tokens, budget)
    total = int(tokens[keep].sum())
    skipped_mask = ~np.asarray(keep, dtype=bool)
    skipped = order.filter(pa.array(skipped_mask, pa.bool_()))
    ctx.explained["budget"] = Explained(
        pa.table(
            {
                "doc_id": skipped.column("doc_id"),
                "reason": pa.array(["budget"] * skipped.num_rows, pa.string()),
                "doc_tokens": pa.array(tokens[skipped_mask], pa.int64()),
            }
        )
    )
    ctx.con.register("_budget_kept", order.select(["doc_id"]).filter(pa.array(keep, pa.bool_())))
    ctx.con.execute(render_sql("curate/budget_cut", out=out, ids=ids))
    ctx.con.unregister("_budget_kept")
    ctx.counts["budget"] = {
        "documents_in": before,
        "documents_out": ctx.size(out),
        "token_budget": budget,
        "tokens_in": int(tokens.sum()),
        "tokens_out": int(total),
    }
    return out


def _stored_scores(ctx: CurateContext) -> pa.Table | None:
    """Per-source scores computed once and kept in the workspace (None for methods
    that score nothing, or when there is no workspace)."""
    spec = ctx.recipe.selection
    if not get_method(spec.method).scored or ctx.workspace is None:
        return None
    tables = []
    for source in ctx.inputs:
        if not ctx.workspace.is_done("selection", sel.score_key(source.docs.docs_hash, spec)):
            sel.score_source(ctx.workspace, source.docs, spec)
        tables.append(sel.read_scores(ctx.workspace, source.docs, spec))
    return pa.concat_tables(tables, promote_options="default") if tables else None


def _topics(ctx: CurateContext) -> Topics | None:
    """The cached topic of every document of the recipe's sources, when it mixes by topic."""
    mix = ctx.recipe.mixture
    if mix.group_by != "topic":  # plan_mixture groups by topic even with natural shares
        return None
    if ctx.workspace is None:
        raise ValueError("mixture group_by topic needs a workspace (topics are cached per source)")
    return source_topics(ctx.workspace, [i.docs for i in ctx.inputs], mix.topics or TopicsSpec())


def attach_scores(candidates: pa.Table, scores: pa.Table) -> pa.Table:
    """Candidates with the score columns of their doc_id (null where unscored), in the
    candidates' order. A lookup, not `Table.join`: pyarrow's hash join cannot carry a
    fixed_size_list column such as semdedup's embeddings."""
    at = pc.index_in(candidates.column("doc_id"), value_set=scores.column("doc_id"))
    for name in scores.column_names:
        if name != "doc_id":
            candidates = candidates.append_column(name, scores.column(name).take(at))
    return candidates


def selection_step(ctx: CurateContext, ids: str) -> str:
    candidates = fill_tokens(ctx, ctx.con.sql(render_sql("curate/selection_candidates", ids=ids)).to_arrow_table())
    scores = _stored_scores(ctx)
    if scores is not None:
        candidates = attach_scores(candidates, scores)
    topics = _topics(ctx)
    if topics is not None:
        candidates = attach_topics(candidates, topics)
    chosen, stats = sel.select_and_mix(candidates, ctx.recipe, ctx.workspace)
    if topics is not None:
        stats["mixture"]["topics"] = topics.describe()  # the words behind t0, t1, ... for the plan and card
    out = ctx.new_table("selection")
    ctx.con.register("_chosen", chosen.select([c for c in chosen.column_names if c in ("doc_id", "repeat", "phase")]))
    ctx.con.execute(render_sql("curate/rejoin_selected", out=out, ids=ids))
    ctx.con.unregister("_chosen")
    ctx.explained["selection"] = _selection_explained(ctx.recipe, candidates)
    ctx.counts["selection"] = {
        "documents_in": candidates.num_rows,
        "documents_out": ctx.size(out),
        "kl_reduction": stats["selection"].get("kl_reduction"),
        "selection": stats["selection"],
        "mixture": stats["mixture"],
    }
    return out


def _selection_explained(recipe: Recipe, candidates: pa.Table) -> Explained:
    """Every candidate with its score (when the method has one); the sampler keeps the
    ones selection dropped. Reason: the method, or the mixture when only it cut."""
    method = recipe.selection.method
    reason = f"selection.{method}" if method != "none" else "mixture"
    cols = {"doc_id": candidates.column("doc_id"), "reason": pa.array([reason] * candidates.num_rows, pa.string())}
    if "score" in candidates.column_names:
        cols["score"] = candidates.column("score")
    return Explained(pa.table(cols))


def kl_reduction_of(ctx: CurateContext, candidates: str, ids: str) -> dict[str, float]:
    """DSIR's KL reduction of the final dataset against the recipe's whole candidate pool,
    so every arm (not only DSIR) reports how close to the target its data moved."""
    from tasks.selection.dsir import kl_reduction

    rows = ctx.con.sql(render_sql("curate/kl_texts", candidates=candidates, ids=ids)).to_arrow_table()
    kept = np.flatnonzero(rows.column("kept").to_numpy(zero_copy_only=False))
    return kl_reduction([t or "" for t in rows.column("text").to_pylist()], kept)


def dedup_step(ctx: CurateContext, ids: str) -> str:
    """Exact / URL / MinHash / line-level dedup over the surviving documents. Signatures
    and clusters are computed once per set of sources and cached in the workspace; the
    kept document of each cluster is re-chosen among the survivors of earlier steps."""
    from tasks.dedup.apply import apply_dedup
    from tasks.dedup.registry import get_mode

    spec = ctx.recipe.dedup
    if ctx.workspace is None:
        raise ValueError("the dedup step needs a workspace: signatures and clusters are cached there")
    before = ctx.size(ids)
    relation = ctx.con.sql(render_sql("curate/dedup_input", ids=ids))
    kept, stats = apply_dedup(ctx.con, relation, spec, ctx.workspace, [i.docs for i in ctx.inputs], explain=True)
    losers = stats.pop("losers")
    cut = stats.pop("rewritten", [])
    # the line mode drops documents it emptied; they are the only removals without a cluster
    ctx.explained["dedup"] = Explained(
        losers, default_reason="dedup.lines", rewritten=pa.concat_tables(cut) if cut else None
    )
    out = ctx.new_table("dedup")
    rewritten = any(get_mode(m).kind != "clusters" for m in spec.modes())
    cols = ", ".join(f'"{c}"' for c in kept.columns if c != "text")
    text = ", text AS text_rewritten" if rewritten else ", NULL::VARCHAR AS text_rewritten"
    kept.select(cols + text).create(out)
    ctx.counts["dedup"] = {"documents_in": before, "documents_out": ctx.size(out), "removed": stats["removed"]}
    if spec.rehydrates():
        out = _rehydrate(ctx, out)
    return out


def _rehydrate(ctx: CurateContext, ids: str) -> str:
    """FineWeb2 rehydration: each kept document's repeat times its copies
    (tasks/dedup/rehydrate.py); the budget step then cuts the copies to the token budget."""
    from tasks.dedup.rehydrate import copies_summary, rehydrate_copies
    from tasks.signals.schema import SIGNALS_SCHEMA

    minhash = ctx.recipe.dedup.minhash
    spec = minhash.rehydrate if minhash is not None else None
    if spec is None:
        raise ValueError("rehydration needs dedup.minhash.keep: rehydrate")
    col = spec.quality_column
    if col is not None and col not in SIGNALS_SCHEMA.names:
        raise RecipeError(f"dedup.minhash.rehydrate.quality_column {col!r} is not a signals column")
    quality = sql_fragment("curate/fragments/signal_double", column=ident(col)) if col else Sql("NULL::DOUBLE")
    rows = ctx.con.sql(render_sql("curate/rehydrate_input", ids=ids, quality=quality)).to_arrow_table()
    sizes = rows.column("cluster_size").to_numpy(zero_copy_only=False).astype(np.int64)
    q = rows.column("quality").to_numpy(zero_copy_only=False).astype(np.float64) if col else None
    copies = rehydrate_copies(rows.column("doc_id").to_pylist(), sizes, spec, q)
    out = ctx.new_table("rehydrate")
    ctx.con.register("_rehydrated", pa.table({"doc_id": rows.column("doc_id"), "copies": pa.array(copies)}))
    ctx.con.execute(render_sql("curate/rehydrate_repeat", out=out, ids=ids))
    ctx.con.unregister("_rehydrated")
    ctx.counts["dedup"]["rehydrate"] = copies_summary(sizes, copies)
    return out


def eval_index(workspace, spec):
    """The n-gram index of every eval item (built once per eval suite, cached)."""
    from tasks.decontam.index import cached_index, default_eval_items

    return cached_index(workspace, default_eval_items(), spec.n, spec.min_item_words)


def _cached_scan(ctx: CurateContext, ws: Workspace, ids: str, table: pa.Table, spec):
    """(index, per-row scan) of the surviving rows from the per-source scan cache
    (tasks/decontam/scan.py), when every input source has one: an arm with a Dask
    cluster computes it per shard first (flows/decontam.py), and every later arm or seed
    over the same sources reads it. Rows whose text an earlier step changed are rescanned
    here on their current text. Else (index, None): decontaminate() scans the surviving
    rows in process, as it always did without a cluster."""
    from tasks.decontam import scan as DS
    from tasks.decontam.decontaminate import scan_table
    from tasks.decontam.index import NgramIndex, default_eval_items

    cfg = DS.scan_config(ws, default_eval_items(), spec)  # builds the index if missing
    index = NgramIndex.load(Path(cfg.index_path))  # its item names label the report (~0.1 s)
    refs = [i.docs for i in ctx.inputs]
    if not refs or not DS.scan_done(ws, refs, cfg):
        return index, None
    scan = DS.align_scan(table.column("doc_id"), DS.read_scan(ws, refs, cfg))
    changed = ctx.con.sql(render_sql("curate/rewritten_ids", ids=ids)).to_arrow_table().column("doc_id")
    if len(changed):
        rows = np.flatnonzero(pc.is_in(table.column("doc_id"), value_set=changed).to_numpy(zero_copy_only=False))
        again = scan_table(table.take(pa.array(rows, pa.int64())), index)
        scan.n_matches[rows] = again.n_matches
        scan.first_item[rows] = again.first_item
    return index, scan


def decontaminate_step(ctx: CurateContext, ids: str) -> str:
    """Remove (or mask) documents sharing an n-gram with any eval item, counted per task."""
    from tasks.decontam.decontaminate import decontaminate

    spec = ctx.recipe.decontamination
    table = ctx.con.sql(render_sql("curate/dedup_input", ids=ids)).to_arrow_table()
    if ctx.workspace is None:
        raise ValueError("the decontaminate step needs a workspace: the eval n-gram index is cached there")
    index, scan = _cached_scan(ctx, ctx.workspace, ids, table, spec)
    clean, report = decontaminate(table, index, spec, explain=True, scan=scan)
    m = report.matches
    if spec.mode == "remove" and m is not None:
        ctx.explained["decontaminate"] = Explained(
            m.append_column(
                "reason", pa.array([f"decontaminate.{t}" for t in m.column("task").to_pylist()], pa.string())
            )
        )
    if spec.mode == "mask":
        clean = clean.rename_columns(["text_rewritten" if c == "text" else c for c in clean.column_names])
    else:
        clean = clean.drop_columns(["text"]).append_column("text_rewritten", pa.nulls(clean.num_rows, pa.string()))
    out = ctx.new_table("decontaminate")
    ctx.con.register("_clean", clean)
    ctx.con.execute(render_sql("curate/decontaminated", out=out, ids=ids))
    ctx.con.unregister("_clean")
    ctx.counts["decontaminate"] = {
        "documents_in": table.num_rows,
        "documents_out": ctx.size(out),
        "contaminated": report.docs_contaminated,
        "removed": report.docs_removed,
        "masked": report.docs_masked,
        "by_task": report.by_task,
    }
    return out
