"""DSIR: data selection with importance resampling (Xie et al., 2023).

Each document becomes a vector of hashed unigram+bigram counts (10k buckets, as in the
paper). A bag-of-n-grams model is fitted to the target (Wikipedia leads, train split)
and one to the raw pool; a document's importance weight is
log p_target(x) / p_raw(x) = sum_j count_j(x) * (log q_target[j] - log q_raw[j]).
Gumbel top-k over the log weights samples documents without replacement in proportion to
their weights until a token budget is met. The selected set's quality is summarised by the
paper's KL reduction: KL(target || raw) - KL(target || selected), over the same features.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

# Words as the paper's tokenizer sees them: runs of word characters, lower-cased.
TOKEN_PATTERN = r"(?u)\b\w+\b"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def hashed_ngram_counts(texts: list[str], buckets: int = 10_000, ngrams: int = 2) -> sp.csr_matrix:
    """Documents x buckets matrix of unigram..n-gram counts (sklearn's murmurhash3 hashing)."""
    vec = HashingVectorizer(n_features=buckets, ngram_range=(1, ngrams), alternate_sign=False,
                            norm=None, lowercase=True, token_pattern=TOKEN_PATTERN, dtype=np.float64)
    return vec.transform(texts).tocsr()


def hashed_ngram_counts_reference(texts: list[str], buckets: int = 10_000, ngrams: int = 2) -> sp.csr_matrix:
    """The same features by a straightforward pure-Python loop (benchmark baseline, test oracle)."""
    from sklearn.utils import murmurhash3_32
    rows, cols = [], []
    for i, text in enumerate(texts):
        words = _TOKEN_RE.findall(text.lower())
        for n in range(1, ngrams + 1):
            for j in range(len(words) - n + 1):
                h = murmurhash3_32(" ".join(words[j:j + n]), seed=0, positive=False)
                rows.append(i)
                cols.append(abs(h) % buckets)
    data = np.ones(len(rows))
    return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), buckets))


def bag_log_probs(counts: sp.spmatrix, smoothing: float) -> np.ndarray:
    """Log probabilities of a smoothed bag-of-n-grams model fitted to all rows of `counts`."""
    total = np.asarray(counts.sum(axis=0)).ravel() + smoothing
    return np.log(total / total.sum())


@dataclass(frozen=True)
class DSIRModel:
    log_target: np.ndarray
    log_raw: np.ndarray
    buckets: int
    ngrams: int
    length_normalize: bool = False

    def features(self, texts: list[str]) -> sp.csr_matrix:
        return hashed_ngram_counts(texts, self.buckets, self.ngrams)

    def log_weights(self, texts: list[str] | None = None, counts: sp.spmatrix | None = None) -> np.ndarray:
        counts = self.features(texts) if counts is None else counts
        w = counts @ (self.log_target - self.log_raw)
        if self.length_normalize:
            w = w / np.maximum(1.0, np.asarray(counts.sum(axis=1)).ravel())
        return np.asarray(w, dtype=np.float64).ravel()


@lru_cache(maxsize=4)
def target_counts(buckets: int, ngrams: int) -> np.ndarray:
    """Summed n-gram counts of the reference (Wikipedia leads, train split only)."""
    from tasks.reference import wiki_leads
    texts = wiki_leads("train").column("text").to_pylist()
    return np.asarray(hashed_ngram_counts(texts, buckets, ngrams).sum(axis=0)).ravel()


def fit(raw_texts: list[str], buckets: int = 10_000, ngrams: int = 2, smoothing: float = 1.0,
        length_normalize: bool = False) -> DSIRModel:
    """Target model from the reference, raw model from `raw_texts` (the pool to select from)."""
    tgt = target_counts(buckets, ngrams) + smoothing
    raw = np.asarray(hashed_ngram_counts(raw_texts, buckets, ngrams).sum(axis=0)).ravel() + smoothing
    return DSIRModel(np.log(tgt / tgt.sum()), np.log(raw / raw.sum()), buckets, ngrams, length_normalize)


def kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    """KL(p || q) for distributions given as log probabilities."""
    return float(np.sum(np.exp(p_log) * (p_log - q_log)))


def kl_reduction(candidate_counts: sp.spmatrix, selected: np.ndarray, buckets: int = 10_000,
                 ngrams: int = 2, smoothing: float = 1.0) -> dict[str, float]:
    """DSIR's predictor of downstream accuracy: how much closer to the target the selected
    set's n-gram distribution is than the raw pool's. `selected` indexes rows of the counts."""
    log_target = bag_log_probs(sp.csr_matrix(target_counts(buckets, ngrams)), smoothing)
    log_raw = bag_log_probs(candidate_counts, smoothing)
    log_sel = bag_log_probs(candidate_counts[selected], smoothing)
    kl_raw, kl_sel = kl(log_target, log_raw), kl(log_target, log_sel)
    return {"kl_target_raw": kl_raw, "kl_target_selected": kl_sel, "kl_reduction": kl_raw - kl_sel}
