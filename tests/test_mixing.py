"""Mixtures over real documents: CC crawl docs plus Wikipedia leads (train split)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tasks.core.reference import wiki_leads
from tasks.core.sampling import token_counts
from tasks.recipe import Recipe, load_recipe
from tasks.selection.mixing import plan_mixture, shares, upsample_factors
from tasks.selection.spec import MixtureSpec


@pytest.fixture(scope="module")
def pool(cc_docs_table):
    cc = cc_docs_table.select(["doc_id", "source", "domain", "n_chars"]).filter(
        pa.compute.greater(cc_docs_table.column("n_chars"), 0)
    )
    leads = wiki_leads("train").slice(0, 400)
    wiki = pa.table(
        {
            "doc_id": [f"wiki-{t}" for t in leads.column("title").to_pylist()],
            "source": ["wiki"] * leads.num_rows,
            "domain": ["en.wikipedia.org"] * leads.num_rows,
            "n_chars": pa.compute.utf8_length(leads.column("text")).cast(pa.int64()),
        }
    )
    return pa.concat_tables([cc.cast(wiki.schema), wiki])


def _tokens_by(plan_table: pa.Table, pool: pa.Table, phase: str | None = None) -> dict[str, float]:
    tok = dict(zip(pool.column("doc_id").to_pylist(), token_counts(pool)))
    src = dict(zip(pool.column("doc_id").to_pylist(), pool.column("source").to_pylist()))
    out: dict[str, float] = {}
    rows = plan_table.to_pylist()
    for r in rows:
        if phase is None or r.get("phase") == phase:
            out[src[r["doc_id"]]] = out.get(src[r["doc_id"]], 0) + tok[r["doc_id"]] * r["repeat"]
    return out


def test_temperature_shares():
    avail = {"a": 900.0, "b": 100.0}
    assert shares(avail, None, 1.0, 0.0) == pytest.approx({"a": 0.9, "b": 0.1})
    assert shares(avail, None, 1e9, 0.0) == pytest.approx({"a": 0.5, "b": 0.5})
    t2 = shares(avail, None, 2.0, 0.0)
    assert t2["b"] == pytest.approx(10 / 40)
    assert shares(avail, {"a": 1.0}, None, 0.0) == {"a": 1.0, "b": 0.0}
    with pytest.raises(ValueError, match="no group with data"):
        shares(avail, {"c": 1.0}, None, 0.0)


def test_weights_resolve_to_a_token_plan_with_repeats(pool):
    spec = MixtureSpec(weights={"cc": 0.5, "wiki": 0.5}, max_epochs=3, seed=7)
    budget = 400_000
    table, plan = plan_mixture(pool, spec, budget)
    groups = plan["phases"][0]["groups"]
    got = _tokens_by(table, pool)
    for g in ("cc", "wiki"):
        assert got[g] == groups[g]["planned_tokens"]
    # crawl has plenty: cut to its half; the 400 leads (~50k tokens) repeat up to the cap
    biggest_cc_doc = max(token_counts(pool.filter(pa.compute.equal(pool.column("source"), "cc"))))
    assert abs(got["cc"] - 200_000) <= biggest_cc_doc / 2  # stops on the closer side of the target
    assert groups["wiki"]["epochs"] == 3 and groups["wiki"]["capped"]
    assert got["wiki"] == pytest.approx(3 * groups["wiki"]["available_tokens"])
    assert set(table.column("repeat").to_pylist()) == {1, 3}
    again, _ = plan_mixture(pool.take(np.random.default_rng(0).permutation(pool.num_rows)), spec, budget)
    assert again.equals(table)
    other, _ = plan_mixture(pool, spec.model_copy(update={"seed": 8}), budget)
    assert not other.equals(table)


def test_fractional_epochs_hit_the_target(pool):
    spec = MixtureSpec(weights={"cc": 0.7, "wiki": 0.3})
    table, plan = plan_mixture(pool, spec, 160_000)
    got = _tokens_by(table, pool)
    wiki = plan["phases"][0]["groups"]["wiki"]
    assert 1 < wiki["epochs"] < 2
    assert abs(got["wiki"] - 48_000) <= 1_000
    assert set(table.column("repeat").to_pylist()) <= {1, 2}


def test_final_phase_schedule(pool):
    spec = MixtureSpec(
        weights={"cc": 0.9, "wiki": 0.1}, final_phase={"fraction": 0.2, "weights": {"cc": 0.2, "wiki": 0.8}}
    )
    table, plan = plan_mixture(pool, spec, 200_000)
    assert table.column_names == ["doc_id", "repeat", "phase"]
    main, final = _tokens_by(table, pool, "main"), _tokens_by(table, pool, "final")
    assert sum(main.values()) == pytest.approx(160_000, rel=0.05)
    assert sum(final.values()) == pytest.approx(40_000, rel=0.1)
    assert final["wiki"] / sum(final.values()) > 0.75 > 0.15 > main["wiki"] / sum(main.values())


def test_upsampling_by_cluster_size_and_quality(pool):
    n = pool.num_rows
    sizes = np.where(np.arange(n) % 3 == 0, 6, 1)
    quality = np.linspace(0, 1, n)
    t = pool.append_column("cluster_size", pa.array(sizes)).append_column("score", pa.array(quality))
    spec = MixtureSpec(upsample={"cluster_size": [[1, 1.0], [5, 3.0], [100, 1.0]], "quality_column": "score"})
    f = upsample_factors(t, spec)
    assert np.all(f[sizes == 1] == 1)
    big = sizes == 6
    assert f[big].min() >= 1 and f[big].max() == 3
    # the best documents of big clusters get the most copies
    assert f[big][-20:].mean() > f[big][:20].mean()
    table, plan = plan_mixture(t, spec, None)  # natural budget: everything with its copies
    assert plan["phases"][0]["planned_tokens"] == pytest.approx(plan["available_tokens"])
    assert sorted(set(table.column("repeat").to_pylist())) == [1, 2, 3]


def test_domain_groups_and_recipes_validate(pool):
    spec = MixtureSpec(group_by="domain", weights={"en.wikipedia.org": 1.0}, default_weight=0.0)
    table, plan = plan_mixture(pool, spec, 30_000)
    assert all(d.startswith("wiki-") for d in table.column("doc_id").to_pylist())
    for path in __import__("pathlib").Path(__file__).parent.parent.joinpath("recipes").glob("*.yaml"):
        assert isinstance(load_recipe(path), Recipe)


def test_select_and_mix_recipe_into_catalog(cc_docs_table, catalog):
    from tasks.selection.selection import select_and_mix, selection_run_row

    recipe = Recipe(
        name="dsir_mix",
        sources=["cc"],
        selection={"method": "dsir", "tokens": 120_000},
        mixture={"final_phase": {"fraction": 0.25}},
        token_budget=100_000,
    )
    cands = cc_docs_table.select(["doc_id", "source", "text", "n_chars"])
    table, stats = select_and_mix(cands, recipe)
    assert table.column_names == ["doc_id", "repeat", "phase"]
    assert set(table.column("phase").to_pylist()) == {"main", "final"}
    assert 0.99 * 120_000 <= stats["selection"]["tokens_selected"] <= 120_000
    assert stats["selection"]["kl_reduction"] > 0
    assert stats["mixture"]["planned_tokens"] == pytest.approx(100_000, rel=0.05)
    assert len(set(table.column("doc_id").to_pylist())) <= stats["selection"]["n_selected"]
    again, _ = select_and_mix(cands.take(np.arange(cands.num_rows)[::-1]), recipe)
    assert again.equals(table)
    catalog.insert("selection_runs", [selection_run_row(recipe, stats)], replace=True)
    catalog.insert("selection_runs", [selection_run_row(recipe, stats)], replace=True)
    rows = catalog.query("selection_kl")
    assert len(rows) == 1 and rows[0]["recipe"] == "dsir_mix" and rows[0]["kl_reduction"] > 0


def test_without_a_mixture_a_selection_over_the_budget_is_left_to_the_budget_step(cc_docs_table):
    """A recipe that asks for no mixture: the mixer passes a selection larger than the budget
    on whole (one copy each) and the budget step cuts it once over all its documents.
    Natural shares resolved per source cut each source to whole documents, and the sum fell
    short (the default suite's random arm: 1.5% under its budget)."""
    from tasks.selection.selection import select_and_mix

    recipe = Recipe(
        name="dsir_over", sources=["cc"], selection={"method": "dsir", "tokens": 120_000}, token_budget=100_000
    )
    table, stats = select_and_mix(cc_docs_table.select(["doc_id", "source", "text", "n_chars"]), recipe)
    assert stats["selection"]["tokens_selected"] > 100_000
    assert table.num_rows == stats["selection"]["n_selected"] and set(table.column("repeat").to_pylist()) == {1}
    assert stats["mixture"]["planned_tokens"] == stats["selection"]["tokens_selected"]


def test_a_small_budget_over_long_documents_is_met_within_the_fill_tolerance(pool):
    """Per group, the Efraimidis order is followed, then filled with the next documents that
    still fit: a group ends within 0.2% of its target. (Stopping at the nearer document
    missed one group of a 60k budget by 15% with long crawl documents.)"""
    budget = 60_000
    for seed in range(5):
        spec = MixtureSpec(weights={"cc": 0.3, "wiki": 0.7}, max_epochs=4, seed=seed)
        table, plan = plan_mixture(pool, spec, budget)
        got = _tokens_by(table, pool)
        for g, info in plan["phases"][0]["groups"].items():
            assert abs(got[g] - info["target_tokens"]) <= 0.002 * info["target_tokens"] + 1
        assert abs(sum(got.values()) - budget) <= 0.003 * budget


def test_a_group_needing_all_its_documents_takes_the_last_long_one():
    """Target 13,929 of 13,988 available: the last document (3,770 tokens) overshoots the
    3,711-token gap by 59, nearer than stopping 3,711 short (the small suite's random arm)."""
    from tasks.selection.mixing import _fill

    tokens = np.array([4000.0, 3000.0, 3218.0, 3770.0])
    chosen = _fill(np.arange(4), tokens, remaining=13_929.0, tolerance=28.0)
    assert sorted(chosen.tolist()) == [0, 1, 2, 3]
    # and the fill still beats stopping at the nearer document when small ones exist
    tokens = np.array([500.0, 600.0, 900.0, 40.0, 60.0])
    chosen = _fill(np.arange(5), tokens, remaining=1_200.0, tolerance=2.4)
    assert tokens[chosen].sum() == 1_200.0


def test_upsampling_reads_the_dedup_steps_cluster_size_columns(pool):
    # curate's dedup step names the sizes per mode (minhash_cluster_size, exact_cluster_size);
    # upsampling read only `cluster_size` and so gave every document one copy
    n = pool.num_rows
    minhash = pa.array([6 if i % 3 == 0 else None for i in range(n)], pa.int64())
    exact = pa.array([2 if i % 5 == 0 else 1 for i in range(n)], pa.int64())
    t = pool.append_column("minhash_cluster_size", minhash).append_column("exact_cluster_size", exact)
    spec = MixtureSpec(upsample={"cluster_size": [[1, 1.0], [2, 2.0], [5, 3.0]], "max_repeat": 8})
    f = upsample_factors(t, spec)
    idx = np.arange(n)
    assert np.all(f[idx % 3 == 0] == 3)
    assert np.all(f[(idx % 5 == 0) & (idx % 3 != 0)] == 2)
    assert np.all(f[(idx % 5 != 0) & (idx % 3 != 0)] == 1)
