"""Architecture rules that code review alone would let slip (issue 11):

- tasks/ never imports Prefect (wrappers live in flows/);
- no import cycle between tasks/ modules, counting type-only imports and imports inside
  functions too;
- the config floor (recipe.py, suite.py, tasks/core/spec.py, every stage's spec.py and
  registry.py) imports no stage logic and nothing heavy (numpy, duckdb, torch, ...);
- no SQL query built in a Python string in tasks/ or flows/ (queries live in sql/).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TASKS = ROOT / "tasks"


# ---------------------------------------------------------------- Prefect


def test_no_module_under_tasks_imports_prefect():
    """Every module under tasks/, imported in a fresh interpreter, leaves Prefect unloaded."""
    code = (
        "import importlib, pkgutil, sys, tasks\n"
        "names = [m.name for m in pkgutil.walk_packages(tasks.__path__, 'tasks.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "    if any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules):\n"
        "        print('PREFECT', name); raise SystemExit(1)\n"
        "print('OK', len(names))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"importing {proc.stdout.strip()} loads prefect\n{proc.stderr[-2000:]}"
    n = int(proc.stdout.split()[-1])
    assert n >= len(list(TASKS.rglob("*.py"))) - 1  # every module was walked (tasks/__init__ itself is not listed)


# ---------------------------------------------------------------- import cycles


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str, is_package: bool, every: bool = False) -> list[str]:
    """Imported module names of the statements that run at import time (not inside a
    function or class, not under `if TYPE_CHECKING:`); with `every`, of every import
    statement: type-only ones and those inside functions and classes as well."""
    found: list[str] = []

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, ast.Import):
                found.extend(a.name for a in s.names)
            elif isinstance(s, ast.ImportFrom):
                if s.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (s.level - 1)]
                    prefix = ".".join(base + ([s.module] if s.module else []))
                else:
                    prefix = s.module or ""
                found.append(prefix)
                found.extend(f"{prefix}.{a.name}" for a in s.names)
            elif isinstance(s, ast.If):
                test = ast.unparse(s.test)
                if every or "TYPE_CHECKING" not in test:
                    visit(s.body)
                visit(s.orelse)
            elif isinstance(s, ast.Try):
                visit(s.body)
                for h in s.handlers:
                    visit(h.body)
                visit(s.orelse)
                visit(s.finalbody)
            elif isinstance(s, ast.With):
                visit(s.body)
            elif every and isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(s.body)
            elif every and isinstance(s, (ast.For, ast.AsyncFor, ast.While, ast.AsyncWith)):
                visit(s.body)
                visit(getattr(s, "orelse", []))
            elif every and isinstance(s, ast.Match):
                for case in s.cases:
                    visit(case.body)

    visit(tree.body)
    return found


def import_graph(root: Path, every: bool = False) -> dict[str, set[str]]:
    """tasks/ module -> the tasks/ modules it imports at import time (from the AST); with
    `every`, also under `if TYPE_CHECKING:` and inside functions and classes."""
    files = {_module_name(p): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = {t for t in _top_level_imports(tree, name, path.name == "__init__.py", every) if t in files}
        # `from tasks.a import b` names module tasks.a.b when it exists, not tasks.a as well.
        graph[name] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_no_import_cycle_between_tasks_modules():
    graph = import_graph(TASKS)
    assert "tasks.curate.pipeline" in graph and "tasks.curate.steps" in graph["tasks.curate.pipeline"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycle_counting_type_only_and_function_level_imports():
    """A circle hidden under `if TYPE_CHECKING:` or inside a function is still a circle of
    the design (issue 24): the config floor and the stages depend one way."""
    graph = import_graph(TASKS, every=True)
    assert "tasks.signals.filters" in graph["tasks.attribution.design"]  # a function-level edge is counted
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (type-only and function-level imports counted): " + " -> ".join(cycle or [])


def test_cycle_finder_reports_a_cycle(tmp_path):
    pkg = tmp_path / "tasks"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from tasks.a import y\n")
    (pkg / "a" / "y.py").write_text("import os\n\ndef f():\n    from tasks.a import x\n")
    (pkg / "z.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tasks.a import x\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert find_cycle(import_graph(pkg)) is None  # function-level and TYPE_CHECKING imports do not count
        assert find_cycle(import_graph(pkg, every=True)) == ["tasks.a.x", "tasks.a.y", "tasks.a.x"]  # with every
        (pkg / "a" / "y.py").write_text("import os\n")
        (pkg / "a" / "x.py").write_text("from tasks import z\n")
        assert find_cycle(import_graph(pkg)) is None
        assert find_cycle(import_graph(pkg, every=True)) == ["tasks.a.x", "tasks.z", "tasks.a.x"]  # type-only
        (pkg / "a" / "x.py").write_text("from tasks.a import y\n")
        (pkg / "a" / "y.py").write_text("from . import z\n")
        (pkg / "a" / "z.py").write_text("from tasks.a.x import thing\n")
        assert find_cycle(import_graph(pkg)) == ["tasks.a.x", "tasks.a.y", "tasks.a.z", "tasks.a.x"]
    finally:
        ROOT = old


# ---------------------------------------------------------------- the config floor

# Third-party modules that no recipe or suite needs to be read: numeric, SQL, ML, HTML.
HEAVY = ("numpy", "duckdb", "torch", "pandas", "pyarrow", "transformers", "resiliparse", "prefect")
# tasks/core modules the config floor may use: spec base, hashing (fsspec, xxhash), paths.
CONFIG_CORE = {
    "tasks",
    "tasks.core",
    "tasks.core.spec",
    "tasks.core.hashing",
    "tasks.core.paths",
    "tasks.core.external",
}
# suite.py expands a `sweep:` / `ablate:` section into arms with these, imported inside the
# validator that needs them (the sweep's random design uses numpy).
SUITE_EXPANSIONS = {"tasks.sweep.design", "tasks.attribution.design"}


def config_modules() -> set[str]:
    """The config floor: recipe, suite, and every stage's spec and registry module."""
    specs = [*TASKS.glob("*/spec.py"), *TASKS.glob("*/registry.py")]
    return {"tasks.recipe", "tasks.suite", *(_module_name(p) for p in specs)}


