"""Recipe SQL is untrusted input (the Prefect UI form, deployment parameters):

- the predicate checker decides on DuckDB's tokens and parse tree (tasks/signals/sql_guard.py);
- a suite with one bad arm fails before any ingest or signal work;
- the curate connection cannot read outside its allowed folders even if the checker were bypassed;
- a recipe query that runs too long is interrupted with an error naming the recipe.
"""

from __future__ import annotations

import logging
import time

import duckdb
import pyarrow as pa
import pytest

from tasks.core.sandbox import SqlTimeoutError, query_timeout, sandboxed_connection, sql_timeout_s
from tasks.core.spec import RecipeError
from tasks.recipe import Recipe, load_recipe
from tasks.signals.filters import (
    available_filters,
    combined_predicate,
    filter_counts,
    load_filter,
    named_filter_rules,
    validate_predicate,
)
from tasks.signals.spec import FilterSpec
from tasks.signals.sql_guard import ALLOWED_FUNCTIONS

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
WHERE = "filters[0] (sql)"

# (class, predicate, words the refusal must contain: the recipe field is checked for all)
REFUSED = [
    # files, network, environment: under any quoting, case or schema qualification
    ("file", "read_csv('/etc/passwd') IS NULL", "read_csv()"),
    ("file", "\"read_csv\"('/etc/passwd') IS NULL", "read_csv()"),
    ("file", "\"READ_CSV\"('/etc/passwd') IS NULL", "read_csv()"),
    ("file", "main.read_csv('/etc/passwd') IS NULL", "main.read_csv()"),
    ("file", '"main"."read_text"(\'/etc/passwd\') IS NULL', "main.read_text()"),
    ("file", "system.main.read_blob('/etc/passwd') IS NULL", "system.main.read_blob()"),
    ("file", "length(read_text('https://example.com/x')::VARCHAR) > 0", "read_text()"),
    ("file", "getenv('HOME') = ''", "getenv()"),
    ("file", "system.main.getenv('HOME') = ''", "getenv()"),
    ("file", "len(glob('/etc/*')) > 0", "glob()"),
    ("file", "read_parquet('/tmp/x.parquet') IS NULL", "read_parquet()"),
    ("file", "query('SELECT 1') IS NULL", "query()"),
    ("file", "json_execute_serialized_sql('{}') IS NULL", "json_execute_serialized_sql()"),
    ("file", "n_chars > (SELECT count(*) FROM read_csv('/etc/passwd'))", "subquery"),
    # aggregates
    ("aggregate", "count(*) > 1", "count(*): an aggregate"),
    ("aggregate", "count(n_chars) > 1", "count(): an aggregate"),
    ("aggregate", "sum(n_chars) > 1", "sum(): an aggregate"),
    ("aggregate", "avg(n_words) > 1", "avg(): an aggregate"),
    ("aggregate", "string_agg(domain, ',') = ''", "string_agg(): an aggregate"),
    ("aggregate", "count(*) FILTER (WHERE n_chars > 1) > 0", "count(*): an aggregate"),
    # windows
    ("window", "row_number() OVER () > 1", "row_number() OVER (...): a window function"),
    ("window", "sum(n_chars) OVER (PARTITION BY domain) > 1", "sum() OVER (...): a window function"),
    ("window", "lag(n_chars) OVER (ORDER BY doc_id) > 1", "lag() OVER (...): a window function"),
    # non-deterministic
    ("random", "random() > 0.5", "random(): a non-deterministic"),
    ("random", "setseed(0.5) IS NULL", "setseed(): a non-deterministic"),
    ("random", "gen_random_uuid() IS NOT NULL", "gen_random_uuid()"),
    ("random", "uuid() IS NOT NULL", "uuid()"),
    ("random", "now() > TIMESTAMP '2020-01-01'", "now()"),
    ("random", "current_date > DATE '2020-01-01'", "current_date"),
    ("random", "CURRENT_TIMESTAMP IS NOT NULL", "CURRENT_TIMESTAMP"),
    ("random", "today() IS NOT NULL", "today()"),
    ("random", "get_current_timestamp() IS NOT NULL", "get_current_timestamp()"),
    # session and system state
    ("session", "getvariable('x') IS NULL", "getvariable(): it reads session"),
    ("session", "version() = ''", "version()"),
    ("session", "nextval('s') > 1", "nextval()"),
    ("session", "currval('s') > 1", "currval()"),
    ("session", "current_database() = ''", "current_database()"),
    ("session", "current_setting('threads') = ''", "current_setting()"),
    ("session", "current_schema() = ''", "current_schema()"),
    ("session", "current_user = ''", "current_user"),
    # resource bombs (the rule: see tasks/signals/sql_guard.py)
    ("bomb", "len(range(1000000000)) > 1", "range(): its output can be made as large"),
    ("bomb", "len(generate_series(1, 1000000000)) > 1", "generate_series()"),
    ("bomb", "length(repeat('x', 1000000000)) > 1", "repeat()"),
    ("bomb", "length(repeat('x', 10)) > 1", "repeat()"),  # refused whatever the count
    ("bomb", "length(lpad(domain, 1000000000, 'x')) > 0", "lpad()"),
    ("bomb", "len(list_resize([1], 1000000000)) > 1", "list_resize()"),
    ("bomb", "list_reduce(string_split(domain, ''), lambda a, b: a || a || b) = ''", "list_reduce()"),
    ("bomb", "format('{:>1000000000}', n_chars) = ''", "format()"),
    ("bomb", "replace(replace(domain, 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa') = ''", "nests replace()"),
    ("bomb", "replace(domain, 'a', tld) = ''", "not a string literal"),
    ("bomb", f"replace(domain, 'a', '{'x' * 101}') = ''", "longer than 100"),
    ("bomb", "len(list_transform(string_split(domain, ''), lambda x: domain)) > 1", "inside a lambda"),
    ("bomb", "NOT " * 70 + "c4_lorem_ipsum", "nests deeper"),
    # a second statement, comments
    ("statement", "n_chars > 1; DROP TABLE signals", "';'"),
    ("statement", "n_chars > 1; SELECT 1", "';'"),
    ("statement", "'a;b' = 'a;b'; SELECT 1", "';'"),
    ("statement", "n_chars > 1 -- comment", "comment"),
    ("statement", "n_chars > 1 /* comment */", "comment"),
    ("statement", "n_chars > 1) OR (TRUE", "not a single expression"),
    # unicode look-alikes of ';' (and of a quote) outside string literals
    ("unicode", "n_chars > 1 \u037e DROP TABLE signals", "U+037E (GREEK QUESTION MARK)"),
    ("unicode", "n_chars > 1\u037e SELECT 1", "U+037E"),
    ("unicode", "n_chars > 1 \uff1b DROP TABLE signals", "U+FF1B (FULLWIDTH SEMICOLON)"),
    ("unicode", "n_chars > 1 \ufe54 DROP TABLE signals", "U+FE54 (SMALL SEMICOLON)"),
    ("unicode", "domain = \u2018x\u2019", "U+2018"),
    ("unicode", '"n_chars\u037e" > 1', "U+037E"),
    # other shapes
    ("other", "doc_id IN (SELECT doc_id FROM signals)", "subquery"),
    ("other", "EXISTS (SELECT 1)", "subquery"),
    ("other", "n_chars > $x", "parameter"),
    ("other", "n_chars > ?", "parameter"),
    ("other", "COLUMNS(*) > 1", "COLUMNS"),
    ("other", "#1 > 1", "positional"),
    ("other", "signals.n_chars > 1", "refers to signals.n_chars"),
    ("other", "no_such_column > 1", "not valid over the signal columns"),
    ("other", "map {'a': 1}['a'] = 1", "map(): not on the allow-list"),
]

