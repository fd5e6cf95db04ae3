"""The guard on a recipe's raw SQL predicate (`filters: [{sql: ...}]`).

Recipe SQL is untrusted input: it arrives from the Prefect UI form and from deployment
parameters. So the predicate is judged on DuckDB's own reading of it, never on its
text: DuckDB's tokens (`duckdb.tokenize`) and DuckDB's parse tree (`json_serialize_sql`
of the probe query `SELECT (<predicate>) AS keep FROM signals LIMIT 0`), walked node
by node against an allow-list. `tasks/signals/filters.py:validate_predicate` runs it,
then binds the predicate against the empty signals table and requires a BOOLEAN.

Tokens
- no comment, no `;`, parentheses balanced (the predicate is spliced into larger
  queries inside `(...)`, so it must stay one closed expression there);
- outside string literals only ASCII: a look-alike of `;` (U+037E GREEK QUESTION MARK,
  U+FF1B FULLWIDTH SEMICOLON, ...) or of a quote is refused by name. Inside a literal
  anything goes: `url LIKE '%--%'`, `'a;b' = 'a;b'`, `'/*'` are text.

Parse tree: one statement of the probe's shape, and the predicate built only of
- constants; unqualified references to signal columns (tasks/signals/schema.py
  SIGNAL_FIELDS); inside a lambda, its own parameters;
- comparisons, AND/OR/NOT, IS [NOT] NULL, IS [NOT] DISTINCT FROM, [NOT] IN (list),
  [NOT] BETWEEN, [NOT] LIKE/ILIKE/GLOB/SIMILAR TO, CASE, CAST/TRY_CAST, COALESCE,
  list literals, indexing and slicing;
- calls of `ALLOWED_FUNCTIONS`: deterministic scalar functions (operators, math,
  string, regexp, list functions and their lambdas), unqualified, without
  FILTER/ORDER BY/DISTINCT.
Everything else is refused with the function's name and why: aggregates (`count`,
`sum`, ...), window functions, non-deterministic and session functions (`random`,
`now`, `current_date`, `getvariable`, `version`, `nextval`, ...), table functions and
file/network/environment access (`read_*`, `glob`, `getenv`, ... under any quoting or
schema qualification, since a name off the list is refused whatever its spelling),
subqueries, `*`/COLUMNS, parameters and positional references.

Resource bombs (the rule): functions whose output size is a free argument are not on the
list at all: `range`, `generate_series`, `repeat`, `lpad`, `rpad`, `list_resize`,
`array_resize`, `printf`/`format`/`bar` (widths), `list_reduce` (repeated concatenation
doubles). What remains can grow a value only boundedly: a lambda sees only its own
parameters (no column or outer parameter, so nested list functions cannot square a
list), `replace`/`regexp_replace` take a string literal of at most
`MAX_REPLACEMENT_CHARS` characters as the replacement and may not be nested in one
another, and the whole predicate is at most `MAX_PREDICATE_CHARS` characters and
`MAX_DEPTH` levels deep. The curate connection's memory limit and per-query timeout
(tasks/core/sandbox.py) stand behind these rules.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NoReturn

import duckdb

from tasks.core.spec import RecipeError

MAX_PREDICATE_CHARS = 4000
MAX_DEPTH = 64  # expression nesting
MAX_REPLACEMENT_CHARS = 100

_OPERATORS = {
    "+", "-", "*", "/", "//", "%", "**", "^", "@", "&", "|", "<<", ">>", "~", "xor",
    "||", "~~", "!~~", "~~*", "!~~*", "~~~", "^@", "@>", "<@", "&&",
    "=", "!=", "<", ">", "<=", ">=", "add", "subtract", "multiply", "divide", "mod",
}  # fmt: skip
_MATH = {
    "abs", "ceil", "ceiling", "floor", "round", "round_even", "roundbankers", "trunc", "sign",
    "signbit", "sqrt", "cbrt", "exp", "ln", "log", "log2", "log10", "pow", "power", "greatest",
    "least", "isnan", "isinf", "isfinite", "even", "gcd", "lcm", "greatest_common_divisor",
    "least_common_multiple", "fdiv", "fmod", "radians", "degrees", "pi", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "bit_count",
}  # fmt: skip
_STRING = {
    "length", "len", "strlen", "char_length", "character_length", "octet_length",
    "length_grapheme", "lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "left",
    "right", "left_grapheme", "right_grapheme", "substr", "substring", "substring_grapheme",
    "replace", "reverse", "translate", "strip_accents", "nfc_normalize", "concat", "concat_ws",
    "contains", "starts_with", "ends_with", "prefix", "suffix", "instr", "strpos", "position",
    "split_part", "string_split", "str_split", "string_to_array", "split", "string_split_regex",
    "str_split_regex", "ascii", "unicode", "ord", "chr", "levenshtein", "editdist3",
    "damerau_levenshtein", "hamming", "mismatches", "jaccard", "jaro_similarity",
    "jaro_winkler_similarity", "md5", "sha1", "sha256", "hash", "url_decode", "url_encode",
    "like_escape", "not_like_escape", "ilike_escape", "not_ilike_escape", "array_to_string",
}  # fmt: skip
_REGEXP = {
    "regexp_matches", "regexp_full_match", "regexp_extract", "regexp_extract_all",
    "regexp_replace", "regexp_split_to_array", "regexp_escape",
}  # fmt: skip
_LIST = {
    "list_value", "array_value", "list_extract", "list_element", "array_extract",
    "list_contains", "list_has", "array_contains", "array_has", "list_has_any", "list_has_all",
    "array_has_any", "array_has_all", "list_position", "list_indexof", "array_position",
    "array_indexof", "list_filter", "array_filter", "filter", "list_transform",
    "array_transform", "list_apply", "array_apply", "apply", "list_slice", "array_slice",
    "list_sort", "array_sort", "list_reverse_sort", "array_reverse_sort", "list_distinct",
    "array_distinct", "list_unique", "array_unique", "list_concat", "list_cat", "array_concat",
    "array_cat", "list_intersect", "array_intersect", "list_reverse", "array_reverse",
    "array_length", "flatten", "list_sum", "list_min", "list_max", "list_avg", "list_count",
    "list_first", "list_last", "list_bool_and", "list_bool_or", "list_any_value", "list_append",
    "list_prepend", "array_append", "array_prepend", "list_select", "list_where",
}  # fmt: skip
_CONDITIONAL = {"if", "nullif"}

# Every function a raw predicate may call (lower case, unqualified). A test checks that each
# is a deterministic scalar function or macro of the DuckDB in use.
ALLOWED_FUNCTIONS = frozenset(_OPERATORS | _MATH | _STRING | _REGEXP | _LIST | _CONDITIONAL)

# Functions whose replacement argument (index) can grow the text; see the module docstring.
_GROWING = {"replace": 2, "regexp_replace": 2}

# Why a function is refused, for the message (the allow-list alone decides).
_FILE_PREFIXES = (
    "read_", "glob", "getenv", "sniff_csv", "parquet_", "iceberg_", "delta_", "sqlite_",
    "postgres_", "mysql_", "query", "http", "which_secret", "checkpoint", "force_checkpoint",
    "json_execute_serialized_sql", "json_serialize_", "json_deserialize_sql", "duckdb_",
    "pragma_", "load", "install", "system", "arrow_scan", "pandas_scan", "python_", "seq_scan",
    "set_", "make_timestamp_from_file", "file_",
)  # fmt: skip
_BOMBS = {
    "range", "generate_series", "generate_subscripts", "repeat", "repeat_row", "unnest", "lpad",
    "rpad", "list_resize", "array_resize", "list_reduce", "array_reduce", "reduce", "printf",
    "format", "bar", "regexp_split_to_table",
}  # fmt: skip
_NON_DETERMINISTIC = {
    "random", "setseed", "gen_random_uuid", "uuid", "uuidv4", "uuidv7", "now", "today",
    "get_current_time", "get_current_timestamp", "transaction_timestamp", "current_date",
    "current_time", "current_timestamp", "current_localtime", "current_localtimestamp",
    "localtime", "localtimestamp", "sleep_ms", "pg_sleep", "error", "write_log",
}  # fmt: skip
_SESSION = {
    "version", "current_setting", "current_database", "current_schema", "current_schemas",
    "current_catalog", "current_query", "current_query_id", "current_connection_id",
    "current_transaction_id", "current_user", "current_role", "session_user", "user",
    "getvariable", "in_search_path", "txid_current", "nextval", "currval", "setval", "stats",
    "typeof", "get_block_size", "vector_type",
}  # fmt: skip

_OPERATOR_TYPES = {
    "OPERATOR_NOT", "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL", "COMPARE_IN", "COMPARE_NOT_IN",
    "OPERATOR_COALESCE", "ARRAY_EXTRACT", "ARRAY_SLICE", "ARRAY_CONSTRUCTOR",
}  # fmt: skip
_COMPARISON_TYPES = {
    "COMPARE_EQUAL", "COMPARE_NOTEQUAL", "COMPARE_LESSTHAN", "COMPARE_GREATERTHAN",
    "COMPARE_LESSTHANOREQUALTO", "COMPARE_GREATERTHANOREQUALTO", "COMPARE_DISTINCT_FROM",
    "COMPARE_NOT_DISTINCT_FROM",
}  # fmt: skip
_REFUSED_CLASSES = {
    "SUBQUERY": "contains a subquery",
    "PARAMETER": "contains a parameter",
    "STAR": "contains * or COLUMNS(...)",
    "POSITIONAL_REFERENCE": "contains a positional reference (#n)",
    "COLLATE": "contains COLLATE",
    "DEFAULT": "contains DEFAULT",
}


# ---------------------------------------------------------------- tokens


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(type, text) of each of DuckDB's tokens; a token's text runs to the next token
    (trailing white space included). `duckdb.tokenize` gives byte offsets."""
    raw = sql.encode()
    toks = duckdb.tokenize(sql)
    for i, (start, kind) in enumerate(toks):
        end = toks[i + 1][0] if i + 1 < len(toks) else len(raw)
        yield kind.name, raw[start:end].decode("utf-8", errors="replace")


