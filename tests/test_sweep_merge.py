"""Mixture search by merged partition models (tasks/sweep/merge.py): the weighted average of
state dicts, the training hook that continues from a warm-up, which mixtures are trained,
the rank agreement and its intervals, the `sweep.merge` option, and a toy pool whose
planted best partition the merged score ranks first."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from tasks.core.reference import wiki_leads
from tasks.core.workspace import Workspace
from tasks.suite import Suite
from tasks.sweep import merge as MG
from tests.test_train import SEQ, nano_spec, write_parts

SOURCES = {"crawl": ["a"], "wiki": ["b"], "docs": ["c"], "news": ["d"]}
BASE = {"sources": ["crawl", "wiki", "docs", "news"]}


def _states():
    import torch

    g = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g)}
    b = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g)}
    return a, b


# ---------------------------------------------------------------- merging


def test_merge_at_one_zero_is_the_first_model_and_at_halves_the_mean():
    import torch

    a, b = _states()
    first = MG.merge([a, b], [1.0, 0.0])
    assert all(torch.equal(first[k], a[k]) for k in a)
    half = MG.merge([a, b], [0.5, 0.5])
    for k in a:
        assert torch.allclose(half[k], (a[k] + b[k]) / 2, atol=1e-7)
    quarter = MG.merge([a, b], [1, 3])  # weights are normalised
    assert torch.allclose(quarter["w"], 0.25 * a["w"] + 0.75 * b["w"], atol=1e-6)
    same = MG.merge([a, a, a], [0.2, 0.3, 0.5])  # merging identical models returns the model
    assert all(torch.allclose(same[k], a[k], atol=1e-6) for k in a)


def test_merge_refuses_bad_weights_and_mismatched_models():
    a, b = _states()
    for w in ([0.0, 0.0], [-1.0, 2.0], [1.0]):
        with pytest.raises(ValueError, match="weight"):
            MG.merge([a, b], w)
    with pytest.raises(ValueError, match="other tensors"):
        MG.merge([a, {"w": b["w"]}], [0.5, 0.5])


def test_init_from_starts_training_from_the_named_models_weights(tmp_path):
    """The loop's hook: the key names a sibling model folder, and it is part of the hash."""
    import torch

    from tasks.train.loop import INIT_FROM, _init_from, train_hash
    from tasks.train.model import build_model

    src = build_model("nano", vocab_size=512, eos_id=0, seed=1)
    src.save_pretrained(tmp_path / "warm")
    model = build_model("nano", vocab_size=512, eos_id=0, seed=2)
    _init_from(model, tmp_path / "warm")
    want = src.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in model.state_dict().items())
    spec = nano_spec()
    cont = MG.partition_spec(spec, 0.25, "warm")
    assert cont.options[INIT_FROM] == "warm" and cont.tokens == spec.tokens - round(spec.tokens * 0.25)
    assert MG.warmup_spec(spec, 0.25).tokens == round(spec.tokens * 0.25)
    key = lambda s: train_hash("d", "t", s, "cpu", "fp32")  # noqa: E731
    assert key(spec) != key(spec.model_copy(update={"options": {INIT_FROM: "warm"}}))


# ---------------------------------------------------------------- picking and agreement


def test_pick_takes_the_best_then_random_others():
    scores = [3.0, 1.0, 2.0, 5.0, 4.0, 0.5, 6.0]
    picked = MG.pick(scores, top=2, random=3, higher_is_better=False, seed=0)
    assert picked[:2] == [5, 1]  # lowest bits per byte first
    assert len(set(picked)) == 5 and not set(picked[2:]) & {5, 1}
    assert MG.pick(scores, 2, 3, False, seed=0) == picked  # seeded
    assert MG.pick(scores, top=1, random=0, higher_is_better=True) == [6]
    assert len(MG.pick(scores, top=5, random=9, higher_is_better=True)) == 7  # at most every point


def test_spearman_and_pairwise_accuracy_on_known_orders():
    x = [1.0, 2.0, 3.0, 4.0]
    assert MG.spearman(x, [10, 20, 30, 40]) == pytest.approx(1.0)
    assert MG.spearman(x, [40, 30, 20, 10]) == pytest.approx(-1.0)
    assert math.isnan(MG.spearman(x, [1, 1, 1, 1]))
    assert MG.pairwise_accuracy(x, [10, 20, 30, 40]) == 1.0
    assert MG.pairwise_accuracy(x, [20, 10, 30, 40]) == pytest.approx(5 / 6)  # one of six pairs swapped
    assert MG.pairwise_accuracy(x, [10, 10, 30, 40]) == pytest.approx(5.5 / 6)  # a tie counts half
    assert MG.pairwise_accuracy(x, x, [0, 0]) != MG.pairwise_accuracy(x, x, [0, 0])  # only a self-pair: NaN


def test_agreement_intervals_on_synthetic_scores():
    rng = np.random.default_rng(0)
    trained = rng.normal(size=30)
    good = MG.agreement(trained + 0.1 * rng.normal(size=30), trained, boot=500, seed=1)
    assert good.spearman > 0.9 and good.spearman_lo > 0.8 and good.spearman_lo <= good.spearman <= good.spearman_hi
    assert good.accuracy > 0.85 and good.accuracy_lo <= good.accuracy <= good.accuracy_hi <= 1.0
    unrelated = MG.agreement(rng.normal(size=30), trained, boot=500, seed=1)
    assert unrelated.spearman_lo < 0 < unrelated.spearman_hi  # no signal: the interval covers 0
    assert unrelated.accuracy_lo < 0.5 < unrelated.accuracy_hi
    assert unrelated.spearman_hi - unrelated.spearman_lo > good.spearman_hi - good.spearman_lo
    with pytest.raises(ValueError, match=">= 3"):
        MG.agreement([1.0, 2.0], [1.0, 2.0])


