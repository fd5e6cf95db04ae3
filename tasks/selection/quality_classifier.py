"""DCLM-style fastText quality classifier: Wikipedia leads (train split) as the positive
class against documents sampled from the crawl being scored.

Cross-fitted: the sampled crawl negatives are split into `folds` by a hash of their
doc_id; model f is trained on every fold but f, and a crawl document that was a negative
is scored only by the model that did not see it (others get the mean of all models), so
a document's own training label never leaks into its score. A fixed slice of the
positives (`report_fraction`, chosen by title hash) is never trained on and, with the
out-of-fold negatives, gives the held-out accuracy and ROC AUC in `report.json`.
The reference's own `heldout` split is never touched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from tasks.core.hashing import hash_json, short
from tasks.core.sampling import hash_uniform
from tasks.core.workspace import Workspace, write_json_atomic

POSITIVE, NEGATIVE = "__label__hq", "__label__cc"
CODE_VERSION = "fasttext-v1"
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def normalize(text: str) -> str:
    """fastText input: lower-cased words and punctuation separated by single spaces, one line."""
    return " ".join(_TOKEN_RE.findall(text.lower()))


@dataclass
class QualityClassifier:
    models: list  # fasttext models, one per fold
    negative_fold: dict[str, int]  # doc_id -> fold, for the crawl documents used as negatives
    report: dict

    def predict_batch(self, texts: list[str], doc_ids: list[str] | None = None) -> np.ndarray:
        """P(high quality) per text, one batched fastText call per fold model."""
        lines = [normalize(t) for t in texts]
        probs = np.stack([_positive_prob(m, lines) for m in self.models])  # folds x docs
        out = probs.mean(axis=0)
        if doc_ids is not None:
            for i, d in enumerate(doc_ids):
                f = self.negative_fold.get(d)
                if f is not None:
                    out[i] = probs[f, i]
        return out

    def predict_one_by_one(self, texts: list[str]) -> np.ndarray:
        """Straightforward baseline: one predict call per document and model (benchmark only)."""
        out = np.zeros(len(texts))
        for i, t in enumerate(texts):
            line = normalize(t)
            out[i] = np.mean([_positive_prob(m, [line])[0] for m in self.models])
        return out


def _positive_prob(model, lines: list[str]) -> np.ndarray:
    labels, probs = model.predict(lines, k=2)
    out = np.zeros(len(lines))
    for i, (ls, ps) in enumerate(zip(labels, probs)):
        for label, p in zip(ls, ps):
            if label == POSITIVE:
                out[i] = float(p)
    return out


def _split_positives(report_fraction: float) -> tuple[list[str], list[str]]:
    from tasks.core.reference import wiki_leads

    t = wiki_leads("train")
    cut = int(report_fraction * 10_000)
    fit: list[str] = []
    report: list[str] = []
    for title, text in zip(t.column("title").to_pylist(), t.column("text").to_pylist()):
        bucket = xxhash.xxh64_intdigest(b"quality-report\x00" + title.encode()) % 10_000
        (report if bucket < cut else fit).append(text)
    return fit, report


def model_key(negatives: pa.Table, config: dict, seed: int) -> str:
    """Content hash of the training data (negative doc_ids + text hashes) and the config."""
    h = xxhash.xxh3_128()
    for d, t in zip(negatives.column("doc_id").to_pylist(), negatives.column("text").to_pylist()):
        h.update(d.encode() + b"\x00" + xxhash.xxh3_64_digest((t or "").encode()))
    return "fasttext-" + short(
        hash_json({"negatives": h.hexdigest(), "config": config, "seed": seed, "code": CODE_VERSION})
    )


def sample_negatives(docs: pa.Table, max_negatives: int, seed: int) -> pa.Table:
    """Up to `max_negatives` crawl documents (doc_id, text), chosen by a seeded hash, sorted by doc_id."""
    ids = docs.column("doc_id").to_pylist()
    keep = np.argsort(hash_uniform(ids, seed, "negatives"), kind="stable")[:max_negatives]
    sample = docs.select(["doc_id", "text"]).take(np.sort(keep))
    return sample.sort_by("doc_id")


def train(docs: pa.Table, config: dict, workspace: Workspace, seed: int = 0) -> Path:
    """Train (or reuse) the cross-fitted classifier; returns its workspace folder."""
    import fasttext
    from sklearn.metrics import roc_auc_score

    negatives = sample_negatives(docs, config["max_negatives"], seed)
    key = model_key(negatives, config, seed)
    folder = workspace.stage_dir("selection", key)
    if workspace.is_done("selection", key):
        return folder
    folds = config["folds"]
    if negatives.num_rows < folds:
        raise ValueError(
            f"fastText classifier needs at least {folds} crawl documents as negatives, got {negatives.num_rows}"
        )
    neg_ids = negatives.column("doc_id").to_pylist()
    neg_text = [normalize(t or "") for t in negatives.column("text").to_pylist()]
    fold_of = (hash_uniform(neg_ids, seed, "folds") * folds).astype(int)
    fit_pos, report_pos = _split_positives(config["report_fraction"])
    fit_pos = [normalize(t) for t in fit_pos]
    folder.mkdir(parents=True, exist_ok=True)
    models, oof = [], np.zeros(len(neg_ids))
    for f in range(folds):
        train_neg = [t for t, g in zip(neg_text, fold_of) if g != f]
        n_pos = (
            len(fit_pos)
            if config["positives_per_negative"] is None
            else min(len(fit_pos), max(1, round(config["positives_per_negative"] * len(train_neg))))
        )
        pick = np.sort(
            np.argsort(hash_uniform([str(i) for i in range(len(fit_pos))], seed + f, "positives"), kind="stable")[
                :n_pos
            ]
        )
        lines = [f"{POSITIVE} {fit_pos[i]}" for i in pick] + [f"{NEGATIVE} {t}" for t in train_neg]
        order = np.argsort(hash_uniform([str(i) for i in range(len(lines))], seed + f, "shuffle"), kind="stable")
        train_file = folder / f".train-fold{f}.txt"
        train_file.write_text("\n".join(lines[i] for i in order) + "\n")
        model = fasttext.train_supervised(
            input=str(train_file),
            dim=config["dim"],
            epoch=config["epoch"],
            lr=config["lr"],
            wordNgrams=config["word_ngrams"],
            minCount=config["min_count"],
            thread=1,
            seed=seed + f,
            verbose=0,
        )
        train_file.unlink()
        model.save_model(str(folder / f"fold{f}.bin"))
        models.append(model)
        held = np.flatnonzero(fold_of == f)
        oof[held] = _positive_prob(model, [neg_text[i] for i in held])
    pos_scores = np.mean([_positive_prob(m, [normalize(t) for t in report_pos]) for m in models], axis=0)
    y = np.r_[np.ones(len(pos_scores)), np.zeros(len(oof))]
    s = np.r_[pos_scores, oof]
    report = {
        "heldout_auc": float(roc_auc_score(y, s)),
        "heldout_accuracy": float(np.mean((s >= 0.5) == y)),
        "heldout_positives": len(pos_scores),
        "heldout_negatives": len(oof),
        "train_positives_per_fold": n_pos,
        "negatives": len(neg_ids),
        "folds": folds,
        "config": config,
        "seed": seed,
    }
    pq.write_table(pa.table({"doc_id": neg_ids, "fold": pa.array(fold_of, pa.int8())}), folder / "negatives.parquet")
    write_json_atomic(folder / "report.json", report)
    workspace.mark_done("selection", key, report)
    return folder


def load(folder: Path) -> QualityClassifier:
    import fasttext

    report = json.loads((folder / "report.json").read_text())
    models = [fasttext.load_model(str(folder / f"fold{f}.bin")) for f in range(report["folds"])]
    neg = pq.read_table(folder / "negatives.parquet")
    return QualityClassifier(
        models, dict(zip(neg.column("doc_id").to_pylist(), neg.column("fold").to_pylist())), report
    )
