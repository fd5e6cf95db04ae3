"""Exclusion samples: every step's removals sampled with their reason, on real CC documents
with planted duplicates and a planted eval item; `flows.inspect` prints them."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.inspect import render as inspect_render
from tasks.core.catalog import Catalog
from tasks.core.docsref import resolve_docs
from tasks.curate import exclusions as X
from tasks.curate import pipeline as C
from tasks.decontam.index import default_eval_items, normalize_words
from tasks.recipe import Recipe
from tasks.report import cards
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs


@pytest.fixture(scope="module")
def planted_item():
    """A real ARC-Easy item long enough to be matched (13+ normalised words)."""
    items = default_eval_items()
    for r in items.to_pylist():
        if r["task"] == "arc_easy" and len(normalize_words(r["text"])) >= 16:
            return r
    raise AssertionError("no ARC-Easy item of 16+ words")


@pytest.fixture
def planted_ws(workspace, cc_docs_table, planted_item):
    """300 real CC documents, three verbatim copies of one of them (exact duplicates), one
    document with an ARC item pasted in, one marked German and one of uncertain language,
    as source `crawl`, with signals."""
    base = cc_docs_table.slice(0, 300)
    rows = base.to_pylist()
    long_docs = [r for r in rows if r["n_chars"] > 3000]
    original = long_docs[0]
    copies = [dict(original, doc_id=f"copy-{i}", record_id=f"copy-{i}") for i in range(3)]
    host = long_docs[1]
    host_text = host["text"] + "\n" + planted_item["text"] + "\n"
    contaminated = dict(host, doc_id="contaminated", record_id="contaminated", text=host_text, n_chars=len(host_text))
    german = dict(rows[5], doc_id="german", record_id="german", language="de")
    unsure = dict(rows[6], doc_id="unsure", record_id="unsure", language_score=0.3)
    table = pa.Table.from_pylist(rows + copies + [contaminated, german, unsure], schema=base.schema)
    write_docs(workspace, "crawl", table, shard_rows=128)
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    return workspace, original["doc_id"]


def _recipe(**kw) -> Recipe:
    base = dict(
        name="probe",
        sources=["crawl"],
        language={"allowed": ["en"], "min_score": 0.5},
        filters=["gopher_quality", "fineweb"],
        dedup={"exact": True},
        token_budget=60_000,
    )
    return Recipe(**{**base, **kw})


def test_every_step_sampled_with_its_reason(planted_ws, planted_item):
    ws, original = planted_ws
    recipe = _recipe()
    stats = C.curate(recipe, ws, exclusions=X.SampleConfig(n=5, seed=0)).stats
    cards.write_dataset_card(ws, recipe, C.resolve_inputs(ws, recipe))  # as flows.curate does
    folder = ws.stage_dir("datasets", C.dataset_key(recipe))
    ex = pq.read_table(folder / "exclusions.parquet")
    assert ex.schema.equals(X.EXCLUSIONS_SCHEMA)
    rows = ex.to_pylist()
    by_reason: dict[str, list[dict]] = {}
    for r in rows:
        by_reason.setdefault(r["reason"], []).append(r)
    # filters: one reason per rule that removed anything, counted as the marginal removals
    filt = stats["removals"]["filters"]
    for rule in filt["rules"]:
        key = f"{rule['filter']}.{rule['rule']}"
        if rule["removed_marginal"]:
            got = by_reason[key]
            assert got[0]["removed_for_reason"] == rule["removed_marginal"]
            assert len(got) == min(5, rule["removed_marginal"])
        else:
            assert key not in by_reason
    # each sampled filter removal really fails its rule and passes every rule before it
    rules = C.validate(recipe)
    con = duckdb.connect()
    sig = pq.read_table(sorted(ws.root.glob("signals/*/shard-*.parquet")))
    con.register("signals", sig)
    for r in rows:
        if r["step"] != "filters":
            continue
        i = next(k for k, rule in enumerate(rules) if rule.key == r["reason"])
        keeps = [
            con.execute(
                f"SELECT coalesce(({x.predicate}), FALSE) FROM signals WHERE doc_id = ?", [r["doc_id"]]
            ).fetchall()[0][0]
            for x in rules[: i + 1]
        ]
        assert keeps == [True] * i + [False], (r["reason"], keeps)
        assert set(json.loads(r["signals"])) and all(c in sig.column_names for c in json.loads(r["signals"]))
    # dedup: the copies lost to one kept duplicate with the same text, which is in the dataset
    dups = by_reason["dedup.exact"]
    assert dups[0]["removed_for_reason"] == stats["removals"]["dedup"]["removed"]["exact"] >= 3
    kept_ids = set(pq.read_table(folder / "part-00000.parquet", columns=["doc_id"]).column("doc_id").to_pylist())
    copy_rows = [r for r in dups if r["doc_id"] in {original, "copy-0", "copy-1", "copy-2"}]
    for r in copy_rows:
        d = json.loads(r["detail"])
        assert d["kept_doc_id"] in {original, "copy-0", "copy-1", "copy-2"} - {r["doc_id"]}
        assert d["kept_doc_id"] in kept_ids and d["cluster_size"] >= 4
        assert d["kept_text"] == r["text"][: X.KEPT_TEXT_CHARS]
    # decontamination: the planted document, with the ARC item it matched
    dec = by_reason[f"decontaminate.{planted_item['task']}"]
    hit = next(r for r in dec if r["doc_id"] == "contaminated")
    d = json.loads(hit["detail"])
    assert d["task"] == "arc_easy" and d["n_matches"] >= 1 and d["item_text"]
    assert set(normalize_words(d["item_text"])) <= set(normalize_words(hit["text"] + planted_item["text"]))
    # language and budget: named, with the signals they are about
    lang = [r for r in rows if r["step"] == "language"]
    assert {(r["doc_id"], r["reason"]) for r in lang} == {
        ("german", "language.allowed"),
        ("unsure", "language.min_score"),
    }
    assert all(set(json.loads(r["signals"])) == {"language", "language_score"} for r in lang)
    budget = by_reason["budget"]
    assert budget[0]["removed_for_reason"] == stats["removals"]["budget"]["documents_in"] - stats["documents"]
    assert all(json.loads(r["detail"])["doc_tokens"] > 0 for r in budget)
    # every removal of every step is accounted for, and nothing kept was sampled
    removed_total = sum(stats["exclusions"]["removed_by_reason"].values())
    assert removed_total == stats["documents_in"] - stats["documents"]
    assert not kept_ids & {r["doc_id"] for r in rows}
    assert all(len(r["text"]) <= X.MAX_TEXT_CHARS and r["text_chars"] >= len(r["text"]) for r in rows)
    # the data card beside the dataset: counts through every stage, decontamination, hashes
    card = json.loads((folder / "card.json").read_text())
    stages = {c["stage"]: c["documents"] for c in card["counts"]["stages"]}
    assert list(stages) == ["input", "language", "filters", "dedup", "decontaminate", "selection", "budget"]
    assert stages["input"] == stats["documents_in"] and stages["budget"] == stats["documents"]
    assert stages["selection"] == stages["decontaminate"]  # not run: the count carries over
    assert card["decontamination"]["removed"] == stats["removals"]["decontaminate"]["removed"] >= 1
    assert card["decontamination"]["by_task"].get("arc_easy", 0) >= 1
    assert (
        card["dataset"]["files"][0]["sha256"]
        == hashlib.sha256((folder / "part-00000.parquet").read_bytes()).hexdigest()
    )
    assert card["sources"][0]["name"] == "crawl" and card["sources"][0]["licence"] == "unknown"
    assert card["recipe"]["filters"][0]["name"] == "gopher_quality"
    md = (folder / "card.md").read_text()
    assert "## Sources" in md and "## Decontamination" in md and "arc_easy: " in md and stats["data_hash"] in md
    # a dataset without a card (curated before cards existed) gets one when next served from cache
    (folder / "card.json").unlink()
    (folder / "card.md").unlink()
    cards.write_dataset_card(ws, recipe, C.resolve_inputs(ws, recipe), missing_only=True)
    assert json.loads((folder / "card.json").read_text())["dataset"] == card["dataset"]
    # flows.inspect prints them, by dataset key or by arm
    key = C.dataset_key(recipe)
    md = inspect_render(key, "dedup", 2, "md", None, str(ws.root))
    assert "dedup.exact" in md and "lost to `" in md and "filters" not in md.split("## ")[1]
    rule = next(k for k in by_reason if k.startswith("fineweb."))
    got = json.loads(inspect_render(key, rule, 2, "json", None, str(ws.root)))
    assert {r["reason"] for r in got} == {rule} and len(got) == min(2, len(by_reason[rule]))
    assert got[0]["signals"] == json.loads(by_reason[rule][0]["signals"])
    Catalog(ws.catalog_path).insert(
        "arm_runs", [{"suite": "s", "arm": "probe_arm", "seed": 0, "status": "completed", "dataset_key": key}]
    )
    by_arm = inspect_render("probe_arm", "decontaminate", None, "md", None, str(ws.root))
    assert "suite s" in by_arm and "matched arc_easy item" in by_arm
    with pytest.raises(LookupError, match="probe_arm"):
        inspect_render("no_such_arm", None, None, "md", None, str(ws.root))
    with pytest.raises(LookupError, match="reasons sampled"):
        inspect_render(key, "no_such_rule", None, "md", None, str(ws.root))
    # seeded: the same sample on a rerun, another seed another sample (the finished
    # dataset's marker goes first, or curate would serve the dataset as it is)
    (folder / "_SUCCESS").unlink()
    again = C.curate(recipe, ws, exclusions=X.SampleConfig(n=5, seed=0)).stats
    assert again["exclusions"] == stats["exclusions"]
    assert pq.read_table(folder / "exclusions.parquet").column("doc_id").to_pylist() == ex.column("doc_id").to_pylist()
    (folder / "_SUCCESS").unlink()
    C.curate(recipe, ws, exclusions=X.SampleConfig(n=5, seed=1))
    other = pq.read_table(folder / "exclusions.parquet")
    assert other.column("doc_id").to_pylist() != ex.column("doc_id").to_pylist()


def test_licences_known_or_unknown():
    from tasks.report.cards import provenance

    assert provenance("/x/sources/wiki-leads.jsonl.gz")["licence"] == "CC BY-SA (Wikipedia text)"
    assert provenance("/x/sources/python-docs.warc.gz")["licence"].startswith("PSF License")
    crawl = provenance("/data/crawl/webpages-trafilatura-aeb.warc.gz")
    assert crawl["licence"] == "unknown" and "belongs to its sites" in crawl["note"]
    assert provenance("s3://bucket/some.warc.gz") == {
        "uri": "s3://bucket/some.warc.gz",
        "what": "unknown",
        "licence": "unknown",
        "note": "",
    }
