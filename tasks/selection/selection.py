"""Model-based selection: score columns computed once per source, then cheap choices.

(a) Scoring. `score_source(workspace, docs_ref, spec)` fits the method's model once and
writes one score file per docs shard:
    selection/<docs_hash16>-<method>-<config_hash8>/shard-NNNNN.parquet   doc_id, score
(`embedding`, 384 x float32, instead of `score` for semdedup), then `_SUCCESS` with the
fit report (the fastText classifier's held-out accuracy and AUC). `read_scores` loads them.
    fasttext    P(high quality) from the cross-fitted DCLM-style classifier (higher = better)
    dsir        log p_target(x) / p_raw(x) under hashed n-gram bag models (higher = better)
    perplexity  per-byte perplexity under a Kneser-Ney LM of the reference (lower = better)
    semdedup    MiniLM sentence embedding
Models are cached in the workspace by content hash of their training data + config.

(b) Selection. `select(candidates, spec, token_budget=..., workspace=...)` takes the
candidate documents left after language/filters/dedup (doc_id and text or n_chars, plus
`score`/`embedding` columns when stored; missing scores are computed from `text`) and
returns the selected doc_ids with `repeat` = 1 and their score, plus stats that include
the DSIR KL reduction of the selected set for every method. tasks/selection/mixing.py turns a
selection into the final repeat/phase plan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from tasks.core.docsref import DocsRef, row_batches
from tasks.core.hashing import hash_json, short
from tasks.core.sampling import hash_uniform, take_until_budget, token_counts
from tasks.core.shards import run_claimed_shards
from tasks.core.workspace import Workspace, atomic_output
from tasks.selection import dsir as dsir_mod
from tasks.selection.registry import SelectionMethod, get_method, scored_names
from tasks.selection.spec import SelectionSpec

log = logging.getLogger(__name__)
CODE_VERSION = "selection-v1"
MAX_FIT_DOCS = 200_000  # documents read to fit a source-level model (DSIR raw model, fastText negatives)


def score_config(spec: SelectionSpec) -> dict[str, Any]:
    """What decides a method's stored scores (the seed only matters where training is random)."""
    cfg = {"method": spec.method, "config": spec.method_config(), "code": CODE_VERSION}
    return _impl(spec).score_config(spec, cfg)


def _impl(spec: SelectionSpec) -> Any:
    return get_method(spec.method).load()


def score_key(docs_hash: str, spec: SelectionSpec) -> str:
    return f"{short(docs_hash)}-{spec.method}-{hash_json(score_config(spec))[:8]}"


# ---------------------------------------------------------------- scorers


@dataclass
class Scorer:
    """A fitted model that turns (doc_id, text) into a score or embedding column."""

    method: str
    fn: Any  # (texts, ids) -> scores, or an embedding matrix for column "embedding"
    report: dict = field(default_factory=dict)
    column: str = "score"

    def __call__(self, docs: pa.Table) -> pa.Table:
        ids = docs.column("doc_id").to_pylist()
        texts = [t or "" for t in docs.column("text").to_pylist()]  # a null text scores as empty
        if self.column == "embedding":
            emb = self.fn(texts, ids)
            values = pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel(), pa.float32()), emb.shape[1])
            return pa.table({"doc_id": pa.array(ids, pa.string()), "embedding": values})
        return pa.table({"doc_id": pa.array(ids, pa.string()), "score": pa.array(self.fn(texts, ids), pa.float64())})


def fit_scorer(spec: SelectionSpec, fit_docs: pa.Table | None, workspace: Workspace | None) -> Scorer:
    """Fit `spec.method`'s model. `fit_docs` (doc_id, text) is the pool: fastText negatives
    and DSIR's raw distribution. Reference-trained models are cached in the workspace."""
    _require_scored(spec)
    return _impl(spec).fit(spec, fit_docs, workspace)


def _require_scored(spec: SelectionSpec) -> None:
    if not get_method(spec.method).scored:
        raise ValueError(
            f"selection method {spec.method!r} stores no scores (scored methods: {', '.join(scored_names())})"
        )


def reference_lm(order: int, workspace: Workspace | None):
    """The Kneser-Ney LM of the Wikipedia leads (train split), cached in the workspace."""
    from tasks.core.reference import wiki_leads
    from tasks.selection.ngram_lm import KneserNeyLM

    key = _lm_key(order)
    if workspace is not None and workspace.is_done("selection", key):
        return KneserNeyLM.load(workspace.stage_dir("selection", key) / "lm.npz")
    if workspace is None:
        return KneserNeyLM.train(wiki_leads("train").column("text").to_pylist(), order)
    with workspace.claim("selection", key) as claim:
        if not claim.todo:  # a concurrent run trained it while we waited
            return KneserNeyLM.load(workspace.stage_dir("selection", key) / "lm.npz")
        lm = KneserNeyLM.train(wiki_leads("train").column("text").to_pylist(), order)
        folder = workspace.stage_dir("selection", key)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".lm.tmp.npz"
        lm.save(tmp)
        tmp.replace(folder / "lm.npz")
        workspace.mark_done("selection", key, {"order": order})
    return lm


