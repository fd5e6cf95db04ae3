"""Named filters, recipe validation (before any work) and per-rule removal counts."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tasks.core.spec import RecipeError
from tasks.recipe import load_recipe
from tasks.signals.filters import (
    available_filters,
    combined_predicate,
    filter_counts,
    load_filter,
    named_filter_rules,
    resolve_rules,
    validate_predicate,
)
from tasks.signals.signals import compute_signals
from tasks.signals.spec import FilterSpec

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_every_filter_file_loads_with_numeric_defaults():
    names = available_filters()
    assert {"gopher_quality", "gopher_repetition", "c4", "fineweb", "language", "length"} <= set(names)
    for name in names:
        f = load_filter(name)
        assert f.rules and f.description
        rules = named_filter_rules(FilterSpec(name=name))
        assert len(rules) == len(f.rules)
        validate_predicate(combined_predicate(rules))  # every rule binds against the signals schema


def test_datatrove_default_thresholds_are_the_defaults():
    gq = load_filter("gopher_quality").params
    assert (gq["min_doc_words"].default, gq["max_symbol_word_ratio"].default, gq["min_stop_words"].default) == (
        50,
        0.1,
        2,
    )
    rep = load_filter("gopher_repetition").params
    assert [rep[f"dup_{n}_gram_frac"].default for n in range(5, 11)] == [0.15, 0.14, 0.13, 0.12, 0.11, 0.10]
    assert load_filter("fineweb").params["line_punct_thr"].default == 0.12


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"name": "gopher_qualty"}, "unknown filter 'gopher_qualty'"),
        ({"name": "gopher_quality", "params": {"min_words": 5}}, "unknown param(s) min_words"),
        ({"name": "gopher_quality", "params": {"min_doc_words": "50; DROP TABLE x"}}, "expected a number"),
        ({"name": "gopher_quality", "params": {"min_doc_words": 2.5}}, "expected an integer"),
        ({"name": "gopher_quality", "params": {"min_doc_words": True}}, "expected a number"),
        ({"name": "fineweb", "params": {"line_punct_thr": float("nan")}}, "finite"),
    ],
)
def test_bad_named_filters_name_the_filter(spec, message):
    with pytest.raises(RecipeError, match="filter") as exc:
        resolve_rules([FilterSpec(**spec)])
    assert message in str(exc.value)


def test_override_and_null_disables_a_rule():
    rules = named_filter_rules(FilterSpec(name="gopher_quality", params={"min_doc_words": 100, "max_doc_words": None}))
    preds = {r.name: r.predicate for r in rules}
    assert preds["gopher_short_doc"] == "gopher_n_words >= 100"
    assert "gopher_long_doc" not in preds and len(rules) == 9


@pytest.mark.parametrize(
    "sql, message",
    [
        ("n_chars > 10; DROP TABLE signals", "';'"),
        ("n_chars > 10) FROM signals; COPY signals TO '/tmp/x' (", "';'"),
        ("n_chars > 1) AS keep FROM signals UNION SELECT (1", "not a single expression"),
        ("n_chars > (SELECT count(*) FROM read_csv('/etc/passwd'))", "subquery"),
        ("doc_id IN (SELECT doc_id FROM signals)", "subquery"),
        ("EXISTS (SELECT 1)", "subquery"),
        ("getenv('HOME') = ''", "getenv"),
        ("length(read_text('/etc/passwd')::VARCHAR) > 0", "read_text"),
        ("COPY signals TO 'out.csv'", "does not parse"),
        ("ATTACH 'x.db'", "is not valid"),
        ("n_chars", "not a boolean expression"),
        ("no_such_column > 3", "not valid over the signal columns"),
        ("n_chars > 1 -- comment", "comment"),
        ("n_chars > $x", "parameter"),
        ("other.n_chars > 1", "refers to other.n_chars"),
        ("", "empty"),
    ],
)
def test_raw_sql_that_is_not_a_predicate_is_refused(sql, message):
    with pytest.raises(RecipeError) as exc:
        validate_predicate(sql)
    assert message in str(exc.value)


def test_raw_sql_predicates_that_are_fine():
    for sql in (
        "n_chars > 500 AND language = 'en'",
        "tld NOT IN ('xyz', 'top') OR tld IS NULL",
        "regexp_matches(domain, '\\.gov$')",
        "gopher_stop_words BETWEEN 2 AND 8",
        "c4_kept_chars::DOUBLE / greatest(n_chars, 1) > 0.5",
    ):
        assert validate_predicate(sql) == sql


def test_recipe_errors_before_any_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [crawl]\nfilters:\n  - {sql: 'n_chars > 1; DROP TABLE x'}\n")
    with pytest.raises(RecipeError, match=r"filters\[0\]"):
        resolve_rules(load_recipe(bad).filters)
    bad.write_text("sources: [crawl]\nfilters:\n  - {name: c4, sql: 'n_chars > 1', params: {x: 1}}\n")
    with pytest.raises(RecipeError, match="params"):
        load_recipe(bad)
    bad.write_text("sources: [crawl]\nlanguage: {allowed: [english]}\n")
    with pytest.raises(RecipeError, match="language"):
        load_recipe(bad)
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        resolve_rules(load_recipe(path).filters)


@pytest.fixture(scope="module")
def cc_signals(cc_docs_table, tmp_path_factory):
    path = tmp_path_factory.mktemp("sig") / "signals.parquet"
    table = compute_signals(cc_docs_table.slice(0, 250))
    pq.write_table(table, path)
    return path, table


def test_rule_counts_alone_and_marginal(cc_signals):
    path, table = cc_signals
    recipe = load_recipe(ROOT / "recipes" / "heuristic.yaml")
    rules = resolve_rules(recipe.filters)
    counts = filter_counts([path], recipe.filters)
    assert counts.total == table.num_rows
    assert sum(r["removed_marginal"] for r in counts.rules) == counts.total - counts.kept
    df = table.to_pandas()
    import duckdb

    con = duckdb.connect()
    con.register("s", table)
    keeps = con.execute(
        "SELECT " + ", ".join(f"coalesce(({r.predicate}), FALSE)" for r in rules) + " FROM s"
    ).fetchall()
    alive = [True] * len(df)
    for i, r in enumerate(counts.rules):
        assert r["removed_alone"] == sum(not k[i] for k in keeps)
        assert r["removed_marginal"] == sum(a and not k[i] for a, k in zip(alive, keeps))
        alive = [a and k[i] for a, k in zip(alive, keeps)]
    assert counts.kept == sum(alive) and 0 < counts.kept < counts.total
    assert "removed alone" in counts.as_markdown()