# ---------------------------------------------------------------- the option


def _sweep(**merge):
    return {
        "name": "m",
        "base": BASE,
        "design": "random",
        "n": 12,
        "axes": {"mixture.weights": {"dirichlet": 1.0}},
        "merge": merge,
    }


def test_a_merge_sweep_adds_no_arms_and_validates():
    s = Suite.model_validate({"name": "s", "sources": SOURCES, "sweep": _sweep(top=2, random=1)})
    assert s.arms == [] and s.sweep.merge.top == 2  # the merged points are scored, not trained
    from tasks.sweep.design import sweep_points
    from tasks.sweep.report import sweep_kind

    assert len(sweep_points(s)) == 12 and sweep_kind(s.sweep) == "merge"
    plain = {k: v for k, v in _sweep().items() if k != "merge"}
    assert len(Suite.model_validate({"name": "s", "sources": SOURCES, "sweep": plain}).arms) == 12
    for bad, msg in (
        ({**_sweep(), "design": "grid", "n": None, "axes": {"token_budget": [1, 2]}}, "design random"),
        ({**_sweep(top=10, random=5)}, "more than n=12"),
        ({**_sweep(top=1, random=1)}, "at least 3"),
        ({**_sweep(warmup=1.0)}, "warmup"),
    ):
        with pytest.raises(ValidationError, match=msg):
            Suite.model_validate({"name": "s", "sources": SOURCES, "sweep": bad})


def test_merge_search_suite_loads_with_four_partitions():
    from flows.ablation import _load
    from tasks.sweep.design import dirichlet_groups, expand, suite_fields

    s = _load("recipes/suites/merge_search.yaml")
    (path, axis), *_ = s.sweep.axes.items()
    groups = dirichlet_groups(axis, s.sweep.base, path)
    assert len(groups) >= 4 and s.arms == []
    assert len(expand(s.sweep, suite_fields(s))) >= 50
    pool, parts = MG.partition_recipes(s.sweep, suite_fields(s), path, groups)
    assert set(pool.mixture.weights.values()) == {1 / len(groups)}
    assert all(parts[g].mixture.weights[g] == 1.0 and sum(parts[g].mixture.weights.values()) == 1.0 for g in groups)


# ---------------------------------------------------------------- a toy pool, end to end


def _texts(texts: list[str], name: str) -> pa.Table:
    n = len(texts)
    return pa.table(
        {
            "doc_id": [f"{name}{i}" for i in range(n)],
            "source": [name] * n,
            "url": [""] * n,
            "text": texts,
            "repeat": pa.array([1] * n, pa.int64()),
        }
    )


def test_merged_scores_rank_a_planted_best_partition_first(tmp_path, cc_docs_table):
    """Two partitions (Wikipedia leads, crawl), a warm-up on both and one model per partition
    continued from it: on held-out Wikipedia leads the merged score orders mixtures by their
    weight on the Wikipedia partition, and `pick` takes the Wikipedia-heavy one first."""
    import torch

    from tasks.train.loop import train
    from tasks.train.tokenizer import build_tokenizer
    from tasks.train.tokens import tokenize_dataset

    ws = Workspace.from_env(tmp_path / "ws")
    wiki = wiki_leads("train").column("text").to_pylist()[:200]
    crawl = cc_docs_table.column("text").to_pylist()[:100]
    _, tok = build_tokenizer(ws, 512, wiki[:100] + crawl[:50])
    parts = {"wiki": wiki, "crawl": crawl}
    packed = {}
    for name, texts in {**parts, "pool": wiki[:100] + crawl[:50]}.items():
        data = write_parts(tmp_path / "ds" / name, _texts(texts, name))
        packed[name], _ = tokenize_dataset(ws, data, tok, SEQ, seed=0)
    spec = nano_spec(tokens=SEQ * 4 * 16, lr=1e-2)
    models = tmp_path / "models"
    train(packed["pool"], tok, models / "warm", MG.warmup_spec(spec, 0.25), progress=False)
    for name in parts:
        train(packed[name], tok, models / name, MG.partition_spec(spec, 0.25, "warm"), progress=False)
    # the loop's hook: a run at a negligible learning rate ends where the warm-up ended
    still = MG.partition_spec(nano_spec(tokens=SEQ * 4 * 2, lr=1e-12), 0.25, "warm")
    train(packed["wiki"], tok, models / "still", still, progress=False)
    warm, kept = MG.load_state(models / "warm"), MG.load_state(models / "still")
    assert all(torch.allclose(kept[k], warm[k], atol=1e-6) for k in warm)
    states = [MG.load_state(models / g) for g in parts]
    mixes = [[0.5, 0.5], [0.1, 0.9], [0.9, 0.1], [0.3, 0.7]]  # weights on (wiki, crawl)
    merged_dir = MG.save_merged(models / "wiki", MG.merge(states, mixes[0]), tmp_path / "merged")
    scorer = MG.MergedScorer(merged_dir, {"wiki_leads_heldout": 8})  # a saved merge loads as a model
    scores = [scorer.score(MG.merge(states, w))["wiki_leads_heldout"] for w in mixes]
    assert MG.pick(scores, top=1, random=0, higher_is_better=False) == [2], scores  # wiki 0.9
    assert MG.spearman(scores, [-w for w, _ in mixes]) == pytest.approx(1.0), scores