ACCEPTED = [
    "domain LIKE '%--%'",  # `--`, `/*`, `;` inside literals are text
    "domain NOT LIKE '%/*%'",
    "'a;b' = 'a;b'",
    "tld = ';' OR tld = '--' OR tld = '*/'",
    "domain = 'caf\u00e9' OR domain = 'x\u037ey'",  # any character inside a literal
    "E'a;b' = 'a;b'",
    "$$a;b$$ = 'a;b'",
    "n_chars > 500 AND language = 'en'",
    "n_words BETWEEN 50 AND 100000",
    "tld NOT IN ('xyz', 'top') OR tld IS NULL",
    "CASE WHEN tld IS NULL THEN TRUE ELSE n_words > 3 END",
    "CAST(n_chars AS DOUBLE) / greatest(n_words, 1) > 2.5",
    "TRY_CAST(tld AS INTEGER) IS NULL AND n_chars::DECIMAL(12, 2) > 1",
    "regexp_matches(domain, '\\.gov$') OR domain SIMILAR TO '.*\\.edu' OR domain GLOB '*.org'",
    "coalesce(language, '') <> 'de' AND NOT c4_lorem_ipsum",
    "lower(domain) ILIKE '%wiki%' OR starts_with(domain, 'en.') OR length(tld) = 2",
    "len(list_filter(string_split(domain, '.'), lambda p: length(p) > 20)) = 0",
    "list_contains(['com', 'org'], tld)",
    "regexp_replace(domain, '^www\\.', '') <> 'example.com'",
    "if(n_chars > 1000, n_words > 100, TRUE)",
    "abs(ln(greatest(n_chars, 1)) - 7) < 3",
]