def _is_config(name: str) -> bool:
    return (
        name in config_modules()
        or name in CONFIG_CORE
        or (name.count(".") == 1 and (TASKS / name.split(".")[1]).is_dir())
    )


def test_config_modules_import_only_specs_registries_and_light_core():
    """Every tasks/ import of a config module, at any level (type-only and inside functions
    too), is another config module: validating a recipe imports no stage."""
    graph = import_graph(TASKS, every=True)
    bad = []
    for name in sorted(config_modules()):
        for target in sorted(graph[name]):
            if not _is_config(target) and not (name == "tasks.suite" and target in SUITE_EXPANSIONS):
                bad.append(f"{name} -> {target}")
    assert not bad, "config modules import stage modules:\n" + "\n".join(bad)


def test_config_floor_loads_nothing_heavy():
    """`import tasks.recipe, tasks.suite` (and every spec and registry), in a fresh
    interpreter, loads no heavy third-party module and no tasks/ module outside the floor."""
    names = sorted(config_modules())
    code = (
        "import importlib, json, sys\n"
        "import tasks.recipe, tasks.suite\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r} or m.split('.')[0] == 'tasks')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in loaded if not m.startswith("tasks")})
    assert heavy == [], f"importing the config modules loads heavy modules {heavy}"
    stages = [m for m in loaded if m.startswith("tasks") and not _is_config(m)]
    assert stages == [], f"importing the config modules loads stage modules {stages}"


# ---------------------------------------------------------------- SQL in Python strings

# A statement keyword where a statement starts (string start, after `;` or `(`), with
# enough of its syntax that English prose ("select-scores", "with care") does not match.
_STATEMENT = re.compile(
    r"(?:^|;|\()\s*(?:"
    r"SELECT\s|WITH\s+(?:RECURSIVE\s+)?\w+\s+AS\s*\("
    r"|CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?(?:TABLE|VIEW|MACRO|INDEX|SCHEMA|SEQUENCE|TYPE|UNIQUE|SECRET)\b"
    r"|INSERT\s+(?:OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|COPY\s+(?:\(|\w+\s+(?:TO|FROM)\b)"
    r"|ATTACH\b|ALTER\s+TABLE\b|DROP\s+(?:TABLE|VIEW|MACRO|INDEX|SCHEMA|SEQUENCE|TYPE)\b)"
)
# Pieces of a query that are not statements on their own but still SQL being composed.
_FRAGMENT = re.compile(r"\bJOIN\s+\S+.*\b(?:ON|USING)\b|\bCOUNT_IF\s*\(|\bCASE\s+WHEN\b")


def _looks_like_sql(text: str) -> bool:
    t = " ".join(text.split()).upper()
    if t.startswith(("SET ", "PRAGMA ")) and "\n" not in text.strip() and ";" not in t:
        return False  # one-line connection settings are allowed
    return bool(_STATEMENT.search(t) or (re.search(r"\bSELECT\b", t) and " FROM " in t) or _FRAGMENT.search(t))


def sql_in_python(source: str, filename: str = "<string>") -> list[tuple[int, str]]:
    """(line, text) of each str constant or f-string in `source` that holds SQL;
    docstrings are skipped, an f-string's fields read as `x`."""
    tree = ast.parse(source, filename)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)  # judged as part of the whole f-string
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
        else:
            continue
        if _looks_like_sql(text):
            found.append((node.lineno, text))
    return found


