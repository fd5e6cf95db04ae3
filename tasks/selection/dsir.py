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

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

# sklearn's word rule, for the library peer only (our features use _is_word_byte).
TOKEN_PATTERN = r"(?u)\b\w+\b"


_MASK = (1 << 64) - 1
_P = 0x100000001B3  # FNV prime: the polynomial base of word hashes (odd, so invertible)
_P_INV = pow(_P, -1, 1 << 64)
_MULT = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio): mixes n-gram word hashes
_SALT = [0, 0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0]  # per n, so n-gram orders differ
_BATCH_BYTES = 1 << 23


def _is_word_byte(buf: np.ndarray) -> np.ndarray:
    """Word bytes: ASCII letters, digits and '_', and bytes of non-ASCII characters except
    the common punctuation blocks (U+0080-U+00BF, lead byte C2; U+2000-U+207F, E2 80/81)."""
    word = ((buf >= 48) & (buf <= 57)) | ((buf >= 65) & (buf <= 90)) | ((buf >= 97) & (buf <= 122)) | (buf == 95)
    high = buf >= 0x80
    punct = np.zeros(len(buf), dtype=bool)
    c2 = np.flatnonzero(buf[:-1] == 0xC2)
    punct[c2] = punct[c2 + 1] = True
    e2 = np.flatnonzero((buf[:-2] == 0xE2) & ((buf[1:-1] == 0x80) | (buf[1:-1] == 0x81)))
    punct[e2] = punct[e2 + 1] = punct[e2 + 2] = True
    return word | (high & ~punct)


def hashed_ngram_counts(texts: list[str], buckets: int = 10_000, ngrams: int = 2) -> sp.csr_matrix:
    """Documents x buckets matrix of hashed 1..n-gram counts, fully vectorised.

    Words are maximal runs of word bytes (see _is_word_byte) of the UTF-8 text with ASCII
    letters lower-cased. A word's hash is its polynomial hash over bytes mod 2^64, taken for
    all words at once from one prefix sum (h(s, e) = (C[e] - C[s]) * P^(e-1) with
    C[i] = sum_{j<i} (b_j + 1) P^-j); n-gram hashes combine word hashes in uint64. No Python
    work per token or per byte; `hashed_ngram_counts_reference` computes the same by loops."""
    parts = [_counts_batch(texts[i:j], buckets, ngrams) for i, j in _batches(texts)]
    if not parts:
        return sp.csr_matrix((0, buckets))
    return parts[0] if len(parts) == 1 else sp.vstack(parts).tocsr()


def _batches(texts: list[str], batch_bytes: int | None = None):
    """(start, end) slices of about `batch_bytes` characters, so memory stays bounded."""
    batch_bytes = batch_bytes or _BATCH_BYTES
    i = 0
    while i < len(texts):
        j, size = i, 0
        while j < len(texts) and (size < batch_bytes or j == i):
            size += len(texts[j])
            j += 1
        yield i, j
        i = j