@pytest.mark.parametrize("kind, sql, words", REFUSED, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(REFUSED)])
def test_predicate_checker_refuses(kind, sql, words):
    with pytest.raises(RecipeError) as exc:
        validate_predicate(sql, where=WHERE)
    message = str(exc.value)
    assert message.startswith(WHERE), message  # names the recipe field
    assert words in message, message


@pytest.mark.parametrize("sql", ACCEPTED)
def test_predicate_checker_accepts(sql):
    assert validate_predicate(sql, where=WHERE) == sql


@pytest.mark.parametrize("name", available_filters())
def test_every_named_filter_passes_the_checker(name):
    rules = named_filter_rules(FilterSpec(name=name))
    assert len(rules) == len(load_filter(name).rules)
    for rule in rules:
        validate_predicate(rule.predicate, where=f"{name}.{rule.name}")
    validate_predicate(combined_predicate(rules))


def test_every_recipe_in_the_repo_loads():
    paths = sorted((ROOT / "recipes").glob("*.yaml"))
    assert paths
    for path in paths:
        load_recipe(path)  # validates every filter, raw SQL included


def test_allow_list_is_deterministic_scalar_functions_only():
    """Each allowed name is a deterministic (CONSISTENT) scalar function or macro of the
    DuckDB in use, and no aggregate, window or table function."""
    con = duckdb.connect()
    rows = con.execute("SELECT function_name, function_type, stability FROM duckdb_functions()").fetchall()
    kinds: dict[str, set[tuple[str, str | None]]] = {}
    for name, ftype, stability in rows:
        kinds.setdefault(name.lower(), set()).add((ftype, stability))
    missing = sorted(f for f in ALLOWED_FUNCTIONS if f not in kinds)
    assert not missing, f"not functions of duckdb {duckdb.__version__}: {missing}"
    bad = {
        f: k
        for f in ALLOWED_FUNCTIONS
        for k in kinds[f]
        if k[0] not in ("scalar", "macro") or (k[0] == "scalar" and k[1] != "CONSISTENT")
    }
    assert not bad, bad