def _lm_key(order: int) -> str:
    return f"model-kn{order}-{hash_json({'ref': 'wiki_leads/train', 'order': order, 'code': CODE_VERSION})[:16]}"


def compute_scores(
    docs: pa.Table, spec: SelectionSpec, workspace: Workspace | None = None, fit_docs: pa.Table | None = None
) -> tuple[pa.Table, dict]:
    """Score a table of documents (doc_id, text) in memory; the pool defaults to `docs`."""
    scorer = fit_scorer(spec, fit_docs if fit_docs is not None else docs.select(["doc_id", "text"]), workspace)
    return scorer(docs), scorer.report


def prepare_model(workspace: Workspace, ref: DocsRef, spec: SelectionSpec) -> str:
    """Fit (or find) the source-level model of `spec.method` and persist it in the workspace;
    returns its key, from which any process (a Dask worker) can load the scorer."""
    _require_scored(spec)
    return _impl(spec).prepare(workspace, ref, spec)


def load_scorer(workspace: Workspace, model_key: str, spec: SelectionSpec) -> Scorer:
    """The scorer persisted by `prepare_model`."""
    _require_scored(spec)
    return _impl(spec).load(workspace, model_key, spec)


# Documents scored at once: every scorer holds several copies of each text (Python strings,
# normalised lines, per-fold predictions), ~55 KB per web page for fastText, so a whole
# 35,000-page shard peaked at 3.1 GiB (docs/scaling.md); batches keep a worker flat.
SCORE_BATCH_DOCS = 2000


# Documents scored at once: every scorer holds several copies of each text (Python strings,
# normalised lines, per-fold predictions), ~55 KB per web page for fastText, so a whole
# 35,000-page shard peaked at 3.1 GiB (docs/scaling.md); batches keep a worker flat.
SCORE_BATCH_DOCS = 2000


def _batches(pf: pq.ParquetFile, batch_docs: int):
    """(doc_id, text) tables of about `batch_docs` rows, read a row group at a time
    (iter_batches' read-ahead grew with the shard: tasks/decontam/scan.py)."""
    pending: list[pa.Table] = []
    n = 0
    for g in range(pf.num_row_groups):
        t = pf.read_row_group(g, columns=["doc_id", "text"])
        pending.append(t)
        n += t.num_rows
        if n >= batch_docs:
            yield pa.concat_tables(pending)
            pending, n = [], 0
    if n:
        yield pa.concat_tables(pending)


def score_shard(
    workspace: Workspace,
    ref: DocsRef,
    spec: SelectionSpec,
    index: int,
    model_key: str,
    batch_docs: int = SCORE_BATCH_DOCS,
) -> int:
    """Score docs shard `index` into `<score folder>/shard-NNNNN.parquet` (atomic), in
    batches of `batch_docs` documents (every scorer scores each document on its own);
    returns the rows written."""
    folder = workspace.stage_dir("selection", score_key(ref.docs_hash, spec))
    scorer = load_scorer(workspace, model_key, spec)
    target = folder / f"shard-{index:05d}.parquet"
    tmp = atomic_output(target)
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for docs in row_batches(pq.ParquetFile(ref.shards[index]), batch_docs):
            out = scorer(docs)
            writer = writer or pq.ParquetWriter(tmp, out.schema)
            writer.write_table(out)
            rows += out.num_rows
        if writer is None:  # an empty shard: an empty score file of the scorer's schema
            pq.write_table(scorer(pq.read_table(ref.shards[index], columns=["doc_id", "text"])), tmp)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(target)
    return rows


def finish_scores(
    workspace: Workspace, ref: DocsRef, spec: SelectionSpec, model_key: str, docs: int, seconds: float
) -> dict:
    """Write `_SUCCESS` for a source's score folder once every shard is there."""
    key = score_key(ref.docs_hash, spec)
    folder = workspace.stage_dir("selection", key)
    missing = [i for i in range(len(ref.shards)) if not (folder / f"shard-{i:05d}.parquet").exists()]
    if missing:
        raise RuntimeError(f"{folder}: score shards missing for docs shards {missing[:10]}")
    report = {}
    if workspace.is_done("selection", model_key):
        report = workspace.read_done("selection", model_key)
    info = {
        "method": spec.method,
        "source": ref.name,
        "docs_hash": ref.docs_hash,
        "docs": docs,
        "shards": len(ref.shards),
        "seconds": round(seconds, 3),
        "config": score_config(spec),
        "model": model_key,
        "report": report,
    }
    workspace.mark_done("selection", key, info)
    return info


