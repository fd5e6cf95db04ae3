"""Named filters as SQL predicates over signal columns, validated before any work runs.

A named filter is `sql/filters/<name>.sql`: typed thresholds (`-- param: NAME TYPE
DEFAULT`, datatrove's defaults) and a list of rules (`-- rule: NAME` + one
keep-predicate using `$NAME`). A recipe's `filters:` list names filters (with
threshold overrides) or gives raw SQL predicates; `resolve_rules` turns that into an
ordered list of `Rule`s whose thresholds are rendered as validated numeric literals
(never text pasted from the recipe), and raw SQL, which is untrusted input (the Prefect
UI form, deployment parameters), is judged on DuckDB's tokens and parse tree against an
allow-list (tasks/signals/sql_guard.py), then bound against the empty signals table: it
must be one boolean expression over signal columns. Recipe validation runs this
(`Recipe.filters`), so a bad predicate fails before any work.

`filter_counts` then computes, in one scan of the signals, what each rule removes on
its own and what it removes after the rules before it (the marginal removal).
A predicate that is NULL for a document (e.g. no language) counts as failing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from tasks.core.sandbox import query_timeout, sandboxed_connection
from tasks.core.spec import RecipeError
from tasks.core.sqlfiles import SQL_DIR, Sql, int_literal, join_sql, render_sql, sql_fragment, string_list
from tasks.signals.spec import FilterSpec
from tasks.signals.sql_guard import MAX_PREDICATE_CHARS, check_tokens, check_tree

FILTERS_DIR = SQL_DIR / "filters"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM_LINE = re.compile(r"^--\s*param:\s*([a-z][a-z0-9_]*)\s+(int|float|bool)\s+(\S+)\s*$")
_RULE_LINE = re.compile(r"^--\s*rule:\s*([a-z][a-z0-9_]*)\s*$")
_PARAM_REF = re.compile(r"\$([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # int | float | bool
    default: int | float | bool


@dataclass(frozen=True)
class FilterDef:
    name: str
    description: str
    params: dict[str, Param]
    rules: tuple[tuple[str, str], ...]  # (rule name, predicate template)


@dataclass(frozen=True)
class Rule:
    filter: str  # named filter, or "sql" for a raw predicate
    name: str  # rule name (unique within the recipe: "<filter>.<rule>")
    predicate: str  # SQL boolean expression over signal columns, thresholds rendered

    @property
    def key(self) -> str:
        return f"{self.filter}.{self.name}"


@dataclass
class FilterCounts:
    total: int
    kept: int
    rules: list[dict[str, Any]] = field(
        default_factory=list
    )  # order, filter, rule, predicate, removed_alone, removed_marginal

    def as_markdown(self) -> str:
        lines = [
            f"{self.kept:,} of {self.total:,} documents kept "
            f"({100 * self.kept / self.total if self.total else 0:.1f}%)",
            "",
            "| # | filter | rule | removed alone | removed (marginal, in order) |",
            "|---|---|---|---:|---:|",
        ]
        for r in self.rules:
            lines.append(
                f"| {r['order']} | {r['filter']} | {r['rule']} | {r['removed_alone']:,} | {r['removed_marginal']:,} |"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------- named filters


def available_filters() -> list[str]:
    return sorted(p.stem for p in FILTERS_DIR.glob("*.sql") if not p.stem.startswith("_"))


@cache
def load_filter(name: str) -> FilterDef:
    if not _NAME.match(name or "") or not (FILTERS_DIR / f"{name}.sql").is_file():
        raise RecipeError(f"unknown filter {name!r}; known filters: {', '.join(available_filters())}")
    path = FILTERS_DIR / f"{name}.sql"
    params: dict[str, Param] = {}
    rules: list[tuple[str, list[str]]] = []
    description: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if m := _PARAM_LINE.match(stripped):
            pname, ptype, raw = m.groups()
            params[pname] = Param(pname, ptype, _parse_default(path, pname, ptype, raw))
        elif m := _RULE_LINE.match(stripped):
            rules.append((m.group(1), []))
        elif stripped.startswith("--"):
            if not rules:
                description.append(stripped.lstrip("- "))
        elif stripped:
            if not rules:
                raise ValueError(f"{path}: SQL before the first `-- rule:` line: {stripped!r}")
            rules[-1][1].append(stripped)
    defs = tuple((rname, " ".join(body)) for rname, body in rules)
    for rname, body in defs:
        if not body:
            raise ValueError(f"{path}: rule {rname} has no predicate")
        for ref in _PARAM_REF.findall(body):
            if ref not in params:
                raise ValueError(f"{path}: rule {rname} uses undeclared ${ref}")
    return FilterDef(name, description[0] if description else "", params, defs)


def _parse_default(path: Path, name: str, ptype: str, raw: str) -> int | float | bool:
    try:
        parsers: dict[str, Callable[[str], int | float | bool]] = {
            "int": int,
            "float": float,
            "bool": lambda s: {"true": True, "false": False}[s.lower()],
        }
        return parsers[ptype](raw)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: param {name}: bad {ptype} default {raw!r}") from exc


def _render(filter_name: str, param: Param, value: Any) -> str:
    """A threshold as a SQL literal; anything but a finite number of the right type is refused."""
    where = f"filter {filter_name!r}, param {param.name!r}"
    if param.type == "bool":
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true/false, got {value!r}")
        return "TRUE" if value else "FALSE"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise RecipeError(f"{where}: expected a finite number, got {value!r}")
    if param.type == "int":
        if value != int(value):
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        return str(int(value))
    return f"{float(value)!r}::DOUBLE"


def named_filter_rules(spec: FilterSpec) -> list[Rule]:
    assert spec.name is not None  # called for named filters only
    fdef = load_filter(spec.name)
    unknown = sorted(set(spec.params) - set(fdef.params))
    if unknown:
        raise RecipeError(
            f"filter {spec.name!r}: unknown param(s) {', '.join(unknown)}; known: {', '.join(fdef.params)}"
        )
    values = {name: spec.params.get(name, p.default) for name, p in fdef.params.items()}
    rendered = {
        name: None if values[name] is None else _render(spec.name, p, values[name]) for name, p in fdef.params.items()
    }
    present = {name: sql for name, sql in rendered.items() if sql is not None}
    names = [rname for rname, _ in fdef.rules]
    unknown_rules = sorted(set(spec.skip) - set(names))
    if unknown_rules:
        raise RecipeError(
            f"filter {spec.name!r}: skip names unknown rule(s) {', '.join(unknown_rules)}; rules: {', '.join(names)}"
        )
    rules = []
    for rname, template in fdef.rules:
        if rname in spec.skip:
            continue
        refs = _PARAM_REF.findall(template)
        if any(r not in present for r in refs):
            continue  # a threshold set to null switches its rule off (as a falsy value does in datatrove)
        rules.append(Rule(spec.name, rname, _PARAM_REF.sub(lambda m: present[m.group(1)], template)))
    return rules


# ---------------------------------------------------------------- raw SQL predicates


PROBE_MEMORY = "256MB"  # the probe binds against an empty table; nothing it may run needs more


def _signals_probe_connection() -> duckdb.DuckDBPyConnection:
    """The empty signals table on a sandboxed connection (no file access, locked)."""
    from tasks.signals.schema import SIGNALS_SCHEMA

    con = sandboxed_connection([], memory=PROBE_MEMORY)
    con.register("_schema", SIGNALS_SCHEMA.empty_table())
    con.execute(render_sql("common/probe_signals_table"))
    con.unregister("_schema")
    return con


@cache
def _signal_columns() -> frozenset[str]:
    from tasks.signals.schema import SIGNALS_SCHEMA

    return frozenset(n.lower() for n in SIGNALS_SCHEMA.names)


def validate_predicate(sql: str, where: str = "filters") -> str:
    """The predicate, stripped, if it is one boolean expression over signal columns that
    tasks/signals/sql_guard.py allows (decided on DuckDB's tokens and parse tree);
    otherwise a RecipeError naming `where` (the recipe field) and why."""
    if not isinstance(sql, str) or not sql.strip():
        raise RecipeError(f"{where}: empty SQL predicate")
    sql = sql.strip()
    if len(sql) > MAX_PREDICATE_CHARS:
        raise RecipeError(f"{where}: SQL predicate longer than {MAX_PREDICATE_CHARS} characters")
    check_tokens(sql, where)
    con = _signals_probe_connection()
    try:
        query = render_sql("curate/predicate_probe", predicate=Sql(sql))  # checked below before it runs
        try:
            tree = json.loads(con.execute(render_sql("common/serialize_sql"), {"query": query}).fetchall()[0][0])
        except RecursionError:
            raise RecipeError(f"{where}: SQL predicate {sql!r} is nested too deeply") from None
        if tree.get("error"):
            raise RecipeError(f"{where}: SQL predicate {sql!r} does not parse: {tree.get('error_message')}")
        check_tree(tree, sql, where, _signal_columns())
        try:
            with query_timeout(con, f"{where}: SQL predicate {sql!r}"):
                cur = con.execute(query)
                kind = str(cur.description[0][1])
                cur.fetchall()
        except duckdb.Error as exc:
            raise RecipeError(
                f"{where}: SQL predicate {sql!r} is not valid over the signal columns: {str(exc).splitlines()[0]}"
            ) from None
        if kind.upper() not in ("BOOLEAN", "BOOL"):
            raise RecipeError(f"{where}: SQL predicate {sql!r} is {kind}, not a boolean expression")
    finally:
        con.close()
    return sql


# ---------------------------------------------------------------- recipes


def resolve_rules(specs: Sequence[FilterSpec]) -> list[Rule]:
    """Every rule of the recipe's filters, in order, validated (RecipeError otherwise)."""
    rules: list[Rule] = []
    n_sql = 0
    for i, spec in enumerate(specs):
        if spec.sql:
            n_sql += 1
            pred = validate_predicate(spec.sql, where=f"filters[{i}] (sql)")
            rules.append(Rule("sql", spec.name or f"sql_{n_sql}", pred))
        else:
            rules.extend(named_filter_rules(spec))
    seen: set[str] = set()
    for r in rules:
        if r.key in seen:
            raise RecipeError(f"filters: rule {r.key} appears twice; list each filter once")
        seen.add(r.key)
    return rules


def keep_predicate(predicate: str) -> Sql:
    """One rule's predicate as a keep-predicate (NULL counts as false). The predicate is
    a rendered named-filter rule or a raw one that `validate_predicate` accepted."""
    return sql_fragment("curate/fragments/rule_keep", predicate=Sql(predicate))


def combined_predicate(rules: Sequence[Rule]) -> Sql:
    """One keep-predicate: every rule true (NULL counts as false)."""
    if not rules:
        return sql_fragment("curate/fragments/true")
    return join_sql((keep_predicate(r.predicate) for r in rules), " AND ")


def _source_sql(paths: Iterable[str | Path]) -> Sql:
    files = [str(p) for p in paths]
    if not files:
        raise ValueError("no signal files")
    return sql_fragment("common/read_signals", files=string_list(files))


def filter_counts(
    source: Sequence[str | Path] | str,
    specs_or_rules: Sequence[FilterSpec] | Sequence[Rule],
    con: duckdb.DuckDBPyConnection | None = None,
    label: str | None = None,
) -> FilterCounts:
    """Per-rule removal counts over signal Parquet files (or a relation/view name).

    `removed_alone`: documents the rule fails; `removed_marginal`: documents that pass
    every earlier rule and fail this one (sums to total - kept). Without `con` it runs on
    a sandboxed connection (tasks/core/sandbox.py); the query is interrupted after
    `$WINNOW_SQL_TIMEOUT_S` seconds with an error naming `label` (default: the rules)."""
    rules = [r for r in specs_or_rules if isinstance(r, Rule)]
    if len(rules) != len(specs_or_rules):
        specs = [s for s in specs_or_rules if isinstance(s, FilterSpec)]
        if rules or len(specs) != len(specs_or_rules):
            raise TypeError("rule counts take FilterSpecs or Rules, not a mix")
        rules = resolve_rules(specs)
    src = Sql(source) if isinstance(source, str) else _source_sql(source)  # a relation from the caller
    own = con is None
    if con is None:  # recipe SQL runs sandboxed: only the signal files' folders can be read
        con = sandboxed_connection({Path(p).parent for p in ([] if isinstance(source, str) else source)})
    try:
        if not rules:
            total = con.execute(render_sql("common/count_rows", source=src)).fetchall()[0][0]
            return FilterCounts(total, total, [])
        keeps = [keep_predicate(r.predicate) for r in rules]
        whens = join_sql(
            (
                sql_fragment("curate/fragments/rule_first_fail", keep=k, order=int_literal(i + 1))
                for i, k in enumerate(keeps)
            ),
            " ",
        )
        alone = join_sql(
            (
                sql_fragment("curate/fragments/rule_removed_alone", keep=k, index=int_literal(i))
                for i, k in enumerate(keeps)
            ),
            ", ",
        )
        query = render_sql("curate/rule_counts", first_fail_whens=whens, alone=alone, source=src)
        with query_timeout(con, label or f"filter counts of {', '.join(r.key for r in rules)}"):
            rows = con.execute(query).fetchall()
    finally:
        if own:
            con.close()
    total = sum(r[1] for r in rows)
    kept = sum(r[1] for r in rows if r[0] == 0)
    marginal = {r[0]: r[1] for r in rows}
    out = []
    for i, rule in enumerate(rules):
        out.append(
            {
                "order": i + 1,
                "filter": rule.filter,
                "rule": rule.name,
                "predicate": rule.predicate,
                "removed_alone": int(sum(r[2 + i] for r in rows)),
                "removed_marginal": int(marginal.get(i + 1, 0)),
            }
        )
    return FilterCounts(int(total), int(kept), out)