def test_recipe_validation_runs_the_checker(tmp_path):
    with pytest.raises(ValueError, match=r"filters\[1\] \(sql\).*calls random\(\)"):
        Recipe(name="r", sources=["crawl"], filters=["gopher_quality", {"sql": "random() < 0.5"}])
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [crawl]\nfilters:\n  - {sql: \"getenv('HOME') = ''\"}\n")
    with pytest.raises(RecipeError, match=r"bad.yaml: invalid recipe: filters: .*filters\[0\] \(sql\).*getenv"):
        load_recipe(bad)


# ---------------------------------------------------------------- suites: before any work

_SUITE = """
name: sqlbox
sources:
  crawl: ["${{SHARED_DATA}}/crawl/wget-sample-000*.warc.gz"]
arms:
  - {{name: fine, sources: [crawl], filters: [{{sql: "n_chars > 10"}}]}}
  - {{name: sneaky, sources: [crawl], filters: [gopher_quality, {{sql: "{bad}"}}]}}
"""


def test_a_suite_with_one_bad_arm_fails_before_ingest(tmp_path, monkeypatch):
    """`python -m flows.ablation SUITE` validates every arm before it starts Prefect, ingest
    or signals: the refusal names the arm's field and the function, the workspace stays empty."""
    import flows.ablation as A

    def no_work(*args, **kwargs):
        raise AssertionError("work started although an arm's SQL is bad")

    monkeypatch.setattr(A._runtime, "prefect_api", no_work)
    monkeypatch.setattr(A, "ablation_flow", no_work)
    monkeypatch.setattr(A, "run_ingest", no_work)
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "unused"))  # main() sets it; restored after
    suite = tmp_path / "suite.yaml"
    suite.write_text(_SUITE.format(bad="length(read_text('/etc/passwd')::VARCHAR) > 0"))
    ws = tmp_path / "ws"
    with pytest.raises(RecipeError, match=r"arms\.1\.filters: .*filters\[1\] \(sql\): .*calls read_text\(\)"):
        A.main([str(suite), "--workspace", str(ws)])
    assert not (ws / "catalog.duckdb").exists() and not (ws / "docs").exists()


def test_ablation_flow_validates_all_arms_before_its_ingest_loop(tmp_path, monkeypatch):
    """Arms that reach the flow without recipe validation (built in code, `model_construct`)
    are still checked before the flow writes the catalog or ingests a source."""
    import flows.ablation as A

    def no_work(*args, **kwargs):
        raise AssertionError("ingest or signals started although an arm's SQL is bad")

    monkeypatch.setattr(A, "get_run_logger", lambda: logging.getLogger("test"))
    monkeypatch.setattr(A, "run_ingest", no_work)
    monkeypatch.setattr(A, "run_signals", no_work)
    suite = tmp_path / "suite.yaml"
    suite.write_text(_SUITE.format(bad="n_chars > 5"))
    bad = Recipe.model_construct(
        name="sneaky", sources=["crawl"], filters=[FilterSpec(sql="(SELECT count(*) FROM read_csv('/etc/passwd')) > 0")]
    )
    good = load_recipe_from_suite(suite, "fine")
    ws = tmp_path / "ws"
    with pytest.raises(RecipeError, match=r"arm 'sneaky': filters\[0\] \(sql\): .*subquery"):
        A.ablation_flow.fn(suite=str(suite), arms=[good, bad], workspace=str(ws), max_parallel=1)
    assert not (ws / "catalog.duckdb").exists()


def load_recipe_from_suite(path, arm: str) -> Recipe:
    from tasks.suite import load_suite

    return next(a for a in load_suite(path).arms if a.name == arm)


# ---------------------------------------------------------------- the curate connection