def check_tokens(sql: str, where: str) -> None:
    """Refuse comments, `;`, unbalanced parentheses and non-ASCII outside string literals."""

    def refuse(why: str) -> NoReturn:
        raise RecipeError(f"{where}: SQL predicate {sql!r} {why}")

    try:
        tokens = list(_tokens(sql))
    except duckdb.Error as exc:
        raise RecipeError(f"{where}: SQL predicate {sql!r} does not parse: {str(exc).splitlines()[0]}") from None
    depth = 0
    for kind, text in tokens:
        if kind == "comment":
            refuse("contains a comment (-- or /* outside a string literal)")
        if kind != "string_const":
            odd = next((c for c in text if ord(c) > 127), None)
            if odd is not None:
                name = unicodedata.name(odd, "unnamed")
                refuse(
                    f"contains U+{ord(odd):04X} ({name}) outside a string literal; only ASCII may appear "
                    "outside quotes (a look-alike of ';' or a quote is not one)"
                )
        if kind == "operator" and text.strip() == ";":
            refuse("contains a ';' (one expression only)")
    for kind, text in tokens:
        if kind == "operator":
            depth += text.count("(") - text.count(")")
            if depth < 0:
                refuse("is not a single expression (a ')' closes more than it opened)")
    if depth:
        refuse("is not a single expression (unbalanced parentheses)")


