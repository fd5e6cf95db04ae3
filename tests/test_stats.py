"""The paired bootstrap, P(A>B) and SNR on simulated data whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.report.stats import (
    MetricDef,
    TaskScores,
    bootstrap,
    paired_bootstrap,
    prob_better,
    snr,
    suite_summary,
    summarize,
)


def test_interval_of_a_mean_covers_the_truth_95_percent_of_the_time():
    # 1000 seeded experiments: 100 items each, skewed per-item scores (gamma, like
    # per-document bits per byte) with known mean 2.0.
    rng = np.random.default_rng(7)
    covered = 0
    n_exp = 1000
    for i in range(n_exp):
        x = rng.gamma(shape=4.0, scale=0.5, size=100)
        lo, hi = bootstrap(TaskScores(x), n_boot=1000, seed=i).interval()
        covered += lo[0] <= 2.0 <= hi[0]
    assert 0.93 <= covered / n_exp <= 0.97


def test_paired_difference_interval_covers_the_true_gap():
    # Two arms on the same items: a large shared item difficulty, a true gap of 0.05 and
    # independent per-item noise. Coverage of the paired interval of A - B.
    rng = np.random.default_rng(11)
    covered, n_exp = 0, 600
    for i in range(n_exp):
        difficulty = rng.normal(0, 1.0, size=80)
        a = difficulty + 0.05 + rng.normal(0, 0.2, size=80)
        b = difficulty + rng.normal(0, 0.2, size=80)
        d = paired_bootstrap(a, b, n_boot=1000, seed=i)
        covered += d.lo <= 0.05 <= d.hi
    assert 0.93 <= covered / n_exp <= 0.97


def test_byte_weighted_mean_matches_the_ratio_definition():
    x, w = np.array([1.0, 3.0]), np.array([10.0, 30.0])
    assert bootstrap(TaskScores(x, w), n_boot=10).point[0] == pytest.approx(2.5)


def test_prob_better_identical_and_clearly_better_arms():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 1, size=200)
    a = difficulty + rng.normal(0, 0.3, size=200)
    same = prob_better(a, a.copy())
    assert same == pytest.approx(0.5)
    # B = A + independent noise with no shift: P near 0.5 (not near 0 or 1)
    b = difficulty + rng.normal(0, 0.3, size=200)
    shifted = b - b.mean() + a.mean()
    assert 0.2 < prob_better(a, shifted) < 0.8
    # A clearly better (higher): P near 1; with lower-is-better the same data gives ~0
    better = a + 0.5
    assert prob_better(better, a) > 0.999
    assert prob_better(better, a, higher_is_better=False) < 0.001


def test_seeds_are_resampled_too():
    # Two arms whose items agree exactly but whose seeds scatter: the seed noise must
    # widen the interval (items alone would give a zero-width one).
    items = np.tile(np.linspace(0, 1, 50), (2, 3, 1))
    seed_effect = np.array([[0.0, 0.2, -0.2], [0.0, 0.0, 0.0]])[:, :, None]
    boot = bootstrap(TaskScores(items + seed_effect), n_boot=500, seed=0)
    lo, hi = boot.interval()
    assert hi[0] - lo[0] > 0.1
    assert boot.point[0] == pytest.approx(boot.point[1])


def test_snr_on_constructed_arms():
    # 5 arms, per-item noise sd 1 over 400 items (noise of a mean: 0.05); arm means spread
    # with sd 0.5 -> SNR about 10. Identical-in-expectation arms -> SNR about 1.
    rng = np.random.default_rng(5)
    n = 400
    shifts = np.array([-0.6, -0.3, 0.0, 0.3, 0.6])  # sample sd 0.474
    difficulty = rng.normal(0, 3.0, size=n)  # shared by all arms: must not count as noise
    vals = difficulty + shifts[:, None] + rng.normal(0, 1.0, size=(5, n))
    s = snr(bootstrap(TaskScores(vals), n_boot=1000))
    expected = np.std(shifts, ddof=1) / (1.0 / np.sqrt(n))
    assert s == pytest.approx(expected, rel=0.2)
    null = difficulty + rng.normal(0, 1.0, size=(5, n))
    assert 0.3 < snr(bootstrap(TaskScores(null), n_boot=1000)) < 2.0


def test_summary_ties_and_matrix_from_long_rows():
    rng = np.random.default_rng(9)
    rows = []
    truth = {"good": 1.8, "close": 1.805, "bad": 2.4}
    difficulty = rng.normal(0, 0.5, size=60)
    for arm, mu in truth.items():
        for seed in (0, 1):
            for i in range(60):
                v = mu + difficulty[i] + rng.normal(0, 0.05)
                rows.append(dict(arm=arm, seed=seed, task="t", item=i, metric="bpb", value=v, weight=100 + i))
    out = suite_summary(rows, {"bpb/t": MetricDef("bpb", ("t",), False)}, arms=["good", "close", "bad"])
    s = out["bpb/t"]
    assert s.best in ("good", "close") and "bad" not in s.ties_with_best
    assert set(s.ties_with_best) | {s.best} == {"good", "close"}
    p = np.array(s.p_better)
    assert np.allclose(np.diag(p), 0.5) and np.allclose(p + p.T, 1.0)
    assert p[0, 2] > 0.99  # good beats bad
    for i in range(3):
        assert s.lo[i] <= s.mean[i] <= s.hi[i]
    assert s.n_items == {"t": 60} and s.n_seeds == 2
    d = s.as_dict()
    assert d["arms"]["bad"]["mean"] == pytest.approx(s.mean[2])


def test_summary_with_a_missing_arm_seed():
    vals = np.array([[[1.0, 2.0, 3.0], [np.nan] * 3], [[1.5, 2.5, 3.5], [1.5, 2.5, 3.5]]])
    s = summarize({"t": TaskScores(vals)}, ["a", "b"], True, n_boot=200)
    assert s.mean == pytest.approx([2.0, 2.5])


def test_an_arm_missing_a_seed_still_gets_an_interval():
    # arm a lost seed 1 (failed run); replicates that draw only seed 1 skip it.
    rng = np.random.default_rng(2)
    base = rng.normal(0, 1, size=40)
    vals = np.stack([np.stack([base + 1.0, np.full(40, np.nan)]), np.stack([base, base + 0.01])])
    s = summarize({"t": TaskScores(vals)}, ["a", "b"], True, n_boot=400)
    assert np.isfinite(s.lo).all() and np.isfinite(s.hi).all()
    assert s.p_better[0][1] > 0.99 and s.best == "a"
