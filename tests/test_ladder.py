"""The proxy ladder's arithmetic (tasks/report/ladder.py) on constructed rankings with
known answers, its token rule, and the suite's `ladder:` key."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tasks.report import ladder as L
from tasks.suite import LadderSpec, Suite

SUITES = Path(__file__).resolve().parent.parent / "recipes" / "suites"
LARGE = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}


def test_identical_and_reversed_rankings():
    assert L.decision_accuracy(dict(LARGE), LARGE) == (1.0, 6)
    assert L.kendall_tau(dict(LARGE), LARGE)[0] == pytest.approx(1.0)
    reversed_ = {k: -v for k, v in LARGE.items()}
    assert L.decision_accuracy(reversed_, LARGE) == (0.0, 6)
    assert L.kendall_tau(reversed_, LARGE)[0] == pytest.approx(-1.0)


def test_one_swapped_pair_of_six():
    small = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}  # c and d swapped
    assert L.decision_accuracy(small, LARGE) == (pytest.approx(5 / 6), 6)
    tau, p = L.kendall_tau(small, LARGE)
    assert tau == pytest.approx((5 - 1) / 6) and 0 < p <= 1
    # agreement of order needs no direction: scores where lower is better give the same answer
    neg = lambda d: {k: -v for k, v in d.items()}  # noqa: E731
    assert L.decision_accuracy(neg(small), neg(LARGE)) == L.decision_accuracy(small, LARGE)


def test_ties_count_half_at_the_small_rung_and_drop_out_at_the_reference():
    tie_small = {"a": 1.0, "b": 1.0, "c": 3.0, "d": 4.0}
    assert L.decision_accuracy(tie_small, LARGE) == (pytest.approx(5.5 / 6), 6)
    tie_large = {"a": 1.0, "b": 1.0, "c": 3.0}
    assert L.decision_accuracy({"a": 5.0, "b": 0.0, "c": 9.0}, tie_large) == (1.0, 2)


def test_missing_and_nan_arms_are_left_out():
    small = {"a": 1.0, "b": float("nan"), "c": 3.0, "x": 0.0}
    assert L.decision_accuracy(small, LARGE) == (1.0, 1)  # only (a, c)
    acc, pairs = L.decision_accuracy({"a": 1.0}, LARGE)
    assert math.isnan(acc) and pairs == 0
    assert all(math.isnan(v) for v in L.kendall_tau({"a": 1.0}, LARGE))


def test_token_rule_capped_by_the_pool_and_trained_in_whole_steps():
    capped = L.train_tokens_for(1000, 20, dataset_tokens=5000, max_epochs=2, tokens_per_step=3000)
    assert (capped.wanted, capped.tokens, capped.capped) == (20_000, 10_000, True)  # asks for the cap, no more
    assert (capped.steps, capped.trained) == (4, 12_000)  # the trainer completes the last step
    assert capped.epochs == pytest.approx(2.4)
    free = L.train_tokens_for(1000, 20, dataset_tokens=100_000, max_epochs=2, tokens_per_step=3000)
    assert (free.tokens, free.steps, free.trained, free.capped) == (20_000, 7, 21_000, False)
    assert free.epochs == pytest.approx(0.21)
    exact = L.train_tokens_for(1000, 18, dataset_tokens=100_000, max_epochs=2, tokens_per_step=3000)
    assert (exact.tokens, exact.steps, exact.trained) == (18_000, 6, 18_000)
    assert L.train_flops(1000, 9000) == 54_000_000
    with pytest.raises(ValueError, match="must all be positive"):
        L.train_tokens_for(1000, 20, dataset_tokens=0, max_epochs=2, tokens_per_step=3000)


def test_the_plan_counts_the_steps_the_trainer_runs():
    """The plan's steps are the trainer's (tasks/train/loop.py rounds up through
    training_steps), not a rounding of its own."""
    from tasks.train.model import training_steps

    assert [training_steps(t, 4096) for t in (1, 4096, 4097, 1_196_032, 1_200_000)] == [1, 1, 2, 292, 293]
    for tokens_per_param, dataset, epochs, step in ((20, 400_000, 3, 4096), (7, 10_001, 1.5, 8192), (1, 10**6, 4, 3)):
        plan = L.train_tokens_for(368_960, tokens_per_param, dataset, epochs, step)
        assert plan.tokens <= epochs * dataset  # the request is never over the cap
        assert plan.steps == training_steps(plan.tokens, step)
        assert plan.tokens <= plan.trained < plan.tokens + step


def test_the_default_ladders_nano_rung_reuses_the_suites_models():
    """The default suite's `train_tokens` is its ladder's nano rule (3 x 400k): the nano
    rung's arms must hash like the suite's arms, data and training, so `flows.ladder`
    reuses the suite's cached models instead of training them again (it asked for
    1,196,032 tokens, 292 steps, where the suite's arms trained 293)."""
    from tasks.suite import load_suite
    from tasks.train.loop import train_hash
    from tasks.train.model import get_preset, training_steps

    suite = load_suite(SUITES / "default.yaml")
    nano = L.plan_rungs(suite, suite.ladder)[0]
    assert nano.preset == suite.preset == "nano" and nano.plan.tokens == suite.train_tokens
    p = get_preset("nano")
    suite_arms = {a.name: a for a in suite.resolved_arms()}
    rung_arms = {a.name: a for a in nano.suite.resolved_arms()}
    assert suite_arms.keys() == rung_arms.keys()
    for name, arm in suite_arms.items():
        rung = rung_arms[name]
        assert rung.data_hash() == arm.data_hash(), name
        same = ("data", "tok")  # the dataset and tokenizer digests: equal, as data_hash says
        assert train_hash(*same, rung.train, "cpu", "fp32") == train_hash(*same, arm.train, "cpu", "fp32"), name
        steps = training_steps(arm.train.tokens, p.batch_size * p.seq_len)
        assert training_steps(rung.train.tokens, p.batch_size * p.seq_len) == steps == nano.plan.steps == 293


