"""Topic groups for mixtures: k-means over MiniLM embeddings of 160 real CC-MAIN-2019-30
documents in two sources, cached once, named t0..t3 with their distinctive words."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from tasks.recipe import Recipe
from tasks.selection import topics as T
from tasks.selection.spec import MixtureSpec, TopicsSpec

SPEC = TopicsSpec(n=4, seed=0, max_tokens=64)


@pytest.fixture(scope="module")
def ws_refs(cc_docs_table, tmp_path_factory):
    from tasks.core.docsref import docs_hash_of, resolve_docs
    from tasks.core.workspace import Workspace

    ws = Workspace.from_env(tmp_path_factory.mktemp("topics") / "ws")
    docs = cc_docs_table.filter(pc.greater(cc_docs_table.column("n_chars"), 200))
    refs = []
    for name, part in (("cc_a", docs.slice(0, 80)), ("cc_b", docs.slice(80, 80))):
        folder = ws.stage_dir("docs", f"{name}key")
        folder.mkdir(parents=True)
        shard = folder / "shard-00000.parquet"
        pq.write_table(part.set_column(part.schema.get_field_index("source"), "source", pa.array([name] * 80)), shard)
        ws.mark_done("docs", f"{name}key", {"name": name, "docs_hash": docs_hash_of([shard]), "shards": [shard.name]})
        refs.append(resolve_docs(ws, name))
    return ws, refs


@pytest.fixture(scope="module")
def topics(ws_refs):
    ws, refs = ws_refs
    return T.source_topics(ws, refs, SPEC)


def _pool(refs) -> pa.Table:
    return pa.concat_tables([pq.read_table(r.shards[0], columns=["doc_id", "source", "text", "n_chars"]) for r in refs])


def test_topics_are_named_deterministic_and_independent_of_row_order(ws_refs, topics):
    from tasks.selection.selection import read_scores

    ws, refs = ws_refs
    assert topics.table.num_rows == 160 and topics.key.startswith("topics-")
    sizes = [topics.documents[f"t{k}"] for k in range(4)]
    assert sorted(topics.table.column("topic").unique().to_pylist()) == ["t0", "t1", "t2", "t3"]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 160  # t0 is the largest
    assert all(1 <= len(w) <= 3 and all(x.isalpha() and x == x.lower() for x in w) for w in topics.words.values())
    # the same documents (both sources, any order) give the same topics and words bit for bit
    emb_spec = T.embedding_spec(SPEC)
    scores = pa.concat_tables([read_scores(ws, r, emb_spec) for r in refs])
    texts = dict(zip(*_pool(refs).select(["doc_id", "text"]).to_pydict().values()))
    perm = np.random.default_rng(5).permutation(scores.num_rows)
    scores = scores.take(perm)
    emb = scores.column("embedding").combine_chunks().flatten().to_numpy().reshape(160, -1)
    ids = scores.column("doc_id").to_pylist()
    again = T.fit_topics(emb, ids, [texts[i] for i in ids], SPEC)
    assert again.table.equals(topics.table.sort_by("doc_id")) and again.words == topics.words


def test_topic_column_is_cached_and_embeddings_shared(ws_refs, topics, monkeypatch):
    import tasks.selection.embeddings as E

    ws, refs = ws_refs
    info = json.loads((ws.stage_dir("selection", topics.key) / "_SUCCESS").read_text())
    assert info["docs"] == 160 and info["n"] == 4 and info["topics"]["t0"]["words"] == topics.words["t0"]

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(E, "embed", boom)
    monkeypatch.setattr(T, "fit_topics", boom)
    cached = T.source_topics(ws, list(reversed(refs)), SPEC)  # the source order is not part of the key
    assert cached.key == topics.key and cached.table.equals(topics.table) and cached.words == topics.words
    monkeypatch.undo()
    monkeypatch.setattr(E, "embed", boom)  # other n: new k-means, the stored embeddings again
    three = T.source_topics(ws, refs, TopicsSpec(n=3, seed=0, max_tokens=64))
    assert three.key != topics.key and set(three.documents) == {"t0", "t1", "t2"}


def test_mixture_by_topic_keeps_only_the_weighted_topic(ws_refs, topics):
    from tasks.selection.selection import select_and_mix

    _, refs = ws_refs
    cands = T.attach_topics(_pool(refs), topics)
    recipe = Recipe(
        name="t0_only",
        sources=["cc_a", "cc_b"],
        mixture={"group_by": "topic", "topics": SPEC.model_dump(), "weights": {"t0": 1.0}, "max_epochs": 1.0},
    )
    table, stats = select_and_mix(cands, recipe)
    t0 = set(pc.filter(cands.column("doc_id"), pc.equal(cands.column("topic"), "t0")).to_pylist())
    assert set(table.column("doc_id").to_pylist()) == t0 and len(t0) == topics.documents["t0"]
    plan = {**stats["mixture"], "topics": topics.describe()}
    rows = {r["topic"]: r for r in T.topic_mix(plan)}
    assert rows["t0"]["share"] == 1.0 and rows["t0"]["documents"] == len(t0) and rows["t0"]["words"]
    assert all(rows[t]["share"] == 0.0 and rows[t]["documents"] == 0 for t in ("t1", "t2", "t3"))
    # the data card lists the topic mix with the words
    from tasks.report.cards import to_markdown

    card = {
        "dataset": {"recipe": "t0_only", "key": "k", "data_hash": "h", "inputs_fingerprint": "f", "signals": []},
        "tokens": {"unique_est": 1, "chars_per_token": 4.0, "trained": None},
        "counts": {"documents": len(t0), "stages": []},
        "sources": [],
        "language_mix": {},
        "domains": 0,
        "top_domains": {},
        "topic_mix": T.topic_mix(plan),
        "decontamination": {"ran": False},
        "recipe": {},
    }
    card["dataset"]["files"] = []
    words = ", ".join(topics.words["t0"])
    assert f"| main | t0 | {words} | {len(t0):,} | 100.0% |" in to_markdown(card)
    with pytest.raises(LookupError, match="have no topic"):
        T.attach_topics(pa.table({"doc_id": ["not-a-document"]}), topics)


def test_topic_mixture_validation():
    assert MixtureSpec(group_by="topic").topics == TopicsSpec(n=8, seed=0)
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        MixtureSpec(group_by="topic", topics={"n": 1})
    with pytest.raises(ValidationError, match="group_by is 'source'"):
        MixtureSpec(topics={"n": 4})
    with pytest.raises(ValidationError, match=r"'t4' is not a topic id; with topics.n = 4 they are t0..t3"):
        MixtureSpec(group_by="topic", topics={"n": 4}, weights={"t4": 1.0})
    with pytest.raises(ValidationError, match=r"final_phase.weights: 'news'"):
        MixtureSpec(group_by="topic", final_phase={"fraction": 0.2, "weights": {"news": 1.0}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        MixtureSpec(group_by="topic", topics={"k": 4})
    # recipes without topics keep the data hash they had before topics existed; n is part of it
    from tasks.core.hashing import hash_json

    plain = Recipe(name="plain", sources=["cc"])
    fields = plain.model_dump(include={"sources", "language", "filters", "dedup", "selection", "mixture"})
    fields.update(token_budget=None, decontamination=plain.model_dump()["decontamination"])
    del fields["mixture"]["topics"]
    del fields["mixture"]["online"]  # added later (training, not data: never in the data hash)
    del fields["dedup"]["substring"]  # a dedup mode added later: out of the hashes while off
    assert plain.data_hash() == hash_json(fields)
    four, five = ({"group_by": "topic", "topics": {"n": n}} for n in (4, 5))
    assert (
        Recipe(name="a", sources=["cc"], mixture=four).data_hash()
        != Recipe(name="a", sources=["cc"], mixture=five).data_hash()
    )


def test_curate_mixes_by_topic_and_the_card_lists_it(tmp_path, monkeypatch):
    """The curate pipeline end to end: 15 wget pages + 100 Wikipedia leads ingested with
    signals; a recipe weighting only t1 yields a dataset of t1 documents, and its card
    lists the topic mix."""
    import gzip

    from tasks.core.docsref import resolve_docs
    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.curate.pipeline import curate, dataset_key, resolve_inputs
    from tasks.ingest.ingest import finish_source, ingest_shard
    from tasks.ingest.sources import resolve_sources
    from tasks.report.cards import write_dataset_card
    from tasks.signals.signals import build_signals
    from tests.conftest import CRAWL

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "ws"))
    wiki = tmp_path / "wiki.jsonl.gz"
    with gzip.open(wiki, "wt") as f:
        for r in wiki_leads("train").slice(0, 100).to_pylist():
            f.write(json.dumps({"id": r["title"], "text": r["text"]}) + "\n")
    ws = Workspace.from_env(tmp_path / "ws")
    for name, paths in {"docs": [CRAWL / "wget-sample-0001.warc.gz"], "wiki": [wiki]}.items():
        files = resolve_sources([str(p) for p in paths])
        out = ws.stage_dir("docs", f"pool-{name}")
        counts = [ingest_shard(f, out, i, None, name) for i, f in enumerate(files)]
        finish_source(ws, f"pool-{name}", name, counts, [f.uri for f in files])
        build_signals(ws, resolve_docs(ws, name))
    mixture = {"group_by": "topic", "topics": {"n": 3, "max_tokens": 64}, "weights": {"t1": 1.0}, "max_epochs": 1.0}
    recipe = Recipe(name="topic_t1", sources=["docs", "wiki"], mixture=mixture)
    stats = curate(recipe, ws).stats
    inputs = resolve_inputs(ws, recipe)
    topics = T.source_topics(ws, [i.docs for i in inputs], recipe.mixture.topics)
    assert topics.table.num_rows == 115  # every document of both sources, before any filter
    part = pq.read_table(ws.stage_dir("datasets", dataset_key(recipe)) / "part-00000.parquet")
    topic_of = dict(zip(topics.table.column("doc_id").to_pylist(), topics.table.column("topic").to_pylist()))
    assert {topic_of[d] for d in part.column("doc_id").to_pylist()} == {"t1"} and part.num_rows == stats["documents"]
    assert stats["removals"]["selection"]["mixture"]["topics"]["topics"]["t1"]["words"] == topics.words["t1"]
    card = write_dataset_card(ws, recipe, inputs).read_text()
    assert "## Topic mix" in card and f"| main | t1 | {', '.join(topics.words['t1'])} |" in card


def test_a_dirichlet_sweep_over_a_topic_base_mixes_every_topic():
    from tasks.suite import Suite

    base = {"sources": ["crawl", "wiki"], "mixture": {"group_by": "topic", "topics": {"n": 3}}}
    sweep = {"base": base, "design": "random", "n": 2, "axes": {"mixture.weights": {"dirichlet": 1.0}}}
    s = Suite.model_validate({"name": "s", "sources": {"crawl": ["a"], "wiki": ["b"]}, "sweep": sweep})
    assert all(set(a.mixture.weights) == {"t0", "t1", "t2"} for a in s.arms)
    assert s.arms[0].mixture.weights != s.arms[1].mixture.weights
    sweep["axes"]["mixture.weights"]["over"] = ["t0", "t5"]  # t5 does not exist with n: 3
    with pytest.raises(ValidationError, match="'t5' is not a topic id"):
        Suite.model_validate({"name": "s", "sources": {"crawl": ["a"], "wiki": ["b"]}, "sweep": sweep})


def test_the_dataset_contract_checks_a_topic_mixture_by_topic(ws_refs, topics, tmp_path):
    from tasks import validation as V
    from tasks.selection.selection import select_and_mix

    ws, refs = ws_refs
    pool = _pool(refs)
    recipe = Recipe(
        name="t0_t1",
        sources=["cc_a", "cc_b"],
        mixture={"group_by": "topic", "topics": SPEC.model_dump(), "weights": {"t0": 0.5, "t1": 0.5}, "max_epochs": 4},
        token_budget=20_000,
    )
    table, _ = select_and_mix(T.attach_topics(pool, topics), recipe)
    at = pc.index_in(table.column("doc_id"), value_set=pool.column("doc_id"))
    data = pool.select(["doc_id", "source", "text"]).take(at).append_column("repeat", table.column("repeat"))
    folder = tmp_path / "datasets" / "k"
    folder.mkdir(parents=True)
    pq.write_table(data, folder / "part-00000.parquet")
    inputs = V.recipe_mixture_inputs(ws, recipe, folder)  # the cached topics; no stats.json: no tokens
    assert inputs.doc_tokens is None and inputs.groups.equals(topics.table)
    contract = V.dataset_contract_for_recipe(folder, recipe, mixture=inputs)
    frame = contract.frames["mixture"]
    assert frame["group"].tolist() == ["t0", "t1"] and frame["unit"].tolist() == ["char", "char"]
    # the mixer filled ceil(chars / 4) per document, so the character shares are within a document of 0.5
    assert V.run_contract(contract, key="topics").outcome("dataset.mixture_as_asked").success

    only_t0 = recipe.model_copy(update={"mixture": recipe.mixture.model_copy(update={"weights": {"t0": 1.0}})})
    with pytest.raises(V.ValidationFailed) as info:
        V.validate(V.dataset_contract_for_recipe(folder, only_t0, mixture=inputs), key="topics-bad")
    t1 = dict(zip(frame["group"], frame["share"]))["t1"]
    assert f"topic 't1' asked 0.000 got {t1:.3f} of chars" in str(info.value)
    with pytest.raises(ValueError, match="groups by 'topic' but neither the dataset"):
        V.dataset_contract_for_recipe(folder, recipe)
