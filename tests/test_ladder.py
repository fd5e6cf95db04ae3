"""The proxy ladder's arithmetic (tasks/report/ladder*.py) on constructed rankings with
known answers, its token rule, and the suite's `ladder:` key."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tasks.report import ladder as L
from tasks.report import ladder_accuracy as LA
from tasks.report import ladder_plan as LP
from tasks.report import ladder_plot as LG
from tasks.report import ladder_scores as LS
from tasks.suite import LadderSpec, Suite

SUITES = Path(__file__).resolve().parent.parent / "recipes" / "suites"
LARGE = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}


def test_identical_and_reversed_rankings():
    assert LA.decision_accuracy(dict(LARGE), LARGE) == (1.0, 6)
    assert LA.kendall_tau(dict(LARGE), LARGE)[0] == pytest.approx(1.0)
    reversed_ = {k: -v for k, v in LARGE.items()}
    assert LA.decision_accuracy(reversed_, LARGE) == (0.0, 6)
    assert LA.kendall_tau(reversed_, LARGE)[0] == pytest.approx(-1.0)


def test_one_swapped_pair_of_six():
    small = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}  # c and d swapped
    assert LA.decision_accuracy(small, LARGE) == (pytest.approx(5 / 6), 6)
    tau, p = LA.kendall_tau(small, LARGE)
    assert tau == pytest.approx((5 - 1) / 6) and 0 < p <= 1
    # agreement of order needs no direction: scores where lower is better give the same answer
    neg = lambda d: {k: -v for k, v in d.items()}  # noqa: E731
    assert LA.decision_accuracy(neg(small), neg(LARGE)) == LA.decision_accuracy(small, LARGE)


def test_ties_count_half_at_the_small_rung_and_drop_out_at_the_reference():
    tie_small = {"a": 1.0, "b": 1.0, "c": 3.0, "d": 4.0}
    assert LA.decision_accuracy(tie_small, LARGE) == (pytest.approx(5.5 / 6), 6)
    tie_large = {"a": 1.0, "b": 1.0, "c": 3.0}
    assert LA.decision_accuracy({"a": 5.0, "b": 0.0, "c": 9.0}, tie_large) == (1.0, 2)


def test_missing_and_nan_arms_are_left_out():
    small = {"a": 1.0, "b": float("nan"), "c": 3.0, "x": 0.0}
    assert LA.decision_accuracy(small, LARGE) == (1.0, 1)  # only (a, c)
    acc, pairs = LA.decision_accuracy({"a": 1.0}, LARGE)
    assert math.isnan(acc) and pairs == 0
    assert all(math.isnan(v) for v in LA.kendall_tau({"a": 1.0}, LARGE))


def test_token_rule_capped_by_the_pool_and_trained_in_whole_steps():
    capped = LP.train_tokens_for(1000, 20, dataset_tokens=5000, max_epochs=2, tokens_per_step=3000)
    assert (capped.wanted, capped.tokens, capped.capped) == (20_000, 10_000, True)  # asks for the cap, no more
    assert (capped.steps, capped.trained) == (4, 12_000)  # the trainer completes the last step
    assert capped.epochs == pytest.approx(2.4)
    free = LP.train_tokens_for(1000, 20, dataset_tokens=100_000, max_epochs=2, tokens_per_step=3000)
    assert (free.tokens, free.steps, free.trained, free.capped) == (20_000, 7, 21_000, False)
    assert free.epochs == pytest.approx(0.21)
    exact = LP.train_tokens_for(1000, 18, dataset_tokens=100_000, max_epochs=2, tokens_per_step=3000)
    assert (exact.tokens, exact.steps, exact.trained) == (18_000, 6, 18_000)
    assert LP.train_flops(1000, 9000) == 54_000_000
    with pytest.raises(ValueError, match="must all be positive"):
        LP.train_tokens_for(1000, 20, dataset_tokens=0, max_epochs=2, tokens_per_step=3000)


def test_the_plan_counts_the_steps_the_trainer_runs():
    """The plan's steps are the trainer's (tasks/train/loop.py rounds up through
    training_steps), not a rounding of its own."""
    from tasks.train.model import training_steps

    assert [training_steps(t, 4096) for t in (1, 4096, 4097, 1_196_032, 1_200_000)] == [1, 1, 2, 292, 293]
    for tokens_per_param, dataset, epochs, step in ((20, 400_000, 3, 4096), (7, 10_001, 1.5, 8192), (1, 10**6, 4, 3)):
        plan = LP.train_tokens_for(368_960, tokens_per_param, dataset, epochs, step)
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
    from tasks.train.model import training_steps
    from tasks.train.spec import get_preset

    suite = load_suite(SUITES / "default.yaml")
    nano = LP.plan_rungs(suite, suite.ladder)[0]
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
    rungs = LP.plan_rungs(suite, LadderSpec(presets=["nano", "tiny"], tokens_per_param=20, max_epochs=2))
    assert [r.suite.name for r in rungs] == ["s.nano", "s.tiny"]
    arms = [a for r in rungs for a in r.suite.resolved_arms()]
    assert {a.train.vocab_size for a in arms} == {4096}  # nano's vocabulary for every rung
    assert len({a.data_hash() for a in arms if a.name == "a"}) == 1  # same data at every size
    assert rungs[1].plan.n_params == preset_params("tiny", 4096)
    assert rungs[0].plan.tokens == 120_000 and rungs[0].plan.capped  # 2 x 60k
    assert rungs[0].plan.trained == 122_880  # in 30 steps of 16 x 256
    assert {a.train.tokens for a in rungs[0].suite.resolved_arms()} == {120_000}
    with pytest.raises(ValueError, match="needs `token_budget`"):
        LP.plan_rungs(_suite(), LadderSpec(presets=["nano", "tiny"]))
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
    path = LG.plot_decision_accuracy(rows, tmp_path / "d.png", highlight="bpb/wiki_leads_heldout")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_families_group_per_task_metrics_only():
    assert [LG.metric_family(m) for m in ("bpb/piqa", "prob/copa", "acc_centered/copa", "acc/sciq")] == [
        "bpb",
        "prob",
        "acc",
        "acc",
    ]
    assert LG.metric_family("bpb_mean") == LG.metric_family("acc_centered_mean") == "other"
    # decisions over several tasks are not per-task metrics: they stay out of the family means
    assert {LG.metric_family(m) for m in ("bpb/lm", "prob/benchmarks", "bpb/wiki_leads_heldout+news_heldout")} == {
        "other"
    }


def _declares_ladder(path: Path) -> bool:
    import yaml

    return "ladder" in (yaml.safe_load(path.read_text()) or {})


WITH_LADDER = sorted(p for p in SUITES.glob("*.yaml") if _declares_ladder(p))
WITHOUT_LADDER = sorted(p for p in SUITES.glob("*.yaml") if not _declares_ladder(p))


def test_which_shipped_suites_declare_a_ladder():
    # The split below is by the YAML itself; a suite gaining or losing `ladder:` shows here.
    assert [p.stem for p in WITH_LADDER] == ["default", "ladder", "ladder_extrapolate", "ladder_small"]
    assert [p.stem for p in WITHOUT_LADDER] == [
        "attribution",
        "meco",
        "membership",
        "merge_search",
        "mixture_search",
        "odm",
        "perplexity_models",
        "rehydrate",
        "repetition",
    ]


def _check_rungs(suite, ladder) -> None:
    rungs = LP.plan_rungs(suite, ladder)
    assert [r.preset for r in rungs] == ladder.presets
    flops = [r.flops for r in rungs]
    assert flops == sorted(flops) and len(set(flops)) == len(flops)  # each rung costs more than the one below
    for arm in suite.arms:  # one dataset per arm, whatever the size
        assert len({a.data_hash() for r in rungs for a in r.suite.resolved_arms() if a.name == arm.name}) == 1


@pytest.mark.parametrize("path", WITH_LADDER, ids=lambda p: p.stem)
def test_shipped_ladders_plan_their_rungs(path):
    from tasks.suite import load_suite

    suite = load_suite(path)
    assert suite.ladder is not None
    _check_rungs(suite, suite.ladder)


@pytest.mark.parametrize("path", WITHOUT_LADDER, ids=lambda p: p.stem)
def test_suites_without_a_ladder_plan_rungs_from_presets_or_refuse(path):
    """`python -m flows.ladder SUITE --presets nano,tiny` runs any suite: one with a
    suite-level token budget plans its rungs like a declared ladder; a sweep suite (its
    budget set per arm) is refused with a message naming the missing key."""
    from tasks.suite import load_suite

    suite = load_suite(path)
    assert suite.ladder is None
    ladder = LadderSpec(presets=["nano", "tiny"])
    if suite.token_budget:
        _check_rungs(suite, ladder)
    else:
        with pytest.raises(ValueError, match="a ladder needs `token_budget`"):
            LP.plan_rungs(suite, ladder)


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
            for r in LP.plan_rungs(suite, suite.ladder)
        }
        assert got == rungs, name


# ---------------------------------------------------------------- the decision metric's row

ARMS = ["a", "b", "c", "d"]
FAMILY_TASKS = {"bpb": ("wiki_leads_heldout", "news_heldout"), "prob": ("hellaswag", "arc_easy"), "acc": ("hellaswag",)}


def _decision(metric: str, on: list[str]):
    from tasks.report.model import Decision
    from tasks.suite import DecisionSpec

    return Decision.from_spec(DecisionSpec(metric=metric, on=on))


def _item_rows(values: dict[str, float], family: str, tasks, seeds=(0,), n_items: int = 20) -> list[dict]:
    """Per-item rows whose per-task weighted item mean is exactly values[arm] (acc: the
    first round(value x n_items) items correct). Item difficulty is shared by every arm
    and cancels in the mean; bpb items carry byte weights."""
    rows = []
    for arm, v in values.items():
        for seed in seeds:
            for task in tasks:
                for i in range(n_items):
                    if family == "acc":
                        value, weight = float(i < round(v * n_items)), 1.0
                    else:
                        value, weight = v + (0.1 if i % 2 else -0.1), 100.0  # +-0.1 on equal weights
                    rows.append(
                        {
                            "arm": arm,
                            "seed": seed,
                            "task": task,
                            "item": i,
                            "metric": family,
                            "value": value,
                            "weight": weight,
                        }
                    )
    return rows


@pytest.mark.parametrize(
    "metric, on",
    [
        ("bpb", ["wiki_leads_heldout"]),  # one text: also a catalog metric of the same name
        ("bpb", ["wiki_leads_heldout", "news_heldout"]),  # two texts: no catalog metric
        ("bpb", ["lm"]),
        ("prob", ["benchmarks"]),
        ("acc", ["hellaswag"]),  # the catalog has acc_centered/hellaswag, never acc/hellaswag
    ],
    ids=["bpb-one-text", "bpb-two-texts", "bpb-lm", "prob-benchmarks", "acc-task"],
)
def test_the_decision_metric_is_always_a_row(metric, on):
    """Whatever its form, the suite's decision metric is computed per arm from the per-item
    scores and is the first row of every smaller rung, marked as the decision. The rungs'
    catalog numbers are per task (`bpb/<text>`, `acc_centered/<task>`), never the
    decision's name (except bpb on one text); they are given values that order the arms
    the other way, so a row built from them would be wrong."""
    decision = _decision(metric, on)
    tasks = FAMILY_TASKS[metric] if len(on) > 1 or on[0] in ("lm", "benchmarks") else tuple(on)
    large = {"a": 0.2, "b": 0.4, "c": 0.6, "d": 0.8}
    small = {"a": 0.2, "b": 0.4, "c": 0.8, "d": 0.6}  # c and d swapped: 5 of 6 pairs agree
    data = {}
    for rung, values in (("nano", small), ("tiny", large)):
        prefix = "acc_centered" if metric == "acc" else metric
        seed_rows = [
            {"arm": a, "seed": 0, "metric": f"{prefix}/{t}", "value": -v} for a, v in values.items() for t in tasks
        ]
        data[rung] = LS.rung_scores(seed_rows, _item_rows(values, metric, tasks), decision)
        assert data[rung].decision_source == "per-item scores"
        assert data[rung].means[decision.name] == pytest.approx(values)
    rows = L.ladder_table(data, ["nano", "tiny"], {}, {}, decision=decision.name)
    first = rows[0]
    assert first.metric == decision.name and first.decision
    assert [r.metric for r in rows if r.decision] == [decision.name]
    assert first.decision_accuracy == pytest.approx(5 / 6) and first.pairs == 6
    md = L.to_markdown(rows, [], "tiny", {}, decision=decision.name)
    assert f"| nano | **{decision.name}** (decides) | 0.833 [" in md


def test_the_decision_row_is_there_without_values_and_from_catalog_means():
    decision = _decision("prob", ["benchmarks"])
    scores = {"nano": {"bpb_mean": {"a": 1.0, "b": 2.0}}, "tiny": {"bpb_mean": {"a": 1.0, "b": 2.0}}}
    rows = L.ladder_table(scores, ["nano", "tiny"], {}, {}, decision=decision.name)
    row = next(r for r in rows if r.decision)
    assert row.metric == "prob/benchmarks" and row.pairs == 0 and math.isnan(row.decision_accuracy)
    # no per-item scores (evaluations from before they were kept): the mean of the catalog's per-task numbers
    seed_rows = [
        {"arm": a, "seed": 0, "metric": f"prob/{t}", "value": v + d}
        for a, v in {"a": 0.3, "b": 0.2}.items()
        for t, d in (("hellaswag", 0.0), ("arc_easy", 0.1))
    ]
    got = LS.rung_scores(seed_rows, [], decision)
    assert got.decision_source == "catalog means"
    assert got.means["prob/benchmarks"] == pytest.approx({"a": 0.35, "b": 0.25})


# ---------------------------------------------------------------- failed rungs and arms


def test_a_failed_rung_is_named_and_never_scored():
    """The rung's catalog still holds numbers (a rung whose arms were not token-matched
    records its scores, then raises): they must not be scored."""
    scores = {r: {"bpb_mean": dict(LARGE)} for r in ("nano", "tiny", "mini")}
    error = "TokenBudgetError: arms are not token-matched"
    rows = L.ladder_table(scores, ["nano", "tiny", "mini"], {}, {}, decision="bpb_mean", failed={"nano": error})
    by = {r.rung: r for r in rows}
    assert len(rows) == 2 and by["nano"].failed == error
    assert math.isnan(by["nano"].decision_accuracy) and by["nano"].pairs == 0
    assert by["tiny"].failed is None and by["tiny"].decision_accuracy == 1.0
    md = L.to_markdown(rows, [], "mini", {}, decision="bpb_mean", failed_rungs={"nano": error})
    assert f"failed: {error}" in md and "## Failed" in md and "rung **nano** failed, not scored" in md
    # a failed reference: nothing is scored
    rows = L.ladder_table(scores, ["nano", "tiny", "mini"], {}, {}, decision="bpb_mean", failed={"mini": error})
    assert [r.failed for r in rows] == [f"reference rung mini failed: {error}"] * 2
    assert all(r.pairs == 0 for r in rows)


def test_run_rungs_records_a_failed_rung_and_runs_the_next():
    import logging

    from flows.ladder import run_rungs

    rungs = LP.plan_rungs(_suite(token_budget=60_000), LadderSpec(presets=["nano", "tiny"]))
    ran = []

    def run_one(rung):
        ran.append(rung.preset)
        if rung.preset == "nano":
            raise RuntimeError("ingest failed")

    walls, failed = run_rungs(rungs, run_one, logging.getLogger("test"))
    assert ran == ["nano", "tiny"] and failed == {"nano": "RuntimeError: ingest failed"}
    assert set(walls) == {"nano", "tiny"}


def test_failed_and_missing_arms_are_named_and_left_out():
    seed_rows = [
        {"arm": a, "seed": 0, "metric": "bpb_mean", "value": v} for a, v in {"a": 1.0, "b": 2.0, "old": 0.5}.items()
    ]
    runs = [
        {"arm": "a", "seed": 0, "status": "completed", "error": None},
        {"arm": "b", "seed": 0, "status": "completed", "error": None},
        {"arm": "c", "seed": 0, "status": "failed", "error": "ValueError: pool too small"},
        {"arm": "old", "seed": 0, "status": "completed", "error": None},  # not an arm of this suite any more
    ]
    got = LS.rung_scores(seed_rows, runs=runs, arms=["a", "b", "c", "d"], seeds=[0])
    assert got.means == {"bpb_mean": {"a": 1.0, "b": 2.0}}
    assert got.failed_arms == [
        {"arm": "c", "seed": 0, "error": "ValueError: pool too small"},
        {"arm": "d", "seed": 0, "error": "no run recorded"},
    ]
    md = L.to_markdown([], [], "tiny", {}, failed_arms={"nano": got.failed_arms})
    assert "arm **c** seed 0 failed, left out of every accuracy: ValueError: pool too small" in md


def test_read_rung_from_the_catalog(catalog):
    """Through the SQL: a failed arm's leftover numbers and items are not read; the
    decision comes from the items."""
    from flows.ladder import read_rung

    rung = LP.plan_rungs(_suite(token_budget=60_000), LadderSpec(presets=["nano", "tiny"]))[1]
    decision = _decision("bpb", ["wiki_leads_heldout", "news_heldout"])
    for arm, status, v in (("a", "completed", 2.0), ("b", "failed", 1.0)):
        catalog.insert(
            "arm_runs",
            [{"suite": "s.tiny", "arm": arm, "seed": 0, "status": status, "error": "boom", "eval_key": f"e{arm}"}],
        )
        catalog.insert("arm_metrics", [{"suite": "s.tiny", "arm": arm, "seed": 0, "metric": "bpb_mean", "value": v}])
        items = _item_rows({arm: v}, "bpb", FAMILY_TASKS["bpb"])
        catalog.insert(
            "eval_items", [{k: r[k] for k in r if k not in ("arm", "seed")} | {"eval_key": f"e{arm}"} for r in items]
        )
    got = read_rung(catalog, rung, decision, reference=True)
    assert got.means == {"bpb_mean": {"a": 2.0}, decision.name: {"a": pytest.approx(2.0)}}
    assert got.failed_arms == [{"arm": "b", "seed": 0, "error": "boom"}]


# ---------------------------------------------------------------- noise ceiling


def test_noise_ceiling_from_the_reference_seeds():
    swapped = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}
    # seeds 0 and 1 agree; seed 2 swaps one pair of six: (1 + 1 + 4 x 5/6) / 6 ordered pairs
    assert LA.noise_ceiling({0: LARGE, 1: dict(LARGE), 2: swapped}) == (pytest.approx(8 / 9), 3)
    assert LA.noise_ceiling({0: LARGE, 1: swapped}) == (pytest.approx(5 / 6), 1)
    # a tie in one seed counts 1/2 when the other seed is the reference, and drops out the
    # other way round: both directions are averaged, (5/6 + 1) / 2
    assert LA.noise_ceiling({0: {"a": 1.0, "b": 2.0, "c": 3.0}, 1: {"a": 1.0, "b": 1.0, "c": 3.0}}) == (
        pytest.approx(11 / 12),
        1,
    )
    ceiling, pairs = LA.noise_ceiling({0: LARGE})
    assert math.isnan(ceiling) and pairs == 0
    ref = LS.RungScores(means={"m": dict(LARGE)}, per_seed={"m": {0: LARGE, 1: dict(LARGE), 2: swapped}})
    rows = L.ladder_table({"nano": {"m": LARGE}, "tiny": ref}, ["nano", "tiny"], {}, {}, decision="m")
    assert rows[0].noise_ceiling == pytest.approx(8 / 9) and rows[0].ceiling_seed_pairs == 3
    assert "**Noise ceiling** on `m`: **0.889** over 3 pair(s) of seeds" in L.to_markdown(rows, [], "tiny", {}, "m")
    one = L.ladder_table({"nano": {"m": LARGE}, "tiny": {"m": LARGE}}, ["nano", "tiny"], {}, {}, decision="m")
    assert math.isnan(one[0].noise_ceiling) and one[0].ceiling_note == "n/a (one seed at the reference rung)"
    assert "**Noise ceiling** on `m`: n/a (one seed at the reference rung)." in L.to_markdown(one, [], "tiny", {}, "m")


# ---------------------------------------------------------------- interval and weighted accuracy


def test_interval_and_weighted_accuracy_with_known_answers():
    sure = {a: {b: 0.5 + 0.5 * LA._sign(LARGE[a] - LARGE[b]) for b in LARGE if b != a} for a in LARGE}
    assert LA.decision_accuracy(dict(LARGE), LARGE)[0] == 1.0
    assert LA.accuracy_interval(dict(LARGE), LARGE) == (1.0, 1.0)
    assert LA.weighted_decision_accuracy(dict(LARGE), LARGE, sure) == 1.0
    assert LA.accuracy_interval(dict(LARGE), LARGE, sure) == (1.0, 1.0)
    reversed_ = {k: -v for k, v in LARGE.items()}
    assert LA.accuracy_interval(reversed_, LARGE) == (0.0, 0.0)
    # one swapped pair of six: the interval holds 5/6 and is not a point
    swapped = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}
    lo, hi = LA.accuracy_interval(swapped, LARGE)
    assert lo < 5 / 6 <= hi <= 1.0
    # the reference separates only c from d with confidence (P = 1, weight 1); every other
    # pair is close to a coin flip (P = 0.55, weight 0.1). Reversing c and d costs the plain
    # accuracy one pair of six, the weighted accuracy most of its weight.
    p = {a: {b: 0.55 if LARGE[a] > LARGE[b] else 0.45 for b in LARGE if b != a} for a in LARGE}
    p["d"]["c"], p["c"]["d"] = 1.0, 0.0
    plain = LA.decision_accuracy(swapped, LARGE)[0]
    weighted = LA.weighted_decision_accuracy(swapped, LARGE, p)
    assert plain == pytest.approx(5 / 6)
    assert weighted == pytest.approx(5 * 0.1 / (5 * 0.1 + 1.0))
    assert 1 - weighted > 1 - plain
    # swapping an unsure pair instead (a and b) costs the weighted accuracy less than the plain
    unsure = {"a": 2.0, "b": 1.0, "c": 3.0, "d": 4.0}
    assert LA.weighted_decision_accuracy(unsure, LARGE, p) > LA.decision_accuracy(unsure, LARGE)[0]
    # no P for a separated pair: no weighted accuracy
    assert math.isnan(LA.weighted_decision_accuracy(swapped, LARGE, {"a": {"b": 0.9}}))


def test_the_interval_resamples_arms():
    """One replicate by hand: arms a, a, c drawn (counts 2, 0, 1, 0) give the pair (a, c)
    twice and nothing else; the interval's replicates follow that rule."""
    swapped = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}
    arms, agree, w = LA._pair_matrices(swapped, LARGE)
    counts = np.array([2.0, 0.0, 1.0, 0.0])
    assert counts @ (w * agree) @ counts / (counts @ w @ counts) == 1.0  # (a, c) agrees
    counts = np.array([0.0, 0.0, 1.0, 2.0])  # c once, d twice: the swapped pair, twice
    assert counts @ (w * agree) @ counts / (counts @ w @ counts) == 0.0
    # with three arms the bootstrap can draw a single pair: the swapped one alone gives 0
    lo, hi = LA.accuracy_interval({"b": 2.0, "c": 4.0, "d": 3.0}, LARGE)
    assert lo == 0.0 and hi == 1.0