def test_ladder_table_compares_every_smaller_rung_with_the_largest():
    scores = {
        "nano": {"bpb_mean": {"a": 3.0, "b": 2.0, "c": 1.0}, "train_loss": {"a": 1, "b": 2, "c": 3}},
        "tiny": {"bpb_mean": {"a": 1.0, "b": 2.0, "c": 3.0}},
        "mini": {"bpb_mean": {"a": 1.0, "b": 2.0, "c": 3.0}, "train_loss": {"a": 3, "b": 2, "c": 1}},
    }
    rows = L.ladder_table(scores, ["nano", "tiny", "mini"], {"nano": 1e9, "tiny": 4e9}, {"nano": 10.0, "tiny": 40.0})
    by = {(r.rung, r.metric): r for r in rows}
    assert set(by) == {("nano", "bpb_mean"), ("tiny", "bpb_mean")}  # train_loss is not a score
    assert by["nano", "bpb_mean"].decision_accuracy == 0.0 and by["nano", "bpb_mean"].kendall_tau == pytest.approx(-1)
    assert by["tiny", "bpb_mean"].decision_accuracy == 1.0 and by["tiny", "bpb_mean"].flops == 4e9
    with pytest.raises(ValueError, match="at least two rungs"):
        L.ladder_table(scores, ["nano"], {}, {})


def _suite(**kw) -> Suite:
    return Suite(
        name="s",
        sources={"cc": ["x"]},
        arms=[{"name": "a", "sources": ["cc"]}, {"name": "b", "sources": ["cc"], "language": {"allowed": ["en"]}}],
        **kw,
    )


