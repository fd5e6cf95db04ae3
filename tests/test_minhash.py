"""MinHash signatures: datatrove's normalisation, shingling edge cases, estimate quality."""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.dedup.minhash import (
    MinhashConfig,
    MinHasher,
    compute_shard,
    estimated_jaccard,
    exact_jaccard,
    hash_words,
    normalize_texts,
    shingle_sets,
)
from tests.dedup_helpers import cc_texts, docs_table, jaccard_pairs, mutate, reference_shingles


def test_normalisation_matches_datatrove_on_real_docs():
    from datatrove.utils.text import simplify_text as simplify  # the peer, pinned (`.[peer]`)

    texts = cc_texts()[:200] + ["Ça coûte 1.000,50 € — «très» cher!", "", "   ", "tab\tand\nnewline 42"]
    assert normalize_texts(texts) == [simplify(t) for t in texts]


def test_word_hashes_are_stable_and_independent_of_batching():
    words = pa.array(["alpha", "beta", "", "gamma", "ünïcode", "alpha"])
    h = hash_words(words)
    assert h[0] == h[5] and len(set(h.tolist())) == 5
    assert (hash_words(words.slice(3)) == h[3:]).all()  # sliced arrays (offsets)
    assert (hash_words(pa.array(["gamma"], pa.large_string())) == h[3]).all()


def test_short_and_empty_documents():
    hasher = MinHasher()
    sig, n_sh = hasher.signatures(["", "two words", "two   WORDS!", "other words", None, "one two three four five six"])
    assert n_sh.tolist() == [0, 1, 1, 1, 0, 2]  # < 5 words: one shingle of all
    assert (sig[0] == 0xFFFFFFFF).all() and (sig[4] == 0xFFFFFFFF).all()
    assert (sig[1] == sig[2]).all()  # same after normalisation
    assert estimated_jaccard(sig[1], sig[3]) < 0.1


def test_signatures_are_deterministic_and_batch_independent():
    texts = cc_texts()[:60]
    a, _ = MinHasher().signatures(texts)
    b, _ = MinHasher().signatures(texts[30:])
    assert (a[30:] == b).all()
    c, _ = MinHasher(MinhashConfig(seed=2)).signatures(texts[:5])
    assert not (a[:5] == c).all()


def test_estimated_jaccard_tracks_exact_jaccard():
    """On real documents with planted edits: unbiased, spread as 112 permutations predict."""
    rng = np.random.default_rng(1)
    texts = [t for t in cc_texts() if len(t.split()) > 80][:120]
    variants = [mutate(t, rng.uniform(0.05, 0.5), texts[(i + 7) % len(texts)], rng) for i, t in enumerate(texts)]
    n = len(texts)
    # Truth from the test's own shingler (tests/dedup_helpers.py), not the product's.
    ref = [reference_shingles(t) for t in texts + variants]
    exact = np.array([len(ref[i] & ref[n + i]) / len(ref[i] | ref[n + i]) for i in range(n)])
    sig, _ = MinHasher().signatures(texts + variants)
    est = estimated_jaccard(sig[:n], sig[n:])
    err = est - exact
    assert abs(err.mean()) < 0.015
    assert err.std() < 0.06  # binomial sd at J=0.5 with K=112 is 0.047


def test_compute_shard_writes_bands_and_signatures(tmp_path):
    texts = ["", "short doc", *cc_texts()[:20]]
    shard = tmp_path / "shard-00000.parquet"
    pq.write_table(docs_table(texts), shard)
    info = compute_shard(shard, 3, tmp_path / "out")
    n_empty = sum(1 for t in normalize_texts(texts) if not t)
    assert n_empty >= 1 and info == {"shard": "shard-00003.parquet", "docs": 22, "empty": n_empty}
    bands = pq.read_table(tmp_path / "out" / "shard-00003.parquet")
    sigs = pq.read_table(tmp_path / "out" / "sigs" / "shard-00003.parquet")
    assert bands.num_rows == (22 - n_empty) * 14 and bands.schema.field("band_hash").type == pa.uint64()
    assert sigs.num_rows == 22 and sigs.column("doc_order").to_pylist()[0] == 3 << 32
    assert not (tmp_path / "out" / "shard-00003.tmp").exists()


def test_config_hash_and_threshold():
    cfg = MinhashConfig()
    assert cfg.num_perm == 112 and abs(cfg.threshold() - 0.719) < 0.01
    assert abs(cfg.detection_probability(0.8) - 0.924) < 0.001
    assert cfg.config_hash() != MinhashConfig(n_grams=3).config_hash()
    with pytest.raises(ValueError):
        MinhashConfig(num_bands=0)