def score_source(workspace: Workspace, ref: DocsRef, spec: SelectionSpec) -> Path:
    """Compute and store `spec.method`'s score column for every document of a source
    (in process; flows/select.py runs the same steps with one Dask task per shard)."""
    compute_scores_of(
        workspace,
        ref,
        spec,
        lambda: prepare_model(workspace, ref, spec),
        lambda model_key, indices: [
            score_shard(workspace, ref, spec, i, model_key)
            for i in tqdm(indices, desc=f"score {spec.method}", unit="shard")
        ],
    )
    return workspace.stage_dir("selection", score_key(ref.docs_hash, spec))


def compute_scores_of(
    workspace: Workspace,
    ref: DocsRef,
    spec: SelectionSpec,
    prepare: Callable[[], str],
    run: Callable[[str, list[int]], Sequence[int]],
) -> dict | None:
    """A source's score folder as a claimed per-shard stage (tasks/core/shards.py):
    `prepare()` fits (or finds) the model and returns its key, `run(model_key, indices)`
    scores those docs shards and returns the rows of each; `finish_scores` writes
    `_SUCCESS`. Returns its info when this call scored, None when the folder was done
    (or a concurrent suite scored it while this one waited)."""
    model_key = ""

    def jobs() -> list[int]:  # the model first: every shard job loads it
        nonlocal model_key
        model_key = prepare()
        return list(range(len(ref.shards)))

    return run_claimed_shards(
        workspace,
        "selection",
        score_key(ref.docs_hash, spec),
        jobs=jobs,
        run=lambda indices: run(model_key, list(indices)),
        finish=lambda rows, seconds: finish_scores(workspace, ref, spec, model_key, sum(rows), seconds),
    )


def read_scores(workspace: Workspace, ref: DocsRef, spec: SelectionSpec) -> pa.Table:
    """The stored score table of a source (doc_id + score or embedding)."""
    key = score_key(ref.docs_hash, spec)
    if not workspace.is_done("selection", key):
        raise LookupError(
            f"no {spec.method} scores for source {ref.name!r} (key {key}); "
            "run tasks.selection.selection.score_source or `python -m flows.select` first"
        )
    return pq.read_table(sorted(workspace.stage_dir("selection", key).glob("shard-*.parquet")))


def _fit_pool(ref: DocsRef, seed: int) -> pa.Table:
    tables = [pq.read_table(s, columns=["doc_id", "text"]) for s in ref.shards]
    pool = pa.concat_tables(tables) if tables else pa.table({"doc_id": [], "text": []})
    if pool.num_rows > MAX_FIT_DOCS:
        keep = np.argsort(hash_uniform(pool.column("doc_id"), seed, "fit-pool"), kind="stable")[:MAX_FIT_DOCS]
        pool = pool.take(np.sort(keep))
    return pool


# ---------------------------------------------------------------- selection


@dataclass
class Selection:
    table: pa.Table  # doc_id, repeat (=1), score (when the method has one); sorted by doc_id
    stats: dict[str, Any]


@dataclass
class Choice:
    """What a method chooses among: candidates sorted by doc_id (with their stored
    score/embedding column when scored), their token counts and the token budget."""

    method: SelectionMethod
    candidates: pa.Table
    ids: list[str]
    tokens: np.ndarray
    budget: int | None
    spec: SelectionSpec
    stats: dict[str, Any]  # the method adds what it reports


