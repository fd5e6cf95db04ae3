"""Sweeps (tasks/sweep/): expansion of `sweep:` into arms, Dirichlet sampling, the mixture
model on a function with a known optimum, and the repetition-cost arithmetic."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from tasks.report.stats import Boot, TaskScores, bootstrap
from tasks.suite import Suite
from tasks.sweep import mixture_search as MS
from tasks.sweep import repetition as R
from tasks.sweep.compare import decision_boot, difference
from tasks.sweep.design import expand, point_name, round_simplex, sweep_points
from tasks.sweep.spec import SweepSpec

SOURCES = {"crawl": ["a"], "wiki": ["b"], "docs": ["c"]}
BASE = {"sources": ["crawl", "wiki", "docs"]}


def suite(sweep, **kw) -> Suite:
    return Suite.model_validate({"name": "s", "sources": SOURCES, "sweep": sweep, **kw})


# ---------------------------------------------------------------- expansion


def test_grid_count_names_and_values():
    s = suite(
        {
            "base": {**BASE, "selection": {"method": "random"}},
            "axes": {
                "selection.keep_fraction": [0.25, 0.5, 1.0],
                "mixture.max_epochs": {"low": 1, "high": 4, "num": 2},
            },
        }
    )
    names = [a.name for a in s.arms]
    assert names == [
        "keep0.25_maxep1",
        "keep0.25_maxep4",
        "keep0.5_maxep1",
        "keep0.5_maxep4",
        "keep1_maxep1",
        "keep1_maxep4",
    ]
    arm = {a.name: a for a in s.arms}["keep0.5_maxep4"]
    assert arm.selection.keep_fraction == 0.5 and arm.mixture.max_epochs == 4.0
    assert arm.selection.method == "random" and arm.sources == ["crawl", "wiki", "docs"]


def test_filter_threshold_axis_and_hand_written_arms_kept():
    s = suite(
        {"base": {**BASE, "filters": ["gopher_quality"]}, "axes": {"filters.0.params.min_doc_words": [20, 50]}},
        arms=[{"name": "baseline", "sources": ["crawl"]}],
    )
    assert [a.name for a in s.arms] == ["baseline", "min_doc_words20", "min_doc_words50"]
    assert s.arms[2].filters[0].name == "gopher_quality" and s.arms[2].filters[0].params == {"min_doc_words": 50}


def test_epochs_axis_both_forms():
    fixed_train = suite({"base": BASE, "axes": {"epochs": [1, 2, 4, 8]}}, train_tokens=160_000)
    assert [(a.name, a.token_budget) for a in fixed_train.arms] == [
        ("ep1", 160_000),
        ("ep2", 80_000),
        ("ep4", 40_000),
        ("ep8", 20_000),
    ]
    assert {a.train.tokens for a in fixed_train.resolved_arms()} == {160_000}
    fixed_unique = suite({"base": BASE, "axes": {"epochs": [1, 3]}}, token_budget=10_000)
    assert [(a.name, a.train.tokens) for a in fixed_unique.arms] == [("ep1", 10_000), ("ep3", 30_000)]
    both = suite(
        [
            {"name": "a", "base": BASE, "axes": {"epochs": {"values": [1, 2], "fix": "train_tokens", "tokens": 800}}},
            {"name": "b", "base": BASE, "axes": {"epochs": {"values": [1, 2], "fix": "unique_tokens", "tokens": 400}}},
        ]
    )
    got = [(a.name, a.token_budget, a.train.tokens) for a in both.arms]
    assert got == [("a_ep1", 800, 800), ("a_ep2", 400, 800), ("b_ep1", 400, 400), ("b_ep2", 400, 800)]


def test_random_design_reproducible_by_seed_and_on_the_simplex():
    spec = {
        "base": BASE,
        "design": "random",
        "n": 5,
        "seed": 3,
        "axes": {"mixture.weights": {"dirichlet": 1.0}, "selection.keep_fraction": {"low": 0.1, "high": 0.9}},
    }
    a, b = suite(spec), suite(spec)
    assert [x.model_dump() for x in a.arms] == [x.model_dump() for x in b.arms]
    c = suite({**spec, "seed": 4})
    assert [x.name for x in a.arms] != [x.name for x in c.arms]
    for arm in a.arms:
        w = arm.mixture.weights
        assert set(w) == {"crawl", "wiki", "docs"}
        assert math.isclose(sum(w.values()), 1.0, abs_tol=1e-9) and min(w.values()) >= 0
        assert arm.name.startswith(f"mix_crawl{w['crawl']:g}_wiki{w['wiki']:g}_docs{w['docs']:g}_keep")
        assert 0.1 <= arm.selection.keep_fraction <= 0.9


def test_random_over_discrete_axes_draws_distinct_points():
    s = suite({"base": BASE, "design": "random", "n": 4, "axes": {"selection.keep_fraction": [0.2, 0.4, 0.6, 0.8]}})
    assert sorted(a.selection.keep_fraction for a in s.arms) == [0.2, 0.4, 0.6, 0.8]
    with pytest.raises(ValidationError, match="only 4 points"):
        suite({"base": BASE, "design": "random", "n": 5, "axes": {"selection.keep_fraction": [0.2, 0.4, 0.6, 0.8]}})


def test_round_trip_through_json_does_not_duplicate_arms():
    s = suite({"base": BASE, "axes": {"epochs": [1, 2]}}, train_tokens=1000)
    again = Suite.model_validate_json(s.model_dump_json())
    assert [a.name for a in again.arms] == ["ep1", "ep2"]
    clash = s.model_dump()
    clash["arms"][0]["token_budget"] = 5
    with pytest.raises(ValidationError, match="ep1.*other content"):
        Suite.model_validate(clash)


@pytest.mark.parametrize(
    ("axes", "kw", "message"),
    [
        ({"mixture.wieghts": [{"crawl": 1}]}, {}, "'wieghts' is not a field of mixture"),
        ({"filters.0.params.x": [1]}, {}, "has 0 item"),
        ({"selection.keep_fraction": [2.0]}, {}, "point keep2: selection.keep_fraction"),
        ({"train.preset": ["tiny"]}, {}, "suite's `preset`"),
        ({"token_budget": [10]}, {"token_budget": 5}, "suite's `token_budget`"),
        ({"epochs": [1, 2]}, {}, "exactly one of the suite's train_tokens"),
        ({"mixture.weights": {"dirichlet": 1.0}}, {}, "Dirichlet axis needs design: random"),
        ({"selection.keep_fraction": {"low": 0.1, "high": 0.9}}, {}, "needs `num`"),
        ({"selection.keep_fraction": {"low": 0.9, "high": 0.1, "num": 2}}, {}, "low < high"),
        ({"selection.keep_fraction": []}, {}, "empty list"),
        ({"selection.keep_fraction.x": [1]}, {}, "is a value, it has no field 'x'"),
    ],
)
def test_validation_errors_name_the_field(axes, kw, message):
    with pytest.raises(ValidationError, match=message):
        suite({"base": BASE, "axes": axes}, **kw)


def test_empty_design_and_missing_n_are_errors():
    with pytest.raises(ValidationError, match="axes"):
        suite({"base": BASE, "axes": {}})
    with pytest.raises(ValidationError, match="needs `n`"):
        suite({"base": BASE, "design": "random", "axes": {"selection.keep_fraction": [0.5]}})
    with pytest.raises(ValidationError, match="needs `arms` or a `sweep`"):
        Suite.model_validate({"name": "s", "sources": SOURCES})
    with pytest.raises(ValidationError, match="max_arms"):
        suite({"base": BASE, "max_arms": 3, "axes": {"selection.keep_fraction": [0.1, 0.2, 0.3, 0.4]}})


def test_dirichlet_over_domains_needs_groups():
    base = {**BASE, "mixture": {"group_by": "domain"}}
    with pytest.raises(ValidationError, match="needs `over"):
        suite({"base": base, "design": "random", "n": 2, "axes": {"mixture.weights": {"dirichlet": 1.0}}})
    s = suite(
        {
            "base": base,
            "design": "random",
            "n": 2,
            "axes": {"mixture.weights": {"dirichlet": 0.5, "over": ["a.org", "b.com"]}},
        }
    )
    assert set(s.arms[0].mixture.weights) == {"a.org", "b.com"}


def test_points_carry_their_values():
    spec = SweepSpec.model_validate({"base": BASE, "axes": {"epochs": [2]}})
    (p,) = expand(spec, {"train_tokens": 100})
    assert p.name == "ep2" and p.values == {"epochs": 2} and p.recipe.token_budget == 50
    assert [q.name for q in sweep_points(suite({"base": BASE, "axes": {"epochs": [2]}}, train_tokens=100))] == ["ep2"]
    assert (
        point_name({"mixture.weights": {"a": 0.5, "b": 0.5}, "language.allowed": ["en"]}) == "mix_a0.5_b0.5_allowed-en"
    )


# ---------------------------------------------------------------- Dirichlet


def test_round_simplex_sums_to_one():
    w = round_simplex(np.array([1 / 3, 1 / 3, 1 / 3]))
    assert math.isclose(w.sum(), 1.0) and sorted(w) == [0.33, 0.33, 0.34]
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = round_simplex(rng.dirichlet([0.3, 0.3, 0.3, 0.3]))
        assert math.isclose(w.sum(), 1.0, abs_tol=1e-9) and (w >= 0).all()
        assert np.allclose(w * 100, np.round(w * 100))
    with pytest.raises(ValueError):
        round_simplex(np.array([0.0, 0.0]))


def test_sample_simplex():
    x = MS.sample_simplex(5000, 3, alpha=1.0, seed=1)
    assert x.shape == (5000, 3) and (x >= 0).all() and np.allclose(x.sum(axis=1), 1.0)
    assert np.allclose(x.mean(axis=0), 1 / 3, atol=0.02)  # symmetric Dirichlet: mean 1/K
    assert np.array_equal(x, MS.sample_simplex(5000, 3, alpha=1.0, seed=1))
    # concentrated alpha: close to the centre
    assert MS.sample_simplex(1000, 3, alpha=50.0, seed=1).std(axis=0).max() < 0.05


# ---------------------------------------------------------------- mixture model


TRUE_OPT = np.array([0.5, 0.3, 0.2])


def _bowl(x: np.ndarray) -> np.ndarray:
    """Lower is better; the minimum (1.0) is at TRUE_OPT, inside the simplex."""
    return 1.0 + 2.0 * ((x - TRUE_OPT) ** 2).sum(axis=1)


@pytest.mark.parametrize("kind", ["quadratic", "gp"])
def test_model_recovers_a_known_optimum(kind):
    x = MS.sample_simplex(24, 3, seed=2)
    y = _bowl(x) + np.random.default_rng(3).normal(0, 1e-3, len(x))
    held = MS.held_out(x, y, kind)
    assert held.folds == 24 and len(held.predicted) == 24
    assert held.mae < 0.02 * np.ptp(y) + 2e-3
    assert held.spearman > 0.9
    model = MS.fit(x, y, kind)
    opt = MS.predict_optimum(model, ["a", "b", "c"], higher_is_better=False, candidates=20_000, top_k=20, seed=5)
    w = np.array([opt.weights[g] for g in "abc"])
    assert math.isclose(w.sum(), 1.0, abs_tol=1e-9)
    assert np.abs(w - TRUE_OPT).max() <= 0.05
    assert abs(opt.predicted - 1.0) < 0.01
    # higher-is-better flips the search: the maximum of the bowl is at a vertex
    top = MS.predict_optimum(model, ["a", "b", "c"], higher_is_better=True, candidates=5000, top_k=1, seed=5)
    assert max(top.weights.values()) > 0.8


def test_linear_model_and_kfold_on_a_linear_function():
    x = MS.sample_simplex(20, 4, seed=0)
    y = x @ np.array([1.0, 2.0, 3.0, 4.0])
    held = MS.held_out(x, y, "linear", folds=5)
    assert held.folds == 5 and held.mae < 0.01 and held.spearman > 0.99
    opt = MS.predict_optimum(MS.fit(x, y, "linear"), list("abcd"), higher_is_better=True, top_k=1)
    assert max(opt.weights, key=opt.weights.get) == "d"


def test_model_input_errors():
    with pytest.raises(ValueError, match="at least 3"):
        MS.held_out(np.eye(2), np.ones(2))
    with pytest.raises(ValueError, match="unknown mixture model"):
        MS.make_model("xgboost")
    with pytest.raises(ValueError, match="finite"):
        MS.fit(np.eye(3), np.array([1.0, np.nan, 2.0]))


# ---------------------------------------------------------------- repetition


def _boot(point, reps) -> Boot:
    return Boot(point=np.asarray(point, float), replicates=np.asarray(reps, float))


def test_repetition_cost_on_constructed_numbers():
    # bpb rises 0.05 per doubling of epochs; every replicate shifts all arms alike plus a
    # small per-arm wobble, so the slope interval is tight around 0.05
    epochs = [1, 2, 4, 8]
    point = 1.5 + 0.05 * np.log2(epochs)
    rng = np.random.default_rng(0)
    reps = point + rng.normal(0, 0.2, (500, 1)) + rng.normal(0, 0.002, (500, 4))
    arms = ["ep8", "ep1", "ep4", "ep2"]
    order = [3, 0, 2, 1]  # the same arms given out of order
    c = R.repetition_cost(arms, [8, 1, 4, 2], _boot(point[order], reps[:, order]), False, "fixed", "bpb/lm")
    assert c.epochs == [1, 2, 4, 8] and c.arms == ["ep1", "ep2", "ep4", "ep8"]
    assert math.isclose(c.per_doubling.value, 0.05, rel_tol=1e-9)
    assert 0.045 < c.per_doubling.lo < 0.05 < c.per_doubling.hi < 0.055
    assert c.per_doubling.p_worse == 1.0
    assert [round(s["cost"], 9) for s in c.steps] == [0.05, 0.05, 0.05]
    # higher-is-better metric: a falling accuracy is a positive cost too
    acc = R.repetition_cost(arms, [8, 1, 4, 2], _boot(-point[order], -reps[:, order]), True, "fixed", "acc")
    assert math.isclose(acc.per_doubling.value, 0.05, rel_tol=1e-9)
    # uneven steps: 1 -> 4 epochs is two doublings
    c2 = R.repetition_cost(["a", "b"], [1, 4], _boot([1.0, 1.2], [[1.0, 1.2]]), False, "f", "bpb")
    assert math.isclose(c2.steps[0]["cost_per_doubling"], 0.1) and math.isclose(c2.per_doubling.value, 0.1)
    assert "per doubling of epochs" in R.to_markdown([c], "s")


def test_slope_needs_two_epochs():
    with pytest.raises(ValueError, match="two distinct"):
        R.slope([1.0, 1.0], np.array([1.0, 2.0]))


def test_decision_boot_matches_the_report_draws():
    """compare.decision_boot draws like the report's bootstrap, so a paired difference of
    two arms equals the one from tasks.report.stats on the same arrays."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 0.3, 40), rng.normal(1.1, 0.3, 40)
    items = [
        {"arm": arm, "seed": 0, "task": "t", "item": str(i), "metric": "bpb", "value": float(v), "weight": 1.0}
        for arm, vals in (("a", a), ("b", b))
        for i, v in enumerate(vals)
    ]
    boot = decision_boot(items, "bpb", ["t"], ["a", "b"], n_boot=500)
    ref = bootstrap(TaskScores(np.stack([a, b])), 500, 0)
    assert np.allclose(boot.replicates, ref.replicates)
    d = difference(boot, 0, 1, higher_is_better=False)
    assert math.isclose(d["diff"], a.mean() - b.mean())
    assert d["lo"] < d["diff"] < d["hi"] and d["p_better"] > 0.5