def test_curate_connection_cannot_read_outside_its_folders(workspace, tmp_path):
    """Even with the checker bypassed (a Rule built by hand), recipe SQL on the curate
    connection reads only the workspace and the sources' folders."""
    from tasks.curate.pipeline import curate_connection
    from tasks.signals.filters import Rule

    outside = tmp_path / "outside" / "secret.csv"
    outside.parent.mkdir()
    outside.write_text("secret\n42\n")
    inside = workspace.root / "datasets" / "ok.csv"
    inside.parent.mkdir(parents=True)
    inside.write_text("ok\n1\n")
    con = curate_connection(workspace, [])
    try:
        assert con.execute(f"SELECT ok FROM read_csv('{inside}')").fetchall() == [(1,)]  # its own workspace
        for path in ("/etc/passwd", str(outside), f"{workspace.root}/../outside/secret.csv"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(f"SELECT * FROM read_csv('{path}')").fetchall()
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"COPY (SELECT 1) TO '{tmp_path / 'outside' / 'out.csv'}'")
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        assert con.execute("SELECT current_setting('lock_configuration')").fetchall() == [(True,)]
        # a predicate the checker refuses, run as if it had not: the sandbox still refuses it
        con.register("sig", pa.table({"doc_id": ["a"], "n_chars": [5]}))
        sneaky = Rule("sql", "sneaky", f"n_chars > (SELECT count(*) FROM read_csv('{outside}'))")
        with pytest.raises(duckdb.PermissionException):
            filter_counts("sig", [sneaky], con=con)
    finally:
        con.close()


# ---------------------------------------------------------------- the time limit


def test_sql_timeout_setting(monkeypatch):
    monkeypatch.delenv("WINNOW_SQL_TIMEOUT_S", raising=False)
    assert sql_timeout_s() == 600
    monkeypatch.setenv("WINNOW_SQL_TIMEOUT_S", "2.5")
    assert sql_timeout_s() == 2.5
    for bad in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv("WINNOW_SQL_TIMEOUT_S", bad)
        with pytest.raises(ValueError, match="WINNOW_SQL_TIMEOUT_S"):
            sql_timeout_s()


def test_query_timeout_interrupts_and_the_connection_goes_on():
    con = sandboxed_connection([])
    started = time.perf_counter()
    with pytest.raises(SqlTimeoutError, match=r"recipe 'slow': query stopped after 0.2 s"):
        with query_timeout(con, "recipe 'slow'", seconds=0.2):
            # ~2 s per 10M rows on 2 cores: bounded, so without the interrupt the test fails, not hangs
            con.execute("SELECT count(*) FROM range(50000000) t(i) WHERE md5(i::VARCHAR) LIKE 'zz%'").fetchall()
    assert time.perf_counter() - started < 5
    with query_timeout(con, "recipe 'fast'", seconds=5):
        assert con.execute("SELECT 42").fetchall() == [(42,)]
    con.close()


def test_slow_recipe_filter_is_interrupted_in_curation(monkeypatch, tmp_path):
    """The curate filters step under a tiny $WINNOW_SQL_TIMEOUT_S: the recipe's predicate
    over many documents is stopped with an error naming the recipe."""
    from tasks.curate import steps as S
    from tasks.curate.context import CurateContext
    from tasks.signals.filters import resolve_rules

    monkeypatch.setenv("WINNOW_SQL_TIMEOUT_S", "0.2")
    recipe = Recipe(
        name="slowpoke", sources=["crawl"], filters=[{"sql": "regexp_matches(md5(domain || doc_id), 'a.*b.*c.*d')"}]
    )
    con = sandboxed_connection([tmp_path])
    con.execute("CREATE TABLE signals AS SELECT i::VARCHAR AS doc_id, 'example.org' AS domain FROM range(3000000) t(i)")
    con.execute("CREATE TABLE ids_00_candidates AS SELECT doc_id, 1 AS repeat FROM signals")
    ctx = CurateContext(con, recipe, resolve_rules(recipe.filters))
    started = time.perf_counter()
    with pytest.raises(SqlTimeoutError, match=r"recipe 'slowpoke', filters: query stopped after 0.2 s"):
        S.filters_step(ctx, "ids_00_candidates")
    assert time.perf_counter() - started < 30
    con.close()