def test_weights_come_from_the_reference_rungs_paired_bootstrap():
    """P(A>B) at the reference from its per-item scores: arms 0.3 apart in bits per byte
    with item noise 0.1 are told apart (weight ~1), arms 0.001 apart are not."""
    rng = np.random.default_rng(0)
    truth = {"a": 2.0, "b": 2.001, "c": 2.3}
    items = [
        {
            "arm": a,
            "seed": 0,
            "task": "wiki_leads_heldout",
            "item": i,
            "metric": "bpb",
            "value": v + d + e,
            "weight": 100.0,
        }
        for i, d in enumerate(rng.normal(0, 0.5, 200))
        for a, v in truth.items()
        for e in [rng.normal(0, 0.1)]
    ]
    decision = _decision("bpb", ["wiki_leads_heldout"])
    ref = LS.rung_scores([], items, decision, reference=True, n_boot=500)
    w = LA.p_better_weight(ref.p_better[decision.name])
    assert w("a", "c") > 0.99 and w("b", "c") > 0.99 and w("a", "b") < 0.5


def test_new_columns_in_markdown_json_and_plot(tmp_path):
    from tasks.report.model import Decision

    decision = Decision("bpb", ("wiki_leads_heldout",), ("wiki_leads_heldout",))
    rungs = LP.plan_rungs(_suite(token_budget=60_000), LadderSpec(presets=["nano", "tiny", "mini"]))
    swapped = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}
    sure = {a: {b: 0.5 + 0.5 * LA._sign(LARGE[a] - LARGE[b]) for b in LARGE if b != a} for a in LARGE}
    name = decision.name
    data = {
        "nano": LS.RungScores({name: swapped}, {name: {0: swapped}}, decision_source="per-item scores"),
        "tiny": LS.RungScores({name: swapped}, {name: {0: swapped}}, decision_source="per-item scores"),
        "mini": LS.RungScores({name: dict(LARGE)}, {name: {0: LARGE, 1: LARGE}}, {name: sure}, [], "per-item scores"),
    }
    flops = {r.preset: r.flops for r in rungs}
    rows = L.ladder_table(data, ["nano", "tiny", "mini"], flops, {}, decision=name, failed={"tiny": "X: y"})
    md = L.to_markdown(
        rows, rungs, "mini", {}, name, {"tiny": "X: y"}, {}, {p: d.decision_source for p, d in data.items()}
    )
    assert "| decision accuracy [95%] | weighted [95%] |" in md and "| noise ceiling |" in md
    assert "**Decision metric:** `bpb/wiki_leads_heldout`" in md and "**Noise ceiling** on" in md
    assert "| nano | **bpb/wiki_leads_heldout** (decides) | 0.833 [" in md
    result = L.ladder_result("s", decision, rungs, rows, {}, {"tiny": "X: y"}, data)
    json.dumps(result, allow_nan=False)  # NaN is null
    nano = next(r for r in result["rows"] if r["rung"] == "nano")
    assert nano["decision"] and nano["decision_accuracy"] == pytest.approx(5 / 6)
    assert nano["weighted_accuracy"] == pytest.approx(5 / 6) and nano["acc_lo"] <= nano["acc_hi"]
    assert nano["noise_ceiling"] == 1.0 and nano["noise_ceiling_note"] is None
    assert result["noise_ceiling"]["value"] == 1.0 and result["decision"]["name"] == name
    assert result["failed_rungs"] == {"tiny": "X: y"} and "tiny" not in result["scores"]
    assert [r["status"] for r in result["rungs"]] == ["ok", "failed", "ok"]
    path = LG.plot_decision_accuracy(rows, tmp_path / "d.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_ladder_flow_reports_a_failed_rung_and_fails(workspace, tmp_path, monkeypatch):
    """The flow end to end with a stand-in for the ablation flow (no training): the nano
    rung records completed scores and then raises, as a rung whose arms are not
    token-matched does. The report names it and scores only tiny against mini; the
    decision (bpb on two texts, a name no catalog metric has) is the first row; the flow
    fails after writing the report."""
    import yaml

    import flows.ladder as FL
    from tasks.core.catalog import Catalog

    suite_yaml = tmp_path / "s.yaml"
    suite_yaml.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "token_budget": 60_000,
                "seeds": [0, 1],
                "decision": {"metric": "bpb", "on": ["wiki_leads_heldout", "news_heldout"]},
                "sources": {"cc": ["x"]},
                "ladder": {"presets": ["nano", "tiny", "mini"]},
                "arms": [
                    {"name": a, "sources": ["cc"], "language": {"allowed": [lang]}}
                    for a, lang in zip(ARMS, ("en", "de", "fr", "es"))
                ],
            }
        )
    )
    values = {"s.nano": dict(LARGE), "s.tiny": {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}, "s.mini": dict(LARGE)}
    catalog = Catalog(workspace.catalog_path)

    class FakeAblation:
        def with_options(self, **_):
            return self

        def __call__(self, suite_spec, **_):
            name = suite_spec.name
            for seed in (0, 1):
                for arm, v in values[name].items():
                    key = f"{name}-{arm}-{seed}"
                    catalog.insert(
                        "arm_runs",
                        [{"suite": name, "arm": arm, "seed": seed, "status": "completed", "eval_key": key}],
                        replace=True,
                    )
                    catalog.insert(
                        "arm_metrics",
                        [{"suite": name, "arm": arm, "seed": seed, "metric": "bpb_mean", "value": v}],
                        replace=True,
                    )
                    rows = _item_rows({arm: v + 0.01 * seed}, "bpb", FAMILY_TASKS["bpb"])
                    catalog.insert(
                        "eval_items",
                        [{**{k: r[k] for k in r if k not in ("arm", "seed")}, "eval_key": key} for r in rows],
                    )
            if name == "s.nano":
                raise RuntimeError("arms are not token-matched")

    monkeypatch.setattr(FL, "ablation_flow", FakeAblation())
    from flows._runtime import prefect_api

    # one API for the flow, started with the project's own (long) timeout: a loaded machine
    # exceeds the ephemeral server's default start timeout
    with prefect_api():
        with pytest.raises(RuntimeError, match="rung.s. failed and were not scored: nano: RuntimeError: arms are not"):
            FL.ladder_flow(str(suite_yaml), workspace=str(workspace.root))
    out = workspace.stage_dir("reports", "ladder-s")
    md = (out / "ladder.md").read_text()
    data = json.loads((out / "ladder.json").read_text())
    assert "rung **nano** failed, not scored: RuntimeError: arms are not token-matched" in md
    assert data["failed_rungs"] == {"nano": "RuntimeError: arms are not token-matched"}
    rows = {(r["rung"], r["metric"]): r for r in data["rows"]}
    name = "bpb/wiki_leads_heldout+news_heldout"
    assert set(rows) == {("nano", name), ("tiny", name), ("tiny", "bpb_mean")}
    assert rows["nano", name]["failed"] and rows["nano", name]["decision_accuracy"] is None
    tiny = rows["tiny", name]
    assert tiny["decision"] and tiny["decision_accuracy"] == pytest.approx(5 / 6) and tiny["pairs"] == 6
    assert tiny["noise_ceiling"] == 1.0 and tiny["ceiling_seed_pairs"] == 1  # mini's two seeds agree
    assert tiny["weighted_accuracy"] is not None
    assert data["decision"]["computed_from"]["tiny"] == "per-item scores"
    assert (out / "decision_accuracy.png").exists()
    # the extrapolation rows: nano failed, so tiny alone is below mini and its value is the prediction
    ext = {r["metric"]: r for r in data["extrapolation"]["rows"]}
    assert ext[name]["law"] == "single size" and ext[name]["rungs"] == 1 and ext[name]["decision"]
    assert ext[name]["predicted_accuracy"] == ext[name]["largest_accuracy"] == pytest.approx(5 / 6)
    assert "## Extrapolation to the reference rung" in md