def test_rungs_share_one_tokenizer_and_the_datasets():
    from tasks.train.model import preset_params

    suite = _suite(token_budget=60_000)
    rungs = L.plan_rungs(suite, LadderSpec(presets=["nano", "tiny"], tokens_per_param=20, max_epochs=2))
    assert [r.suite.name for r in rungs] == ["s.nano", "s.tiny"]
    arms = [a for r in rungs for a in r.suite.resolved_arms()]
    assert {a.train.vocab_size for a in arms} == {4096}  # nano's vocabulary for every rung
    assert len({a.data_hash() for a in arms if a.name == "a"}) == 1  # same data at every size
    assert rungs[1].plan.n_params == preset_params("tiny", 4096)
    assert rungs[0].plan.tokens == 120_000 and rungs[0].plan.capped  # 2 x 60k
    assert rungs[0].plan.trained == 122_880  # in 30 steps of 16 x 256
    assert {a.train.tokens for a in rungs[0].suite.resolved_arms()} == {120_000}
    with pytest.raises(ValueError, match="needs `token_budget`"):
        L.plan_rungs(_suite(), LadderSpec(presets=["nano", "tiny"]))
    with pytest.raises(ValueError, match="unknown preset"):
        LadderSpec(presets=["nano", "huge"])


def test_preset_params_match_the_built_models():
    from tasks.train.model import build_model, count_params, preset_params

    for preset, vocab in (("nano", 4096), ("tiny", 4096), ("mini", 8192)):
        assert preset_params(preset, vocab) == count_params(build_model(preset, vocab_size=vocab))


def test_plot_is_written(tmp_path):
    rows = [
        L.RungRow("nano", "bpb_mean", 0.8, 15, 0.6, 0.01, 1e11, 100.0, 6),
        L.RungRow("tiny", "bpb_mean", 0.9, 15, 0.8, 0.001, 1e12, 900.0, 6),
        L.RungRow("nano", "acc", math.nan, 0, math.nan, math.nan, 1e11, 100.0, 6),
    ]
    rows += [
        L.RungRow("nano", "bpb/wiki_leads_heldout", 0.7, 14, 0.4, 0.2, 1e11, 100.0, 6),
        L.RungRow("nano", "prob/copa", 0.6, 14, 0.2, 0.4, 1e11, 100.0, 6),
        L.RungRow("nano", "acc_centered/copa", 0.5, 12, 0.0, 1.0, 1e11, 100.0, 6),
    ]
    path = L.plot_decision_accuracy(rows, tmp_path / "d.png", highlight="bpb/wiki_leads_heldout")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_families_group_per_task_metrics_only():
    assert [L.metric_family(m) for m in ("bpb/piqa", "prob/copa", "acc_centered/copa", "acc/sciq")] == [
        "bpb",
        "prob",
        "acc",
        "acc",
    ]
    assert L.metric_family("bpb_mean") == L.metric_family("acc_centered_mean") == "other"


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_ladders_plan_their_rungs(path):
    from tasks.suite import load_suite

    suite = load_suite(path)
    if suite.ladder is None:
        pytest.skip(f"{path.name} declares no ladder")
    rungs = L.plan_rungs(suite, suite.ladder)
    assert [r.preset for r in rungs] == suite.ladder.presets
    flops = [r.flops for r in rungs]
    assert flops == sorted(flops)  # each rung costs more than the one below
    for arm in suite.arms:  # one dataset per arm, whatever the size
        assert len({a.data_hash() for r in rungs for a in r.suite.resolved_arms() if a.name == arm.name}) == 1


def test_the_rung_table_in_docs_decisions():
    """The figures docs/decisions.md states for the shipped suites' rungs."""
    from tasks.suite import load_suite

    want = {  # params, train.tokens, steps, trained tokens, capped
        "default": {
            "nano": (368_960, 1_200_000, 293, 1_200_128, True),
            "tiny": (1_377_408, 1_200_000, 147, 1_204_224, True),
        },
        "ladder": {
            "nano": (368_960, 7_379_200, 1802, 7_380_992, False),
            "tiny": (1_377_408, 8_000_000, 977, 8_003_584, True),
            "mini": (4_458_752, 8_000_000, 977, 8_003_584, True),
        },
        "ladder_small": {
            "nano": (368_960, 120_000, 30, 122_880, True),
            "tiny": (1_377_408, 120_000, 15, 122_880, True),
        },
    }
    for name, rungs in want.items():
        suite = load_suite(SUITES / f"{name}.yaml")
        got = {
            r.preset: (r.plan.n_params, r.plan.tokens, r.plan.steps, r.plan.trained, r.plan.capped)
            for r in L.plan_rungs(suite, suite.ladder)
        }
        assert got == rungs, name