# ---------------------------------------------------------------- the Prefect form


def test_a_sweep_suite_passes_through_the_ablation_form():
    """The ablation deployment's form sends `suite_spec` as JSON: a suite with `sweep:`
    validates into its expanded arms, and so does a dumped suite (no duplicates)."""
    from flows.ablation import ablation_flow

    data = {"name": "s", "sources": SOURCES, "train_tokens": 1000, "sweep": {"base": BASE, "axes": {"epochs": [1, 2]}}}
    params = ablation_flow.validate_parameters({"suite_spec": data})
    assert [a.name for a in params["suite_spec"].arms] == ["ep1", "ep2"]
    again = ablation_flow.validate_parameters({"suite_spec": params["suite_spec"].model_dump(mode="json")})
    assert [a.name for a in again["suite_spec"].arms] == ["ep1", "ep2"]
    schema = json.dumps(parameter_schema(ablation_flow).model_dump())
    assert "SweepSpec" in schema and "DirichletAxis" in schema and "EpochsAxis" in schema


def test_mixture_report_and_plot(tmp_path):
    x = MS.sample_simplex(6, 3, seed=0)
    y = _bowl(x)
    held = MS.held_out(x, y)
    opt = MS.predict_optimum(MS.fit(x, y), list("abc"), higher_is_better=False, candidates=2000, top_k=10)
    points = [
        MS.MixturePoint(
            f"p{i}", dict(zip("abc", map(float, w))), float(v), float(v) - 0.01, float(v) + 0.01, float(h), 6e4
        )
        for i, (w, v, h) in enumerate(zip(x, y, held.predicted))
    ]
    s = MS.MixtureSearch("s", "bpb/lm", False, list("abc"), "quadratic", points, held, opt, "opt_mix")
    s.optimum_observed = MS.MixturePoint("opt_mix", opt.weights, 1.01, 1.0, 1.02, None, 6e4)
    s.best_sampled = "p0"
    s.vs_best = {"diff": -0.02, "lo": -0.03, "hi": -0.01, "p_better": 0.99}
    md = MS.to_markdown(s)
    assert "**opt_mix** (optimum)" in md and "leave-one-out" in md and "P(optimum better) 0.990" in md
    assert json.loads(json.dumps(s.as_dict()))["optimum"]["weights"] == opt.weights
    assert MS.plot_predicted_vs_observed(s, tmp_path / "p.png").stat().st_size > 1000
    boot = _boot([1.0, 1.1], [[1.0, 1.1], [1.01, 1.12]])
    cost = R.repetition_cost(["a", "b"], [1, 2], boot, False, "fixed training tokens", "bpb/lm")
    assert R.plot([cost], tmp_path / "r.png").stat().st_size > 1000
