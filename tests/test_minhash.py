"""MinHash signatures: datatrove's normalisation, shingling edge cases, estimate quality."""

from __future__ import annotations

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
from tests.dedup_helpers import cc_texts, docs_table, mutate


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
    sets = shingle_sets(texts + variants)
    n = len(texts)
    exact = np.array([exact_jaccard(sets[i], sets[n + i]) for i in range(n)])
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