def select(
    candidates: pa.Table, spec: SelectionSpec, token_budget: int | None = None, workspace: Workspace | None = None
) -> Selection:
    """Choose documents among `candidates` by `spec`. Deterministic: the same candidates
    (in any row order) and seed give the same selection bit for bit."""
    if "doc_id" not in candidates.column_names:
        raise ValueError("selection candidates need a doc_id column")
    candidates = candidates.sort_by("doc_id")
    ids = candidates.column("doc_id").to_pylist()
    tokens = token_counts(candidates)
    method = spec.method
    entry = get_method(method)
    stats: dict[str, Any] = {
        "method": method,
        "seed": spec.seed,
        "n_candidates": len(ids),
        "tokens_candidates": int(tokens.sum()),
    }
    budget = spec.tokens if spec.tokens is not None else (token_budget if entry.budget_from_recipe else None)
    column = entry.column
    if entry.scored and column is not None:
        if column not in candidates.column_names:
            if "text" not in candidates.column_names:
                raise ValueError(
                    f"{method} selection: candidates have neither a stored {column!r} "
                    "column nor text to compute it from"
                )
            scored, report = compute_scores(candidates.select(["doc_id", "text"]), spec, workspace)
            candidates = candidates.append_column(column, scored.column(column))
            stats["fit_report"] = report
    chosen = entry.load().choose(Choice(entry, candidates, ids, tokens, budget, spec, stats))
    chosen = np.sort(chosen)
    cols = {
        "doc_id": pa.array([ids[i] for i in chosen], pa.string()),
        "repeat": pa.array(np.ones(len(chosen), np.int32)),
    }
    if column == "score":
        score = candidates.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        cols["score"] = pa.array(score[chosen], pa.float64())
    out = pa.table(cols)
    stats.update({"n_selected": len(chosen), "tokens_selected": int(tokens[chosen].sum()), "token_budget": budget})
    if spec.log_kl and "text" in candidates.column_names and len(ids):
        texts = [t or "" for t in candidates.column("text").to_pylist()]
        stats.update(dsir_mod.kl_reduction(texts, chosen, spec.dsir.buckets, spec.dsir.ngrams, spec.dsir.smoothing))
        log.info(
            "selection %s (seed %d): %d of %d documents, %d tokens; KL reduction %.4f",
            method,
            spec.seed,
            len(chosen),
            len(ids),
            stats["tokens_selected"],
            stats["kl_reduction"],
        )
    return Selection(out, stats)


def cut(order: np.ndarray, tokens: np.ndarray, budget: int | None, keep_fraction: float | None, n: int) -> np.ndarray:
    """`order` cut to its first `keep_fraction` of `n`, then to the token budget."""
    if keep_fraction is not None:
        order = order[: int(np.ceil(keep_fraction * n))]
    return take_until_budget(order, tokens, budget)


def select_and_mix(candidates: pa.Table, recipe, workspace: Workspace | None = None) -> tuple[pa.Table, dict]:
    """The curate pipeline's last two steps for a Recipe: selection, then the mixture
    resolved to the recipe's token budget. Returns (doc_id, repeat[, phase]) and stats
    {"selection": ..., "mixture": plan}."""
    from tasks.selection.mixing import plan_mixture

    sel = select(candidates, recipe.selection, recipe.token_budget, workspace)
    keep_cols = [
        c
        for c in candidates.column_names
        if c not in ("repeat", "score", "embedding", "text")
        or (c == "text" and not {"n_tokens", "n_chars"} & set(candidates.column_names))
    ]
    chosen = candidates.select(keep_cols).join(sel.table, "doc_id", join_type="inner")
    budget = recipe.token_budget
    if budget is not None and not recipe.mixture.asked and sel.stats["tokens_selected"] > budget:
        # No mixture asked for and a selection over the budget (a threshold, band or
        # fraction): it goes on whole and the budget step cuts it once, over all its
        # documents (tasks/curate/steps.py fill_budget). Natural shares resolved to the
        # budget here cut every source to its share separately, each to whole documents:
        # a few long pages missed their share and the sum fell short, which the budget step
        # (it only removes) cannot make up.
        budget = None  # the natural budget: every selected document once
    plan_table, plan = plan_mixture(chosen.drop_columns(["repeat"]), recipe.mixture, budget)
    return plan_table, {"selection": sel.stats, "mixture": plan}


def selection_run_row(recipe, stats: dict) -> dict:
    """A `selection_runs` catalog row from select_and_mix's stats (written by the flow)."""
    import json

    sel, plan = stats["selection"], stats["mixture"]
    return {
        "data_hash": recipe.data_hash(),
        "recipe": recipe.name,
        "method": sel["method"],
        "seed": sel["seed"],
        "n_candidates": sel["n_candidates"],
        "n_selected": sel["n_selected"],
        "tokens_candidates": sel["tokens_candidates"],
        "tokens_selected": sel["tokens_selected"],
        "tokens_planned": plan["planned_tokens"],
        "kl_reduction": sel.get("kl_reduction"),
        "stats": json.dumps(sel, default=str),
        "plan": json.dumps(plan, default=str),
    }


def selection_scores_row(key: str, info: dict) -> dict:
    """A `selection_scores` catalog row from a score folder's `_SUCCESS` info."""
    import json

    report = info.get("report") or {}
    return {
        "key": key,
        "source": info.get("source"),
        "docs_hash": info.get("docs_hash"),
        "method": info.get("method"),
        "model_key": info.get("model"),
        "docs": info.get("docs"),
        "seconds": info.get("seconds"),
        "heldout_auc": report.get("heldout_auc"),
        "heldout_accuracy": report.get("heldout_accuracy"),
        "info": json.dumps(info, default=str),
    }