# ---------------------------------------------------------------- the product's shingles vs the test's own

_SHINGLE_EDGES = [
    "",
    None,
    "!!!",
    "two words",
    "Two   WORDS!",
    "one two three four",
    "one two three four five",
    "Ça coûte 1.000,50 € — «très» cher! Ça coûte 1.000,50 € encore.",
    "a b a b a b a b a b",
]


@functools.cache
def _real_docs() -> tuple[str | None, ...]:
    from tasks.core.reference import wiki_leads

    rng = np.random.default_rng(3)
    base = cc_texts() + wiki_leads("train").column("text").to_pylist()[:300]
    long = [t for t in base if len(t.split()) > 60]
    planted = [mutate(t, rng.uniform(0.0, 0.4), long[(i + 11) % len(long)], rng) for i, t in enumerate(long[:200])]
    return tuple(base + planted + _SHINGLE_EDGES)


def assert_shingles_agree(texts, cfg: MinhashConfig = MinhashConfig()) -> None:
    """The product's shingle sets (hashes) against the reference shingler (tuples of words):
    the same number of distinct shingles in every document, and the same exact Jaccard for
    every pair of documents that share a shingle (so the same sets, up to renaming)."""
    product = shingle_sets(texts, cfg)
    reference = [reference_shingles(t, cfg) for t in texts]
    sizes = [(i, len(p), len(r)) for i, (p, r) in enumerate(zip(product, reference)) if len(p) != len(r)]
    assert not sizes, f"shingle counts differ (doc, product, reference): {sizes[:5]}"
    mine, truth = jaccard_pairs(product), jaccard_pairs(reference)
    assert mine.keys() == truth.keys(), f"pairs sharing a shingle differ: {len(mine)} vs {len(truth)}"
    off = [(p, mine[p], truth[p]) for p in truth if mine[p] != truth[p]]
    assert not off, f"Jaccard differs (pair, product, reference): {off[:5]}"
    sample = sorted(truth)[:: max(1, len(truth) // 500)]  # and exact_jaccard (dedup's verification) computes it
    off = [(i, j) for i, j in sample if abs(exact_jaccard(product[i], product[j]) - truth[(i, j)]) > 1e-12]
    assert not off, f"exact_jaccard differs from the reference on pairs {off[:5]}"


def test_product_shingles_equal_the_reference_shingler_on_real_docs():
    """1,200 real documents (CC sample, Wikipedia leads, planted near duplicates, edge cases)."""
    texts = list(_real_docs())
    assert len(texts) > 1150
    assert_shingles_agree(texts)
    assert_shingles_agree(texts[:300], MinhashConfig(n_grams=3))


def _off_by_one(real):
    return lambda word_hashes, counts, n: real(word_hashes, counts, n - 1)


def _last_shingle_dropped(real):
    def buggy(word_hashes, counts, n):
        h, n_sh = real(word_hashes, counts, n)
        keep = np.ones(len(h), dtype=bool)
        keep[np.cumsum(n_sh)[n_sh > 1] - 1] = False
        return h[keep], np.where(n_sh > 1, n_sh - 1, n_sh)

    return buggy


def _word_hash_collisions(real):
    def buggy(texts, cfg):
        hashes, counts = real(texts, cfg)
        return hashes & np.uint64(0x3FF), counts  # 10-bit word hashes: words collide

    return buggy


@pytest.mark.parametrize(
    "target, plant",
    [
        ("shingle_hashes", _off_by_one),
        ("shingle_hashes", _last_shingle_dropped),
        ("_word_hashes_of", _word_hash_collisions),
    ],
    ids=["ngram-off-by-one", "last-shingle-dropped", "word-hash-collisions"],
)
def test_a_planted_shingling_bug_is_caught(monkeypatch, target, plant):
    """The agreement check fails on a planted bug in the product's shingling, and the truth
    the accuracy tests use (true_similar_pairs) does not move with it."""
    import tasks.dedup.minhash as M
    from tests.dedup_helpers import true_similar_pairs

    texts = list(_real_docs()[:400] + _real_docs()[-209:])
    truth_before = true_similar_pairs(texts, MinhashConfig(), 0.8)
    monkeypatch.setattr(M, target, plant(getattr(M, target)))
    with pytest.raises(AssertionError):
        assert_shingles_agree(texts)
    assert true_similar_pairs(texts, MinhashConfig(), 0.8) == truth_before
