"""The registries of selection methods, dedup modes and eval tasks are the one list each:
the recipe, the CLI, the SQL files and the eval YAMLs agree with them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pydantic import BaseModel, ValidationError

from tasks.core.paths import evals_dir
from tasks.core.sqlfiles import load_sql
from tasks.dedup import registry as dedup_registry
from tasks.dedup.spec import DedupSpec
from tasks.evaluate import registry as eval_registry
from tasks.selection import registry as sel_registry
from tasks.selection.spec import SelectionSpec


def test_recipe_accepts_exactly_the_registered_selection_methods():
    for name in sel_registry.METHODS:
        assert SelectionSpec(method=name).method == name
    with pytest.raises(ValidationError) as info:
        SelectionSpec(method="dsri")
    # from the registry: a new method's line is the whole change (docs/ARCHITECTURE.md)
    assert f"unknown selection method 'dsri'; known: {', '.join(sel_registry.METHODS)}" in str(info.value)
    # the UI form offers the same names as a choice
    assert SelectionSpec.model_json_schema()["properties"]["method"]["enum"] == list(sel_registry.METHODS)


def test_every_selection_method_loads_and_scored_ones_have_a_column():
    for m in sel_registry.METHODS.values():
        impl = m.load()
        assert callable(impl.choose)
        assert m.scored == (m.column is not None), m.name
        if m.column == "score":
            assert m.higher_is_better is not None, m.name
    assert sel_registry.scored_names() == ["fasttext", "dsir", "perplexity", "semdedup", "kenlm"]


def test_select_cli_offers_the_scored_methods():
    from flows.select import main

    with pytest.raises(SystemExit) as info:
        main(["--source", "x", "--method", "random"])  # not scored: argparse refuses it
    assert info.value.code == 2


class _Longest:
    """A method defined outside the package: keep the longer half by characters."""

    def choose(self, c):
        n_chars = np.array([len(t) for t in c.candidates.column("text").to_pylist()])
        return np.argsort(-n_chars, kind="stable")[: len(c.ids) // 2]


def test_a_new_method_is_one_registry_line(monkeypatch):
    from tasks.selection.selection import select

    monkeypatch.setitem(globals(), "LONGEST", _Longest())
    monkeypatch.setitem(sel_registry.METHODS, "longest", sel_registry.SelectionMethod("longest", f"{__name__}:LONGEST"))
    texts = ["a" * k for k in (5, 50, 1, 30, 7, 90)]
    candidates = pa.table({"doc_id": [f"d{i}" for i in range(6)], "text": texts})
    sel = select(candidates, SelectionSpec(method="longest"))
    assert sel.table.column("doc_id").to_pylist() == ["d1", "d3", "d5"]
    assert sel.stats["method"] == "longest" and sel.stats["n_selected"] == 3


def test_dedup_spec_has_one_options_field_per_registered_mode():
    fields = {
        name
        for name, f in DedupSpec.model_fields.items()
        if any(isinstance(a, type) and issubclass(a, BaseModel) for a in getattr(f.annotation, "__args__", ()))
    }
    assert fields == set(dedup_registry.MODES)
    spec = DedupSpec.model_validate({"lines": True, "minhash": True, "exact": True})
    assert spec.modes() == ["exact", "minhash", "lines"]  # registry order, not the YAML's


def test_a_dedup_mode_added_later_enters_hashes_only_when_on(monkeypatch):
    """Adding a mode (its DedupSpec field, null when off) changes no recipe's content or
    data hash and no dedup key: only a recipe that turns it on gets new ones."""
    from types import SimpleNamespace

    from tasks.dedup.dedup import dedup_key
    from tasks.recipe import Recipe

    recipe = Recipe(name="x", sources=["s"], dedup={"exact": True})
    src = [SimpleNamespace(name="s", docs_hash="ab" * 32)]

    def hashes() -> tuple[str, str, str]:
        return recipe.content_hash(), recipe.data_hash(), dedup_key(src, [], recipe.dedup)

    before = hashes()
    monkeypatch.setitem(dedup_registry.MODES, "prefix", dedup_registry.DedupMode("prefix", "clusters"))
    prefix: dict | None = None
    dump_recipe, dump_dedup = Recipe.model_dump, DedupSpec.model_dump

    def recipe_with_prefix(self, **kw):
        dump = dump_recipe(self, **kw)
        if "dedup" in dump:
            dump["dedup"]["prefix"] = prefix
        return dump

    monkeypatch.setattr(Recipe, "model_dump", recipe_with_prefix)
    monkeypatch.setattr(DedupSpec, "model_dump", lambda self, **kw: {**dump_dedup(self, **kw), "prefix": prefix})
    assert hashes() == before
    prefix = {"chars": 200, "keep": "first"}
    assert all(a != b for a, b in zip(hashes(), before))


def test_sql_cluster_modes_have_their_sql_file():
    for m in dedup_registry.MODES.values():
        if m.kind == "clusters" and m.clusters is None:
            assert "cluster_order" in load_sql(f"dedup/{m.name}_clusters"), m.name
        elif m.clusters is not None:
            assert callable(m.cluster_fn())
    with pytest.raises(ValueError, match=f"unknown dedup mode 'fuzzy'; known: {', '.join(dedup_registry.MODES)}$"):
        dedup_registry.get_mode("fuzzy")


def test_every_eval_task_has_its_yaml_and_every_yaml_a_task():
    yamls = {p.name for p in evals_dir().glob("winnow_*.yaml")}
    assert yamls == {t.yaml for t in eval_registry.TASKS.values()}
    for t in eval_registry.TASKS.values():
        assert callable(t.converter()), t.name
        assert (t.metric is not None) == t.benchmark, t.name


def test_item_text_expands_nested_lists():
    arc = eval_registry.get_task("arc_easy")
    row = {"question": "Which is a metal?", "choices": {"text": ["iron", "", "wood"], "label": ["A", "B", "C"]}}
    assert arc.item_text(row) == "Which is a metal?\niron\nwood"


def test_decontamination_indexes_every_evaluated_task(cc_docs_table):
    from tasks.decontam import decontaminate as D
    from tasks.decontam import index as DI

    items = DI.default_eval_items()
    assert set(items.column("task").to_pylist()) == set(eval_registry.TASKS)
    assert items.num_rows == 25_349  # the figure in docs/validation.md
    # docs/validation.md: none of the 670 non-empty real crawl documents overlaps the suite
    texts = [t for t in cc_docs_table.column("text").to_pylist() if t.strip()]
    assert len(texts) == 670
    hits = D.scan_table(pa.table({"text": texts}), DI.build_index(items)).contaminated()
    assert int(hits.sum()) == 0
