"""Decisions with training noise (tasks/report/decide.py): simulated arms whose true gap is
known, so coverage and the verdict can be checked against the truth."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.report import decide as D
from tasks.report.stats import TaskScores


def simulate(
    rng,
    true_means,
    n_seeds,
    seed_sd=0.04,
    ckpt_sd=None,
    n_items=200,
    item_sd=0.3,
    n_ckpt=4,
    with_ckpt=True,
):
    """Per-item final scores and per-run snapshot values for arms with known means.

    A run's value is mean + seed effect (N(0, seed_sd)); each snapshot adds N(0, ckpt_sd).
    Items: a shared difficulty per item plus independent noise per run."""
    # snapshots as the model assumes them: seed variance = CKPT_INFLATION x snapshot variance
    ckpt_sd = seed_sd / np.sqrt(D.CKPT_INFLATION) if ckpt_sd is None else ckpt_sd
    n_arms = len(true_means)
    difficulty = rng.normal(0, item_sd, n_items)
    values = np.empty((n_arms, n_seeds, n_items))
    run_value = np.full((n_arms, n_seeds), np.nan)
    ckpt_var = np.full((n_arms, n_seeds), np.nan)
    n_ck = np.zeros((n_arms, n_seeds))
    for a, mu in enumerate(true_means):
        for s in range(n_seeds):
            u = mu + rng.normal(0, seed_sd)
            snaps = u + rng.normal(0, ckpt_sd, n_ckpt)
            final = snaps[-1]
            values[a, s] = final + difficulty + rng.normal(0, 0.05, n_items)
            if with_ckpt:
                run_value[a, s] = snaps.mean()
                ckpt_var[a, s] = snaps.var(ddof=1)
                n_ck[a, s] = n_ckpt
            else:
                run_value[a, s] = values[a, s].mean()
    arms = [f"arm{i}" for i in range(n_arms)]
    runs = D.RunTable(arms, list(range(n_seeds)), run_value, ckpt_var, n_ck)
    return arms, [TaskScores(values)], runs


def test_combined_interval_covers_the_true_gap_at_three_seeds():
    rng = np.random.default_rng(7)
    gap = 0.05
    hits = 0
    n_sim = 200
    for k in range(n_sim):
        arms, tasks, runs = simulate(rng, [1.0, 1.0 + gap], 3)
        dec = D.decide("bpb", tasks, arms, False, runs, n_rep=1000, seed=k)
        _, lo, hi = dec.diff_interval("arm1", "arm0")
        hits += lo <= gap <= hi
    assert hits / n_sim >= 0.90


def test_item_only_interval_would_not_cover():
    """The same simulation with the training noise left out covers far less: the reason
    the combined interval exists (fails if decide() stops drawing training noise)."""
    rng = np.random.default_rng(8)
    gap, hits, n_sim = 0.05, 0, 100
    for k in range(n_sim):
        arms, tasks, runs = simulate(rng, [1.0, 1.0 + gap], 1)
        from tasks.report.stats import bootstrap

        boot = bootstrap(tasks, 1000, k, resample_seeds=False)
        d = boot.replicates[:, 1] - boot.replicates[:, 0]
        hits += np.quantile(d, 0.025) <= gap <= np.quantile(d, 0.975)
    assert hits / n_sim < 0.5


def test_one_seed_without_snapshots_is_undecided_and_never_certain():
    rng = np.random.default_rng(1)
    arms, tasks, runs = simulate(rng, [1.0, 1.5, 2.0], 1, with_ckpt=False)
    dec = D.decide("bpb", tasks, arms, False, runs, n_rep=500)
    assert not dec.noise.known
    assert not dec.decided
    line = dec.verdict()
    assert line.startswith("Undecided") and "training noise is unknown" in line
    assert "1.000" not in line
    assert sorted(dec.plausible_best) == arms


def test_a_clear_winner_is_decided_with_p_printed_below_one():
    rng = np.random.default_rng(2)
    arms, tasks, runs = simulate(rng, [1.0, 1.5, 2.0], 3)
    dec = D.decide("bpb", tasks, arms, False, runs, n_rep=2000)
    assert dec.decided and dec.leader == "arm0"
    assert dec.plausible_best == ["arm0"]
    assert "beats every other arm" in dec.verdict() and "> 0.999" in dec.verdict()
    assert dec.p_rank1[0] > 0.99
    assert dec.rank_lo[0] == dec.rank_hi[0] == 1


def test_close_arms_are_undecided_with_their_p():
    rng = np.random.default_rng(3)
    arms, tasks, runs = simulate(rng, [1.0, 1.005, 2.0], 2)
    dec = D.decide("bpb", tasks, arms, False, runs, n_rep=2000)
    assert not dec.decided
    assert set(dec.plausible_best) == {"arm0", "arm1"}
    assert "Undecided among" in dec.verdict() and "P(" in dec.verdict()
    # only contenders get seeds, and only below the cap
    assert set(D.contenders(dec, max_seeds=5)) == {"arm0", "arm1"}
    assert D.contenders(dec, max_seeds=2) == []


def test_failed_and_contract_failed_arms_are_named():
    rng = np.random.default_rng(4)
    arms, tasks, runs = simulate(rng, [1.0, 2.0], 2)
    dec = D.decide("bpb", tasks, arms, False, runs, failed=["random"], contract_failed=["arm1"])
    line = dec.verdict()
    assert "No verdict against `random`: it failed." in line
    assert "Token contract failed for `arm1`" in line


def test_training_noise_prior_and_seeds():
    v = np.array([[1.0, 1.2], [2.0, 2.2]])
    runs = D.RunTable(["a", "b"], [0, 1], v, np.full((2, 2), 0.01), np.full((2, 2), 4))
    tn = D.training_noise(runs, inflation=4.0, prior_df=4.0)
    assert tn.seed_df == 2 and tn.seed_var == pytest.approx(0.02)
    assert tn.ckpt_var == pytest.approx(0.01)
    assert tn.var == pytest.approx((4 * 0.04 + 2 * 0.02) / 6)
    assert tn.source == "seeds+checkpoints"
    only = D.training_noise(D.RunTable(["a"], [0], v[:1, :1], np.array([[0.01]]), np.array([[4]])))
    assert only.source == "checkpoints" and only.df == D.PRIOR_DF


def test_holm():
    adj = D.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adj["a"] == pytest.approx(0.03)
    assert adj["c"] == pytest.approx(0.06)
    assert adj["b"] == pytest.approx(0.06)


def test_fmt_p():
    assert D.fmt_p(1.0) == "> 0.999"
    assert D.fmt_p(0.0) == "< 0.001"
    assert D.fmt_p(0.7123) == "0.712"


def test_run_table_from_rows_averages_snapshots():
    items = [
        {"arm": "a", "seed": 0, "task": "t", "item": i, "metric": "bpb", "value": 2.0, "weight": 1.0} for i in range(3)
    ]
    snaps = [
        {"arm": "a", "seed": 0, "step": st, "task": "t", "item": i, "metric": "bpb", "value": v, "weight": 1.0}
        for st, v in [(8, 2.2), (9, 2.1), (10, 2.0)]
        for i in range(3)
    ]
    rt = D.run_table(items, snaps, "bpb", ["t"], ["a"], [0])
    assert rt.value[0, 0] == pytest.approx(2.1)
    assert rt.ckpt_var[0, 0] == pytest.approx(0.01)
    assert rt.n_ckpt[0, 0] == 3
    rt2 = D.run_table(items, [], "bpb", ["t"], ["a"], [0])
    assert rt2.value[0, 0] == pytest.approx(2.0) and np.isnan(rt2.ckpt_var[0, 0])


# ---------------------------------------------------------------- adaptive seeds


class FakeSuite:
    """Arms with known means; each run costs 60 fake seconds; the verdict is decide() over
    the seeds each arm has run (training noise from seeds and snapshots)."""

    def __init__(self, means, seed_sd=0.04, fail=()):
        self.means, self.seed_sd, self.fail = means, seed_sd, set(fail)
        self.now = 0.0
        self.runs: dict[tuple[str, int], float] = {}
        self.rng = np.random.default_rng(11)
        self.difficulty = self.rng.normal(0, 0.3, 100)

    def run_round(self, jobs):
        ok = []
        for arm, seed in jobs:
            self.now += 60.0
            good = (arm, seed) not in self.fail
            if good:
                self.runs[(arm, seed)] = self.means[arm] + self.rng.normal(0, self.seed_sd)
            ok.append(good)
        return ok

    def verdict(self):
        arms = sorted(self.means)
        seeds = sorted({s for _, s in self.runs})
        values = np.full((len(arms), len(seeds), 100), np.nan)
        run_value = np.full((len(arms), len(seeds)), np.nan)
        ck = np.full_like(run_value, np.nan)
        for (a, s), v in self.runs.items():
            i, j = arms.index(a), seeds.index(s)
            values[i, j] = v + self.difficulty
            run_value[i, j] = v
            ck[i, j] = (self.seed_sd**2) / D.CKPT_INFLATION
        runs = D.RunTable(arms, seeds, run_value, ck, np.where(np.isfinite(run_value), 4, 0))
        return D.decide("bpb", [TaskScores(values)], arms, False, runs, n_rep=1000)


def _first_round(suite):
    jobs = [(a, 0) for a in sorted(suite.means)]
    suite.run_round(jobs)
    return jobs


def test_adaptive_adds_seeds_only_to_contenders_until_decided():
    from tasks.report import adaptive as A

    suite = FakeSuite({"a": 1.00, "b": 1.06, "far": 2.0, "farther": 2.5})
    first = _first_round(suite)
    rounds = A.add_seeds(
        suite.verdict, suite.run_round, first, A.Rule(max_seeds=8), 0.0, 240.0, 4, 1, lambda: suite.now
    )
    assert rounds.rounds, "close arms need more seeds"
    added_arms = {a for a, _ in rounds.jobs}
    assert added_arms <= {"a", "b"}  # the clearly worse arms never get another seed
    assert all(s >= 1 for _, s in rounds.jobs)
    final = suite.verdict()
    assert final.decided and final.leader == "a" and rounds.reason == ""


def test_adaptive_stops_at_the_time_budget():
    from tasks.report import adaptive as A

    suite = FakeSuite({"a": 1.00, "b": 1.001, "c": 1.002})  # never separable
    first = _first_round(suite)
    # 3 runs took 180 s; budget 8 min: a full round of 3 fits (to 6 min), then only 2 runs
    # (the leader and its closest rival, to 8 min), then none
    rule = A.Rule(max_seeds=50, budget_minutes=8)
    seen = []

    def verdict():
        seen.append(suite.verdict())
        return seen[-1]

    rounds = A.add_seeds(verdict, suite.run_round, first, rule, 0.0, 180.0, 3, 1, lambda: suite.now)
    assert rounds.reason.startswith("Time budget reached (8 min")
    assert suite.now <= 8 * 60
    assert [len(r) for r in rounds.rounds] == [3, 2]
    # the partial round: the leader of that moment and the rival least separated from it
    assert [a for a, _ in rounds.rounds[1]] == seen[1].plausible_best[:2]
    assert seen[1].plausible_best[0] == seen[1].leader


def test_adaptive_stops_at_the_seed_cap_and_on_a_failed_run():
    from tasks.report import adaptive as A

    suite = FakeSuite({"a": 1.00, "b": 1.001})
    first = _first_round(suite)
    rounds = A.add_seeds(
        suite.verdict, suite.run_round, first, A.Rule(max_seeds=3), 0.0, 120.0, 2, 1, lambda: suite.now
    )
    assert rounds.reason == "Seed cap reached (3 per arm)."
    assert sorted(rounds.jobs) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]

    broken = FakeSuite({"a": 1.00, "b": 1.001}, fail=[("b", 1)])
    first = _first_round(broken)
    rounds = A.add_seeds(
        broken.verdict, broken.run_round, first, A.Rule(max_seeds=9), 0.0, 120.0, 2, 1, lambda: broken.now
    )
    assert rounds.reason == "Stopped adding seeds: b-seed1 failed." and len(rounds.rounds) == 1


def test_one_arm_has_nothing_to_compare():
    rng = np.random.default_rng(5)
    arms, tasks, runs = simulate(rng, [1.0], 2)
    dec = D.decide("bpb", tasks, arms, False, runs)
    assert not dec.decided and dec.verdict() == "Undecided: only `arm0` has a score, nothing to compare it with."