def test_no_query_built_in_a_python_string():
    offenders = []
    for path in sorted([*TASKS.rglob("*.py"), *(ROOT / "flows").rglob("*.py")]):
        for line, text in sql_in_python(path.read_text(), str(path)):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()[:80]!r}")
    assert not offenders, "SQL built in Python strings (move it to sql/, see sql/README.md):\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        'q = "SELECT count(*) FROM t"',
        "q = f'SELECT * FROM {table}'",
        'con.execute(f"{verb} INTO {table} BY NAME SELECT * FROM _rows")',
        'q = "  create or replace temp table x AS SELECT 1"',
        'q = "INSERT INTO runs VALUES (1)"',
        'q = "WITH a AS (SELECT 1) SELECT * FROM a"',
        "q = \"COPY (SELECT 1) TO 'x.parquet'\"",
        'q = "DROP TABLE x"',
        "q = \"ATTACH 'other.db'\"",
        'src = f"(SELECT s.* FROM signals s SEMI JOIN {ids} USING (doc_id))"',
        'j = "LEFT JOIN dedup_quality q ON q.doc_id = d.doc_id"',
        'alone = ", ".join(f"count_if(NOT {k}) AS a{i}" for i, k in enumerate(keeps))',
        'q = "SET threads = 4; DROP TABLE x"',
        'def f():\n    x = 1\n    return "SELECT 1"',
    ],
)
def test_sql_checker_flags_queries(source):
    assert sql_in_python(source), source


@pytest.mark.parametrize(
    "source",
    [
        '"""SELECT * FROM docs is what this module does."""',
        'def f():\n    """Runs SELECT count(*) FROM x."""\n    return 1',
        'class C:\n    """CREATE TABLE docs from shards."""',
        'con.execute(f"SET threads = {int(n)}")',
        'con.execute("PRAGMA disable_progress_bar")',
        'name = "select-scores"',
        'msg = "with care: copy the file first"',
        'msg = f"selected {n} documents from {source}"',
        'q = load_sql("curate/keep_step")',
    ],
)
def test_sql_checker_passes_prose_docstrings_and_settings(source):
    assert sql_in_python(source) == []


# ---------------------------------------------------------------- sql/ loading


def test_render_sql_splices_identifiers_and_sql_and_leaves_values_to_duckdb():
    import duckdb

    from tasks.core.sqlfiles import Sql, int_literal, render_sql, sql_fragment, string_list

    q = render_sql("common/count_rows", source=sql_fragment("common/read_signals", files=string_list(["a'b.parquet"])))
    assert q.rstrip().endswith("SELECT count(*) FROM read_parquet(['a''b.parquet'])")
    assert sql_fragment("curate/fragments/rule_removed_alone", keep=Sql("TRUE"), index=int_literal(3)) == (
        "count_if(NOT TRUE) AS a3"
    )
    # A value stays a DuckDB parameter: bound at execute time, never pasted in.
    edges = render_sql("dedup/minhash_edges")
    assert "$lo" in edges and "$hi" in edges
    con = duckdb.connect()
    assert con.execute(render_sql("common/serialize_sql"), {"query": "SELECT 1"}).fetchall()[0][0].startswith("{")
    with pytest.raises(TypeError, match="neither an identifier nor Sql"):
        render_sql("common/count_rows", source="t; DROP TABLE x")  # recipe text cannot reach a query as a part
    with pytest.raises(KeyError, match=r"no placeholder\(s\) \$nope"):
        render_sql("common/count_rows", source="t", nope="x")
    with pytest.raises(FileNotFoundError, match="no SQL file"):
        render_sql("common/missing")


def test_no_long_module_without_a_reason_at_its_top():
    """A tasks/ module over 500 lines says at its top why it stays one module (issue 24:
    a module that does several jobs is split by job)."""
    unexplained = []
    for path in sorted((ROOT / "tasks").rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > 500:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "one module" not in doc.lower():
                unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, f"split by job, or say at the top why not: {unexplained}"