# ---------------------------------------------------------------- parse tree


@cache
def _function_kinds() -> dict[str, set[str]]:
    """DuckDB's function kinds by name (aggregate, window, table, scalar-VOLATILE, ...), for messages."""
    from tasks.core.sqlfiles import load_sql

    kinds: dict[str, set[str]] = {}
    with duckdb.connect() as con:
        for name, ftype, stability in con.execute(load_sql("common/function_kinds")).fetchall():
            kinds.setdefault(name.lower(), set()).add(ftype if ftype != "scalar" else f"scalar-{stability}")
    return kinds


def refusal_reason(name: str) -> str:
    """Why a function is not on the allow-list, in words."""
    n = name.lower()
    if n in _BOMBS:
        return "its output can be made as large as one likes (a resource bomb; see tasks/signals/sql_guard.py)"
    if n in _NON_DETERMINISTIC:
        return "a non-deterministic function"
    if n in _SESSION or n.startswith("pg_"):
        return "it reads session or system state"
    if n.startswith(_FILE_PREFIXES):
        return "it reads files, the network, the environment or the catalog"
    kinds = _function_kinds().get(n, set())
    if "aggregate" in kinds:
        return "an aggregate function"
    if "window" in kinds:
        return "a window function"
    if kinds & {"table", "table_macro", "pragma"}:
        return "a table function"
    if kinds & {"scalar-VOLATILE", "scalar-CONSISTENT_WITHIN_QUERY"}:
        return "a non-deterministic function"
    if not kinds:
        return "not a known function"
    return "not on the allow-list of deterministic scalar functions (tasks/signals/sql_guard.py)"


def _display(name: str) -> str:
    return "count(*)" if name == "count_star" else f"{name}()"