def ngram_totals(
    texts: list[str], buckets: int = 10_000, ngrams: int = 2, selected: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Summed bucket counts of all texts (and of the rows in `selected`), batch by batch:
    only two vectors are ever held, whatever the number of documents."""
    total = np.zeros(buckets)
    chosen = None
    if selected is not None:
        chosen = np.zeros(buckets)
        mask = np.zeros(len(texts), dtype=bool)
        mask[selected] = True
    for i, j in _batches(texts):
        m = _counts_batch(texts[i:j], buckets, ngrams)
        total += np.asarray(m.sum(axis=0)).ravel()
        if chosen is not None:
            chosen += np.asarray(m[np.flatnonzero(mask[i:j])].sum(axis=0)).ravel()
    return total, chosen


def _counts_batch(texts: list[str], buckets: int, ngrams: int) -> sp.csr_matrix:
    encoded = [t.encode("utf-8", errors="replace") for t in texts]
    # one separator byte after every document, so no word spans two documents
    buf = np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)
    doc_end = np.cumsum(np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded)))
    upper = (buf >= 65) & (buf <= 90)
    vals = buf.astype(np.uint64) + np.uint64(1) + upper.astype(np.uint64) * np.uint64(32)
    word = _is_word_byte(buf)
    edges = np.diff(np.r_[np.int8(0), word.astype(np.int8), np.int8(0)])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return sp.csr_matrix((len(texts), buckets))
    n = len(buf)
    with np.errstate(over="ignore"):
        p_pow = np.cumprod(np.r_[np.uint64(1), np.full(n, _P, dtype=np.uint64)], dtype=np.uint64)
        p_inv = np.cumprod(np.r_[np.uint64(1), np.full(n - 1, _P_INV, dtype=np.uint64)], dtype=np.uint64)
        prefix = np.r_[np.uint64(0), np.cumsum(vals * p_inv, dtype=np.uint64)]
        word_h = (prefix[ends] - prefix[starts]) * p_pow[ends - 1]
        doc = np.searchsorted(doc_end, starts, side="right")
        rows, cols = [], []
        g = word_h
        for k in range(1, ngrams + 1):
            if k > 1:
                g = g[:-1] * np.uint64(_MULT) + word_h[k - 1 :]  # g[i]: words i .. i+k-1
            same_doc = doc[: len(g)] == doc[k - 1 :]
            h = (g[same_doc] ^ np.uint64(_SALT[k])) * np.uint64(_MULT)
            cols.append(((h >> np.uint64(32)) % np.uint64(buckets)).astype(np.int64))
            rows.append(doc[: len(g)][same_doc])
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(texts), buckets))
    m.sum_duplicates()
    return m


def _words_reference(text: str) -> list[bytes]:
    """The word rule of `_is_word_byte`, byte by byte in Python."""
    data = text.encode("utf-8", errors="replace")
    punct = [False] * len(data)
    for i, b in enumerate(data):
        if b == 0xC2 and i + 1 < len(data):
            punct[i] = punct[i + 1] = True
        if b == 0xE2 and i + 2 < len(data) and data[i + 1] in (0x80, 0x81):
            punct[i] = punct[i + 1] = punct[i + 2] = True
    words, cur = [], bytearray()
    for i, b in enumerate(data):
        if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b == 95) or (b >= 0x80 and not punct[i]):
            cur.append(b + 32 if 65 <= b <= 90 else b)
        elif cur:
            words.append(bytes(cur))
            cur = bytearray()
    if cur:
        words.append(bytes(cur))
    return words


def hashed_ngram_counts_reference(texts: list[str], buckets: int = 10_000, ngrams: int = 2) -> sp.csr_matrix:
    """The same features by straightforward Python loops (benchmark baseline, test oracle)."""
    rows, cols = [], []
    for i, text in enumerate(texts):
        hashes = []
        for w in _words_reference(text):
            h = 0
            for b in w:
                h = (h * _P + b + 1) & _MASK
            hashes.append(h)
        for n in range(1, ngrams + 1):
            for j in range(len(hashes) - n + 1):
                g = hashes[j]
                for k in range(j + 1, j + n):
                    g = (g * _MULT + hashes[k]) & _MASK
                h = ((g ^ _SALT[n]) * _MULT) & _MASK
                rows.append(i)
                cols.append((h >> 32) % buckets)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), buckets))


def hashed_ngram_counts_sklearn(texts: list[str], buckets: int = 10_000, ngrams: int = 2) -> sp.csr_matrix:
    """The library way (sklearn HashingVectorizer, murmurhash3 of the n-gram string): the
    peer in bench/selection.py. Different hash function, same kind of features."""
    vec = HashingVectorizer(
        n_features=buckets,
        ngram_range=(1, ngrams),
        alternate_sign=False,
        norm=None,
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        dtype=np.float64,
    )
    return vec.transform(texts).tocsr()


@dataclass(frozen=True)
class DSIRModel:
    log_target: np.ndarray
    log_raw: np.ndarray
    buckets: int
    ngrams: int
    length_normalize: bool = False

    def features(self, texts: list[str]) -> sp.csr_matrix:
        return hashed_ngram_counts(texts, self.buckets, self.ngrams)

    def log_weights(self, texts: list[str]) -> np.ndarray:
        """log p_target(x) / p_raw(x) per text, batch by batch."""
        ratio = self.log_target - self.log_raw
        out = np.zeros(len(texts))
        for i, j in _batches(texts):
            counts = _counts_batch(texts[i:j], self.buckets, self.ngrams)
            w = np.asarray(counts @ ratio, dtype=np.float64).ravel()
            if self.length_normalize:
                w = w / np.maximum(1.0, np.asarray(counts.sum(axis=1)).ravel())
            out[i:j] = w
        return out


@lru_cache(maxsize=4)
def target_counts(buckets: int, ngrams: int) -> np.ndarray:
    """Summed n-gram counts of the reference (Wikipedia leads, train split only)."""
    from tasks.core.reference import wiki_leads

    return ngram_totals(wiki_leads("train").column("text").to_pylist(), buckets, ngrams)[0]


def fit(
    raw_texts: list[str], buckets: int = 10_000, ngrams: int = 2, smoothing: float = 1.0, length_normalize: bool = False
) -> DSIRModel:
    """Target model from the reference, raw model from `raw_texts` (the pool to select from)."""
    tgt = target_counts(buckets, ngrams) + smoothing
    raw = ngram_totals(raw_texts, buckets, ngrams)[0] + smoothing
    return DSIRModel(np.log(tgt / tgt.sum()), np.log(raw / raw.sum()), buckets, ngrams, length_normalize)


def kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    """KL(p || q) for distributions given as log probabilities."""
    return float(np.sum(np.exp(p_log) * (p_log - q_log)))


def kl_reduction(
    candidate_texts: list[str], selected: np.ndarray, buckets: int = 10_000, ngrams: int = 2, smoothing: float = 1.0
) -> dict[str, float]:
    """DSIR's predictor of downstream accuracy: how much closer to the target the selected
    set's n-gram distribution is than the candidate pool's,
    KL(target || candidates) - KL(target || selected). `selected` indexes the texts."""

    def log_probs(totals: np.ndarray) -> np.ndarray:
        t = totals + smoothing
        return np.log(t / t.sum())

    total, chosen = ngram_totals(candidate_texts, buckets, ngrams, selected)
    assert chosen is not None  # `selected` was given
    log_target = log_probs(target_counts(buckets, ngrams))
    kl_raw, kl_sel = kl(log_target, log_probs(total)), kl(log_target, log_probs(chosen))
    return {"kl_target_raw": kl_raw, "kl_target_selected": kl_sel, "kl_reduction": kl_raw - kl_sel}
