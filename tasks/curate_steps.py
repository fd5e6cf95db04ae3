"""Curate steps provided by other stages, plugged into tasks/curate.py's pipeline.

- dedup: tasks/dedup.py (exact, URL, MinHash, line-level) over the surviving ids;
- selection: tasks/selection.py (scores stored once per source) then tasks/mixing.py
  (the token plan: weights, temperature, upsampling, phases) in one step.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks import selection as sel
from tasks.curate import CurateContext, register_step
from tasks.sqlfiles import load_sql


def _stored_scores(ctx: CurateContext) -> pa.Table | None:
    """Per-source scores computed once and kept in the workspace (None for methods
    that score nothing, or when there is no workspace)."""
    spec = ctx.recipe.selection
    if spec.method not in sel.SCORED_METHODS or ctx.workspace is None:
        return None
    tables = []
    for source in ctx.inputs:
        if not ctx.workspace.is_done("selection", sel.score_key(source.docs.docs_hash, spec)):
            sel.score_source(ctx.workspace, source.docs, spec)
        tables.append(sel.read_scores(ctx.workspace, source.docs, spec))
    return pa.concat_tables(tables, promote_options="default") if tables else None


def selection_step(ctx: CurateContext, ids: str) -> str:
    candidates = ctx.con.sql(load_sql("curate/selection_candidates").format(ids=ids)).to_arrow_table()
    scores = _stored_scores(ctx)
    if scores is not None:
        candidates = candidates.join(scores, "doc_id", join_type="left outer")
    chosen, stats = sel.select_and_mix(candidates, ctx.recipe, ctx.workspace)
    out = ctx.new_table("selection")
    ctx.con.register("_chosen", chosen.select([c for c in chosen.column_names if c in ("doc_id", "repeat", "phase")]))
    ctx.con.execute(load_sql("curate/rejoin_selected").format(out=out, ids=ids))
    ctx.con.unregister("_chosen")
    ctx.counts["selection"] = {
        "documents_in": candidates.num_rows, "documents_out": ctx.size(out),
        "kl_reduction": stats["selection"].get("kl_reduction"),
        "selection": stats["selection"], "mixture": stats["mixture"]}
    return out


def kl_reduction_of(ctx: CurateContext, candidates: str, ids: str) -> dict[str, float]:
    """DSIR's KL reduction of the final dataset against the recipe's whole candidate pool,
    so every arm (not only DSIR) reports how close to the target its data moved."""
    from tasks.dsir import kl_reduction

    rows = ctx.con.sql(load_sql("curate/kl_texts").format(candidates=candidates, ids=ids)).to_arrow_table()
    kept = np.flatnonzero(rows.column("kept").to_numpy(zero_copy_only=False))
    return kl_reduction([t or "" for t in rows.column("text").to_pylist()], kept)


def dedup_step(ctx: CurateContext, ids: str) -> str:
    """Exact / URL / MinHash / line-level dedup over the surviving documents. Signatures
    and clusters are computed once per set of sources and cached in the workspace; the
    kept document of each cluster is re-chosen among the survivors of earlier steps."""
    from tasks.dedup import apply_dedup

    spec = ctx.recipe.dedup
    before = ctx.size(ids)
    relation = ctx.con.sql(load_sql("curate/dedup_input").format(ids=ids))
    kept, stats = apply_dedup(ctx.con, relation, spec, ctx.workspace, [i.docs for i in ctx.inputs])
    out = ctx.new_table("dedup")
    rewritten = "lines" in spec.modes()
    cols = ", ".join(f'"{c}"' for c in kept.columns if c != "text")
    text = ", text AS text_rewritten" if rewritten else ", NULL::VARCHAR AS text_rewritten"
    kept.select(cols + text).create(out)
    ctx.counts["dedup"] = {"documents_in": before, "documents_out": ctx.size(out), "removed": stats["removed"]}
    return out


def eval_index(workspace, spec):
    """The n-gram index of every eval item (built once per eval suite, cached)."""
    from tasks.decontaminate import cached_index, default_eval_items

    return cached_index(workspace, default_eval_items(), spec.n, spec.min_item_words)


def decontaminate_step(ctx: CurateContext, ids: str) -> str:
    """Remove (or mask) documents sharing an n-gram with any eval item, counted per task."""
    from tasks.decontaminate import decontaminate

    spec = ctx.recipe.decontamination
    table = ctx.con.sql(load_sql("curate/dedup_input").format(ids=ids)).to_arrow_table()
    clean, report = decontaminate(table, eval_index(ctx.workspace, spec), spec)
    if spec.mode == "mask":
        clean = clean.rename_columns(["text_rewritten" if c == "text" else c for c in clean.column_names])
    else:
        clean = clean.drop_columns(["text"])
    out = ctx.new_table("decontaminate")
    ctx.con.register("_clean", clean)
    rewritten = "text_rewritten" if spec.mode == "mask" else "NULL::VARCHAR"
    ctx.con.execute(load_sql("curate/decontaminated").format(out=out, ids=ids, rewritten=rewritten))
    ctx.con.unregister("_clean")
    ctx.counts["decontaminate"] = {"documents_in": table.num_rows, "documents_out": ctx.size(out),
                                   "contaminated": report.docs_contaminated, "removed": report.docs_removed,
                                   "masked": report.docs_masked, "by_task": report.by_task}
    return out


register_step("dedup", dedup_step)
register_step("decontaminate", decontaminate_step)
register_step("selection", selection_step)
