"""Curate: recipe -> dataset over signals, step by step, plus one end-to-end flow run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.core.docsref import resolve_docs
from tasks.curate import pipeline as C
from tasks.recipe import Recipe, load_recipe
from tasks.signals.signals import build_signals, resolve_signals
from tests._docs_workspace import docs_table, write_docs

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def crawl_ws(workspace, cc_docs_table):
    """The CC documents as source `crawl` plus a small German source `de`, with signals."""
    return _crawl_and_de(workspace, cc_docs_table.slice(0, 300))


def _crawl_and_de(workspace, crawl: pa.Table):
    """`crawl` as source crawl and two German documents as source de, with signals."""
    write_docs(workspace, "crawl", crawl, shard_rows=120)
    de = docs_table(
        ["Das ist ein deutscher Text. " * 30, "Noch ein Text auf Deutsch, bitte sehr. " * 20],
        source="de",
        languages=["de", "de"],
        urls=["https://beispiel.de/a", "https://beispiel.de/b"],
    )
    write_docs(workspace, "de", de)
    for name in ("crawl", "de"):
        build_signals(workspace, resolve_docs(workspace, name))
    return workspace


def test_heuristic_recipe_dataset(crawl_ws, monkeypatch):
    recipe = load_recipe(ROOT / "recipes" / "heuristic.yaml").model_copy(update={"sources": ["crawl", "de"]})
    stats = C.curate(recipe, crawl_ws).stats
    folder = crawl_ws.stage_dir("datasets", C.dataset_key(recipe))
    part = pq.read_table(folder / "part-00000.parquet")
    assert part.column_names == ["doc_id", "source", "url", "text", "repeat"]
    assert part.num_rows == stats["documents"] > 0
    assert set(part.column("repeat").to_pylist()) == {1}
    assert stats["documents_in"] == 302
    lang = stats["removals"]["language"]
    assert lang["rules"][0]["removed_alone"] == 2  # the German documents
    filt = stats["removals"]["filters"]
    assert filt["documents_in"] == 300
    assert filt["documents_in"] - sum(r["removed_marginal"] for r in filt["rules"]) == stats["documents"]
    assert stats["characters"] == sum(map(len, part.column("text").to_pylist()))
    assert stats["est_tokens"] == int(stats["characters"] / 4)
    assert stats["language_mix"] == {"en": {"documents": stats["documents"], "characters": stats["characters"]}}
    assert sum(stats["top_domains"].values()) <= stats["documents"] and stats["domains"] > 0
    assert json.loads((folder / "stats.json").read_text())["documents"] == stats["documents"]
    inputs = C.resolve_inputs(crawl_ws, recipe)
    assert C.cached_dataset(crawl_ws, recipe, inputs) is not None
    # a dataset cached by other curation code is rebuilt, not served (a stale fill failed a contract)
    monkeypatch.setattr(C, "CURATE_CODE_VERSION", "older-code")
    assert C.cached_dataset(crawl_ws, recipe, inputs) is None
    monkeypatch.undo()
    rows = C.removal_rows(stats)
    assert {r["step"] for r in rows} == {"language", "filters"} and len(rows) == 1 + 1 + 32
    assert "## filters" in C.stats_markdown(stats)


def test_no_filter_keeps_everything_and_budget_cuts(crawl_ws):
    recipe = Recipe(name="all", sources=["crawl", "de"])
    stats = C.curate(recipe, crawl_ws).stats
    assert stats["documents"] == 302 and stats["steps"] == ["language", "filters", "decontaminate"]
    budget = Recipe(name="cut", sources=["crawl"], token_budget=20_000)
    cut = C.curate(budget, crawl_ws).stats
    assert 0 < cut["documents"] < 300
    # cut in real tokens of the suite tokenizer: filled to within 1%, never over the budget
    assert 20_000 * 0.99 <= cut["tokens"] <= 20_000 and cut["pool_tokens"] > 20_000
    # ... and those are the tokens the dataset really has (each text re-encoded here, + EOS;
    # an empty text packs to nothing, as in tasks/train/tokens.py)
    from tokenizers import Tokenizer

    from tasks.train.tokenizer import build_tokenizer

    _, folder = build_tokenizer(crawl_ws, budget.tokenizer_vocab())
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    texts = pq.read_table(crawl_ws.stage_dir("datasets", C.dataset_key(budget)) / "part-00000.parquet")
    encoded = tok.encode_batch(texts.column("text").to_pylist(), add_special_tokens=False)
    counted = sum(len(e.ids) + 1 for e in encoded if e.ids)
    assert counted == cut["tokens"] == cut["unique_tokens"]


def test_a_pool_too_small_for_the_budget_fails_the_arm(crawl_ws):
    from flows.ablation import arm_tokens
    from tasks.validation.contracts.matched_tokens import TokenBudgetError, check_matched_tokens

    recipe = Recipe(name="greedy", sources=["crawl"], token_budget=5_000_000)
    stats = C.curate(recipe, crawl_ws).stats
    assert stats["pool_tokens"] == stats["unique_tokens"] < 5_000_000  # everything kept, still short
    with pytest.raises(TokenBudgetError, match="arm 'greedy': its pool is too small for the token budget"):
        check_matched_tokens([arm_tokens("greedy", stats)], recipe.token_budget, key="t", workspace=crawl_ws)


def test_the_pipeline_is_one_ordered_list_of_steps():
    # The order curate runs its steps in is the documented one, and each step says when it is wanted.
    assert list(C.STEPS) == ["language", "filters", "dedup", "decontaminate", "selection", "budget"]
    plain = Recipe(name="d", sources=["crawl"], decontamination={"enabled": False})
    assert [n for n, s in C.STEPS.items() if s.wanted(plain)] == ["language", "filters"]
    deduped = Recipe(name="d", sources=["crawl"], dedup={"exact": True}, token_budget=1000)
    assert [n for n, s in C.STEPS.items() if s.wanted(deduped)] == [
        "language",
        "filters",
        "dedup",
        "decontaminate",
        "budget",
    ]


def test_missing_signals_name_the_command(workspace, cc_docs_table):
    write_docs(workspace, "crawl", cc_docs_table.slice(0, 10))
    with pytest.raises(LookupError, match="flows.signals crawl"):
        resolve_signals(workspace, "crawl")


@pytest.mark.slow
def test_signals_and_curate_flows_end_to_end(workspace, cc_docs_table, tmp_path):
    """The two CLIs on a small source: curate computes the missing signals (Dask, 2
    shards) and the dataset; a rerun of signals is served from the workspace."""
    write_docs(workspace, "crawl", cc_docs_table.slice(0, 80), shard_rows=40)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WINNOW_HOME": str(workspace.root)}
    run = lambda *args: subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text((ROOT / "recipes" / "heuristic.yaml").read_text())
    done = run("flows.curate", str(recipe))  # computes the missing signals (Dask), then curates
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    again = run("flows.signals", "crawl")
    assert again.returncode == 0 and "cached" in again.stdout, again.stderr[-3000:]
    from tasks.core.catalog import Catalog

    cat = Catalog(workspace.catalog_path)
    runs = cat.table("signals_runs").to_pylist()
    assert [r["cached"] for r in sorted(runs, key=lambda r: r["finished_at"])] == [False, True]
    assert runs[0]["documents"] == 80 and runs[0]["shards"] == 2
    ds = cat.table("datasets").to_pylist()
    assert len(ds) == 1 and ds[0]["recipe"] == "heuristic" and ds[0]["documents_in"] == 80
    counts = cat.table("filter_counts").to_pylist()
    assert len(counts) == 2 + 32  # language: allowed + min_score
    bad = tmp_path / "bad.yaml"
    bad.write_text('sources: [crawl]\nfilters: [{sql: "n_chars > 1; DROP TABLE datasets"}]\n')
    refused = run("flows.curate", str(bad))
    assert refused.returncode != 0 and "';'" in refused.stderr


def test_a_mixed_dataset_validates_in_the_tokens_curate_mixed_it_in(workspace, cc_docs_table, tmp_path):
    """crawl 0.7 / de 0.3 of 10,000 real tokens: the German documents take ~2.0 characters a
    token, the English ~2.8 (EOS included; the suite tokenizer learnt English), so their
    share is right in tokens but ~0.06 short in characters, which the contract measured
    before (and failed the arm). The flow's own validation of the arm's dataset passes."""
    import pyarrow.compute  # noqa: F401

    from flows.ablation import validate_dataset
    from tasks import validation as V

    # ingest's output: empty texts quarantined, the source column named as the source
    nonempty = pa.compute.utf8_length(pa.compute.utf8_trim_whitespace(cc_docs_table["text"]))
    crawl = cc_docs_table.filter(pa.compute.greater(nonempty, 0)).slice(0, 300)
    crawl_ws = _crawl_and_de(workspace, crawl.set_column(1, "source", pa.array(["crawl"] * 300)))
    recipe = Recipe(
        name="mix", sources=["crawl", "de"], token_budget=10_000, mixture={"weights": {"crawl": 0.7, "de": 0.3}}
    )
    stats = C.curate(recipe, crawl_ws).stats
    folder = crawl_ws.stage_dir("datasets", C.dataset_key(recipe))
    planned = {
        g: v["planned_tokens"] for g, v in stats["removals"]["selection"]["mixture"]["phases"][0]["groups"].items()
    }
    result = validate_dataset.fn(crawl_ws, recipe, C.dataset_key(recipe), real_tokens=True)
    mix = next(o for o in result["outcomes"] if o["expectation"] == "dataset.mixture_as_asked")
    assert result["success"] and mix["success"] and "token_share_deviation" in mix["message"]

    inputs = V.recipe_mixture_inputs(crawl_ws, recipe, folder)
    parts = sorted(folder.glob("part-*.parquet"))
    tokens = V.dataset_contract_for_recipe(parts, recipe, mixture=inputs).frames["mixture"]
    shares = dict(zip(tokens["group"], tokens["share"]))
    assert shares["de"] == pytest.approx(planned["de"] / sum(planned.values()))  # the mixer's own tokens
    assert abs(shares["de"] - 0.3) < 0.03
    chars = V.dataset_contract_for_recipe(parts, recipe).frames["mixture"]
    assert chars["unit"].tolist() == ["char", "char"]
    assert dict(zip(chars["group"], chars["char_share_deviation"]))["de"] > 0.05

    # the counts are the dataset's texts encoded with the tokenizer stats.json names (+ EOS),
    # stored counts where the text is its source's, a rewritten text encoded afresh
    from tokenizers import Tokenizer

    from tasks.train.doc_tokens import count_texts, dataset_token_counts
    from tasks.train.tokenizer import build_tokenizer

    _, tok_dir = build_tokenizer(crawl_ws, recipe.tokenizer_vocab())

    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    data = pq.read_table(folder / "part-00000.parquet")
    counted = dict(zip(inputs.doc_tokens["doc_id"].to_pylist(), inputs.doc_tokens["n_tokens"].to_pylist()))
    texts = data["text"].to_pylist()
    assert [counted[i] for i in data["doc_id"].to_pylist()] == count_texts(tok, texts).tolist()
    texts[0] = texts[0] + " Ein neuer Satz am Ende, den keine gespeicherte Zählung kennt."
    rewritten = tmp_path / "part-00000.parquet"
    pq.write_table(data.set_column(data.schema.get_field_index("text"), "text", pa.array(texts)), rewritten)
    refs = [resolve_docs(crawl_ws, s) for s in recipe.sources]
    again = dataset_token_counts(crawl_ws, [rewritten], refs, stats["tokenizer"]["hash"])
    first = data["doc_id"][0].as_py()
    n_again = dict(zip(again["doc_id"].to_pylist(), again["n_tokens"].to_pylist()))
    assert n_again[first] == int(count_texts(tok, [texts[0]])[0]) > counted[first]