@dataclass
class _Walk:
    sql: str
    where: str
    columns: frozenset[str]
    visited: set[int] = field(default_factory=set)

    def refuse(self, why: str) -> NoReturn:
        raise RecipeError(f"{self.where}: SQL predicate {self.sql!r} {why}")

    def refuse_function(self, name: str, shown: str | None = None) -> NoReturn:
        self.refuse(f"calls {shown or _display(name)}: {refusal_reason(name)}; a filter may not use it")

    def expr(self, node: Any, scope: frozenset[str], depth: int) -> None:
        if not isinstance(node, dict) or "class" not in node:
            self.refuse("is not a single expression over signal columns")
        if depth > MAX_DEPTH:
            self.refuse(f"nests deeper than {MAX_DEPTH} levels")
        self.visited.add(id(node))
        cls = node["class"]
        if cls in _REFUSED_CLASSES:
            self.refuse(_REFUSED_CLASSES[cls])
        handler = _HANDLERS.get(cls)
        if handler is None:
            self.refuse(f"contains a {cls.lower()} expression ({node.get('type')}), which a filter may not use")
        else:
            handler(self, node, scope, depth + 1)

    def _constant(self, node: dict, scope: frozenset[str], depth: int) -> None:
        if node.get("type") != "VALUE_CONSTANT":
            self.refuse(f"contains a {node.get('type')}")

    def _column_ref(self, node: dict, scope: frozenset[str], depth: int) -> None:
        names = node.get("column_names") or []
        if len(names) != 1:
            self.refuse(f"refers to {'.'.join(names)}: only unqualified signal column names")
        name = names[0].lower()
        if scope:  # inside a lambda: its own parameters only (see the module docstring)
            if name not in scope:
                self.refuse(f"uses {names[0]} inside a lambda: a lambda may use only its own parameters")
            return
        if name in self.columns:
            return
        if name in _NON_DETERMINISTIC or name in _SESSION:
            self.refuse_function(name, names[0])
        self.refuse(f"is not valid over the signal columns: no signal column is named {names[0]}")

    def _comparison(self, node: dict, scope: frozenset[str], depth: int) -> None:
        if node.get("type") not in _COMPARISON_TYPES:
            self.refuse(f"contains a {node.get('type')} comparison")
        self.expr(node.get("left"), scope, depth)
        self.expr(node.get("right"), scope, depth)

    def _conjunction(self, node: dict, scope: frozenset[str], depth: int) -> None:
        for child in node.get("children") or []:
            self.expr(child, scope, depth)

    def _operator(self, node: dict, scope: frozenset[str], depth: int) -> None:
        if node.get("type") not in _OPERATOR_TYPES:
            self.refuse(f"contains the operator {node.get('type')}, which a filter may not use")
        for child in node.get("children") or []:
            self.expr(child, scope, depth)

    def _between(self, node: dict, scope: frozenset[str], depth: int) -> None:
        for key in ("input", "lower", "upper"):
            self.expr(node.get(key), scope, depth)

    def _case(self, node: dict, scope: frozenset[str], depth: int) -> None:
        for check in node.get("case_checks") or []:
            self.expr(check.get("when_expr"), scope, depth)
            self.expr(check.get("then_expr"), scope, depth)
        self.expr(node.get("else_expr"), scope, depth)

    def _cast(self, node: dict, scope: frozenset[str], depth: int) -> None:
        self.expr(node.get("child"), scope, depth)
        self._type_expr(node.get("type_expr"), depth)

    def _type_expr(self, node: Any, depth: int) -> None:
        if not isinstance(node, dict) or node.get("class") != "TYPE" or depth > MAX_DEPTH:
            self.refuse("casts to something that is not a type")
        if node.get("catalog") or node.get("schema"):
            self.refuse(f"casts to a qualified type {node.get('type_name')!r}")
        self.visited.add(id(node))
        for child in node.get("children") or []:
            if isinstance(child, dict) and child.get("class") == "CONSTANT":
                self._constant(child, frozenset(), depth)
                self.visited.add(id(child))
            else:
                self._type_expr(child, depth + 1)

    def _window(self, node: dict, scope: frozenset[str], depth: int) -> None:
        self.refuse(f"calls {node.get('function_name')}() OVER (...): a window function; a filter may not use it")

    def _function(self, node: dict, scope: frozenset[str], depth: int) -> None:
        name = str(node.get("function_name", "")).lower()
        qualified = ".".join(p for p in (node.get("catalog"), node.get("schema"), name) if p)
        if name not in ALLOWED_FUNCTIONS:
            self.refuse_function(name, f"{qualified}()" if qualified != name else None)
        if qualified != name:
            self.refuse(f"calls {qualified}(): write function names unqualified")
        if (
            node.get("filter")
            or (node.get("order_bys") or {}).get("orders")
            or node.get("distinct")
            or node.get("export_state")
        ):
            self.refuse(f"calls {name}() with FILTER, ORDER BY, DISTINCT or EXPORT_STATE (aggregate clauses)")
        args = [a.get("expression") for a in node.get("arguments") or []]
        if name in _GROWING:
            self._check_growing(name, args)
        for arg in args:
            if isinstance(arg, dict) and arg.get("class") == "LAMBDA":
                self._lambda_arg(arg, depth)
            else:
                self.expr(arg, scope, depth)

    def _check_growing(self, name: str, args: list[Any]) -> None:
        at = _GROWING[name]
        repl = args[at] if len(args) > at else None
        literal = (repl or {}).get("literal") or {}
        if not (isinstance(repl, dict) and repl.get("class") == "CONSTANT" and literal.get("kind") == "STRING"):
            self.refuse(f"calls {name}() with a replacement that is not a string literal")
        if len(str(literal.get("text", ""))) > MAX_REPLACEMENT_CHARS:
            self.refuse(f"calls {name}() with a replacement longer than {MAX_REPLACEMENT_CHARS} characters")
        if args and any(
            isinstance(n, dict) and n.get("class") == "FUNCTION" and str(n.get("function_name")).lower() in _GROWING
            for n in _nodes(args[0])
        ):
            self.refuse(f"nests {name}() calls, whose output can grow with each level")

    def _lambda_arg(self, node: dict, depth: int) -> None:
        self.visited.add(id(node))
        lhs = node.get("lhs") or {}
        params = [lhs] if lhs.get("class") == "COLUMN_REF" else None
        if lhs.get("class") == "FUNCTION" and lhs.get("function_name") == "row":
            self.visited.add(id(lhs))
            params = [a.get("expression") for a in lhs.get("arguments") or []]
        names = []
        for p in params or [None]:
            if not (isinstance(p, dict) and p.get("class") == "COLUMN_REF" and len(p.get("column_names") or []) == 1):
                self.refuse("has a lambda whose parameters are not plain names")
            self.visited.add(id(p))
            name = p["column_names"][0].lower()
            if name in _NON_DETERMINISTIC or name in _SESSION:
                self.refuse(f"names a lambda parameter {name}, which DuckDB may read as a function")
            names.append(name)
        self.expr(node.get("expr"), frozenset(names), depth + 1)


_HANDLERS = {
    "CONSTANT": _Walk._constant,
    "COLUMN_REF": _Walk._column_ref,
    "COMPARISON": _Walk._comparison,
    "CONJUNCTION": _Walk._conjunction,
    "OPERATOR": _Walk._operator,
    "BETWEEN": _Walk._between,
    "CASE": _Walk._case,
    "CAST": _Walk._cast,
    "WINDOW": _Walk._window,
    "FUNCTION": _Walk._function,
}


def _nodes(tree: Any) -> Iterator[dict]:
    """Every expression node (a dict with a `class`) in a serialized subtree."""
    stack = [tree]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            if "class" in x:
                yield x
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)


def check_tree(tree: dict, sql: str, where: str, columns: frozenset[str]) -> None:
    """The probe query's parse tree (`json_serialize_sql`): its shape, then the predicate's
    expression against the allow-lists."""
    bad = f"{where}: SQL predicate {sql!r} is not a single expression over signal columns"
    stmts = tree.get("statements") or []
    if len(stmts) != 1:
        raise RecipeError(bad)
    node = stmts[0].get("node") or {}
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list") or []) != 1
        or node.get("where_clause")
        or node.get("group_expressions")
        or node.get("having")
        or node.get("qualify")
        or node.get("sample")
        or (node.get("cte_map") or {}).get("map")
    ):
        raise RecipeError(bad)
    mods = node.get("modifiers") or []
    if len(mods) != 1 or mods[0].get("type") != "LIMIT_MODIFIER":
        raise RecipeError(bad)
    src = node.get("from_table") or {}
    if src.get("type") != "BASE_TABLE" or src.get("table_name") != "signals" or src.get("schema_name"):
        raise RecipeError(bad)
    walk = _Walk(sql, where, columns)
    item = node["select_list"][0]
    walk.expr(item, frozenset(), 0)
    missed = [n for n in _nodes(item) if id(n) not in walk.visited]
    if missed:  # a node the walk did not judge (a DuckDB version with new syntax): refuse
        walk.refuse(f"contains a {missed[0].get('class')} expression the checker does not know")
