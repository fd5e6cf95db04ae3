"""Data methods that act during training (issue 28): MeCo's metadata conditioning then
cooldown (tasks/train/metadata.py) and ODM's online data mixing (tasks/train/online_mix.py),
on real text (CC-MAIN-2019-30 documents with their URLs, Wikipedia leads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from tasks.core.reference import wiki_leads
from tasks.core.workspace import Workspace
from tasks.recipe import Recipe, load_recipe
from tasks.train.batches import make_batches
from tasks.train.metadata import IGNORE, load_mask, metadata_text, render
from tasks.train.online_mix import OnlineMixer
from tasks.train.spec import OnlineMixSpec, TrainSpec
from tasks.train.tokenizer import build_tokenizer, load_tokenizer
from tasks.train.tokens import load_tokens, tokenize_dataset

SEQ = 64
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.from_env(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def tok(ws, cc_docs_table):
    texts = wiki_leads("train").column("text").to_pylist()[:600] + cc_docs_table.column("text").to_pylist()[:150]
    return build_tokenizer(ws, 1024, texts)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, cc_docs_table):
    """Two sources: 200 crawl documents (with their URLs) and 200 Wikipedia leads, cut short."""
    cc = cc_docs_table.select(["doc_id", "source", "url", "text"]).slice(0, 200)
    cc = cc.set_column(1, "source", pa.array(["crawl"] * cc.num_rows))
    leads = wiki_leads("train").slice(0, 200)
    wiki = pa.table(
        {
            "doc_id": [f"wiki-{i}" for i in range(leads.num_rows)],
            "source": ["wiki"] * leads.num_rows,
            "url": [f"https://en.wikipedia.org/wiki/{t.replace(' ', '_')}" for t in leads.column("title").to_pylist()],
            "text": leads.column("text"),
        }
    )
    table = pa.concat_tables([cc.cast(wiki.schema), wiki])
    # short documents (their first 400 characters), so that most sequences hold a prefix
    table = table.set_column(3, "text", pa.compute.utf8_slice_codeunits(table.column("text"), 0, 400))
    folder = tmp_path_factory.mktemp("ds") / "two"
    folder.mkdir()
    pq.write_table(table.slice(0, 250), folder / "part-00000.parquet")
    pq.write_table(table.slice(250), folder / "part-00001.parquet")
    return folder


def spec(**kw) -> TrainSpec:
    base = dict(preset="nano", tokens=SEQ * 4 * 8, batch_size=4, micro_batch_size=2, checkpoint_every=3)
    return TrainSpec(**{**base, "precision": "fp32", "seed": 0, **kw})


# ---------------------------------------------------------------- MeCo


def test_metadata_prefix_text():
    assert metadata_text("https://www.Example.org/a/b?c=1", "url") == "URL: https://www.Example.org/a/b?c=1\n\n"
    assert metadata_text("https://www.Example.org/a/b?c=1", "domain") == "URL: example.org\n\n"
    assert metadata_text(None, "url") == "" and metadata_text("", "domain") == ""


def test_metadata_packing_keeps_every_document_token_and_marks_the_prefixes(ws, tok, dataset):
    plain_dir, plain = tokenize_dataset(ws, dataset, tok[1], SEQ, seed=0)
    meta_dir, meta = tokenize_dataset(ws, dataset, tok[1], SEQ, seed=0, metadata="url")
    assert meta_dir != plain_dir and meta_dir.name == f"L{SEQ}-s0-meta_url"
    assert not (plain_dir / "metadata.mask").exists()
    # the same document tokens, plus the prefixes (check_packed's rule)
    assert meta["n_tokens"] + meta["tokens_dropped_tail"] - meta["metadata_tokens_total"] == (
        plain["n_tokens"] + plain["tokens_dropped_tail"]
    )
    data, _ = load_tokens(meta_dir)
    marks = np.memmap(meta_dir / "metadata.mask", dtype=np.uint8, mode="r", shape=data.shape)
    assert int(marks.sum()) == meta["metadata_tokens"] > 0
    tokenizer = load_tokenizer(tok[1])
    # a row holding one whole prefix (not cut at either end): it decodes to the URL line
    row = next(r for r in range(len(marks)) if marks[r].any() and not marks[r, 0] and not marks[r, -1])
    run = np.flatnonzero(marks[row])
    run = run[: int(np.argmax(np.diff(np.r_[run, -9]) != 1)) + 1]
    text = tokenizer.decode(data[row, run].tolist())
    assert text.startswith("URL: http") and text.endswith("\n\n") and text.count("\n") == 2, text
    assert data[row, run[0] - 1] == meta["eos_id"]  # right after the previous document's EOS


def test_masked_positions_carry_no_loss(ws, tok, dataset):
    """The loss is the cross-entropy over document positions only: the metadata
    positions' labels are ignored, and the cooldown rows hold no metadata at all."""
    import torch
    import torch.nn.functional as F

    from tasks.train.model import build_model

    meta_dir, meta = tokenize_dataset(ws, dataset, tok[1], SEQ, seed=0, metadata="url")
    data, _ = load_tokens(meta_dir)
    marks = np.memmap(meta_dir / "metadata.mask", dtype=np.uint8, mode="r", shape=data.shape)
    idx = np.flatnonzero(marks.any(axis=1))[:4]
    x, labels = render(data[idx], marks[idx], plain=False, pad_id=meta["eos_id"])
    assert np.array_equal(labels == IGNORE, marks[idx].astype(bool))
    assert np.array_equal(labels[labels != IGNORE], x[labels != IGNORE])

    model = build_model("nano", vocab_size=meta["vocab_size"], eos_id=meta["eos_id"], seed=0).eval()
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    with torch.no_grad():
        logits = model(input_ids=xt).logits
        loss = model(input_ids=xt, labels=yt).loss
        unmasked = model(input_ids=xt, labels=xt).loss
    per_pos = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), xt[:, 1:].reshape(-1), reduction="none")
    doc = ~torch.from_numpy(marks[idx][:, 1:].astype(bool)).reshape(-1)
    assert torch.allclose(loss, per_pos[doc].mean(), atol=1e-5)
    assert not torch.allclose(loss, unmasked, atol=1e-3)  # the masked positions would have counted

    px, plabels = render(data[idx], marks[idx], plain=True, pad_id=meta["eos_id"])
    for r in range(len(idx)):  # cooldown: the document tokens in order, then padding without loss
        docs = data[idx[r]][marks[idx[r]] == 0].astype(np.int64)
        assert np.array_equal(px[r, : len(docs)], docs) and np.array_equal(plabels[r, : len(docs)], docs)
        assert (plabels[r, len(docs) :] == IGNORE).all() and (px[r, len(docs) :] == meta["eos_id"]).all()


def test_switch_at_the_cooldown_step_and_resume(ws, tok, dataset, tmp_path):
    from tasks.train.loop import train

    meta_dir, meta = tokenize_dataset(ws, dataset, tok[1], SEQ, seed=0, metadata="domain")
    s = spec(metadata={"prepend": "domain", "cooldown": 0.25})
    full = train(meta_dir, tok[1], tmp_path / "full", s, progress=False)
    steps = full["steps"]
    # the budget counts document tokens: more steps than the 8 of plain text
    assert steps == int(np.ceil(SEQ * 4 * 8 / int(SEQ * 4 * (1 - meta["metadata_tokens"] / meta["n_tokens"]))))
    assert steps > 8
    switch = steps - round(0.25 * steps)
    assert full["metadata"]["cooldown_start_step"] == switch + 1
    assert [c["conditioned"] for c in full["curves"]] == [True] * switch + [False] * (steps - switch)
    seen = [c["metadata_tokens"] for c in full["curves"]]
    assert sum(seen[:switch]) > 0 and not any(seen[switch:])
    assert full["metadata"]["positions_trained"] == sum(seen)
    # the matched-token contract compares tokens_trained: the baseline's 8 plain steps
    assert full["tokens_trained"] == SEQ * 4 * 8 and full["metadata"]["tokens_all_positions"] == steps * SEQ * 4
    # rows that hold a prefix, rendered at the last conditioning step and the first plain one
    data, _ = load_tokens(meta_dir)
    marks = load_mask(meta_dir, meta)
    rows = np.flatnonzero(marks.any(axis=1))[:4]
    batches = make_batches(s, None, data, meta, meta_dir, np.tile(rows, steps), 4, steps)
    x, labels, info = batches.get(switch - 1)
    assert info["conditioned"] and (labels.numpy() == IGNORE).sum() == info["metadata_tokens"] == marks[rows].sum()
    x, labels, info = batches.get(switch)
    assert not info["conditioned"] and info["metadata_tokens"] == 0
    assert x.shape == (4, SEQ) and (labels.numpy() != IGNORE).sum() == (marks[rows] == 0).sum()
    # the loop trains on those labels: its first loss is the masked loss of its first batch
    import torch

    from tasks.train.model import build_model
    from tasks.train.tokens import training_order

    model = build_model("nano", vocab_size=meta["vocab_size"], eos_id=meta["eos_id"], seed=0)
    batches = make_batches(s, None, data, meta, meta_dir, training_order(meta, steps * 4, 0), 4, steps)
    x, labels, info = batches.get(0)
    assert info["metadata_tokens"] > 0
    with torch.no_grad():
        masked = sum(model(input_ids=x[m : m + 2], labels=labels[m : m + 2]).loss.item() for m in (0, 2)) / 2
        unmasked = sum(model(input_ids=x[m : m + 2], labels=x[m : m + 2]).loss.item() for m in (0, 2)) / 2
    assert abs(full["curves"][0]["loss"] - masked) < 1e-4 < abs(full["curves"][0]["loss"] - unmasked)

    part = train(meta_dir, tok[1], tmp_path / "resumed", s, stop_after_steps=switch - 1, progress=False)
    assert part["stopped_at_step"] == switch - 1
    resumed = train(meta_dir, tok[1], tmp_path / "resumed", s, progress=False)
    assert resumed["resumed_from_step"] == switch - 1
    assert [c["loss"] for c in resumed["curves"]] == [c["loss"] for c in full["curves"]]
    again = train(meta_dir, tok[1], tmp_path / "again", s, progress=False)
    assert [c["loss"] for c in again["curves"]] == [c["loss"] for c in full["curves"]]


def test_recipes_without_the_new_options_keep_their_hashes():
    from tasks.train.loop import train_hash

    # the hashes recipes/no_filter.yaml had before train.metadata and mixture.online existed
    old = load_recipe(ROOT / "recipes" / "no_filter.yaml")
    assert (old.data_hash()[:12], old.content_hash()[:12]) == ("9b2eeab8817a", "35c57620a558")
    assert train_hash("d", "t", old.train, "cpu", "fp32")[:12] == "e0c3ccb75f57"
    base = Recipe(name="a", sources=["crawl"])
    meco = Recipe(name="a", sources=["crawl"], train={"metadata": {"prepend": "url"}})
    odm = Recipe(name="a", sources=["crawl"], mixture={"online": {"method": "odm"}})
    assert base.data_hash() == meco.data_hash() == odm.data_hash()  # same dataset
    assert len({base.content_hash(), meco.content_hash(), odm.content_hash()}) == 3
    assert odm.mixture.online is not None and odm.mixture.online.group_by == "source"


# ---------------------------------------------------------------- ODM


def run_mixer(losses: dict[str, float], steps: int, seed: int = 0) -> OnlineMixer:
    groups = {g: [i * 100, (i + 1) * 100] for i, g in enumerate(sorted(losses))}
    mixer = OnlineMixer(groups, batch=4, seed=seed, alpha=0.9)
    for step in range(steps):
        _, g = mixer.take(step)
        mixer.observe(losses[g])
    return mixer


def test_odm_weights_move_toward_the_group_with_higher_loss():
    """EXP3 with the smoothed, importance-weighted loss as reward: the group with the
    planted higher loss gains weight and is drawn most; swap the losses and the preference
    follows them. (ODM's rewards are a moving average scaled by a decaying exploration
    rate, so the policy leans, it does not collapse: about 0.37 vs 0.31 after 400 steps.)"""
    for hard, easy in (("a", "b"), ("b", "a")):
        mixer = run_mixer({hard: 6.0, easy: 3.0, "mid": 4.0}, 400)
        weights = np.asarray([r["weights"] for r in mixer.log])
        h, e, m = (mixer.names.index(g) for g in (hard, easy, "mid"))
        assert np.allclose(weights[0], 1 / 3)  # uniform before any reward
        assert (weights[100:, h] > weights[100:, m]).all() and (weights[100:, m] > weights[100:, e]).all()
        assert weights[-100:, h].mean() > 1 / 3 + 0.02 > 1 / 3 - 0.02 > weights[-100:, e].mean()
        drawn = [r["group"] for r in mixer.log]
        assert drawn.count(hard) > drawn.count("mid") > drawn.count(easy)
        assert all(abs(sum(w) - 1) < 1e-9 for w in weights) and weights.min() > 0.2  # every arm explored


def test_odm_same_seed_same_sequence_and_rows_stay_in_their_group():
    a, b = run_mixer({"x": 5.0, "y": 4.0}, 60, seed=3), run_mixer({"x": 5.0, "y": 4.0}, 60, seed=3)
    assert a.log == b.log
    assert [r["group"] for r in run_mixer({"x": 5.0, "y": 4.0}, 60, seed=4).log] != [r["group"] for r in a.log]
    mixer = OnlineMixer({"x": [0, 6], "y": [6, 10]}, batch=4, seed=0, alpha=0.9)
    seen: dict[str, list[int]] = {"x": [], "y": []}
    for step in range(12):
        rows, g = mixer.take(step)
        mixer.observe(1.0)
        seen[g] += rows.tolist()
    assert set(seen["x"]) <= set(range(6)) and set(seen["y"]) <= set(range(6, 10))
    # each group's rows are read in epochs: every row once before any twice
    for g, n in (("x", 6), ("y", 4)):
        full = len(seen[g]) // n * n
        for e in range(full // n):
            assert sorted(seen[g][e * n : (e + 1) * n]) == sorted(set(seen[g][:n]))


def test_odm_training_is_reproducible_across_resume(ws, tok, dataset, tmp_path):
    from tasks.train.loop import train

    packed_dir, meta = tokenize_dataset(ws, dataset, tok[1], SEQ, seed=0, group_by="source")
    assert set(meta["groups"]) == {"crawl", "wiki"} and packed_dir.name == f"L{SEQ}-s0-by_source"
    online = OnlineMixSpec(group_by="source")
    s = spec(tokens=SEQ * 4 * 12)
    full = train(packed_dir, tok[1], tmp_path / "full", s, progress=False, online=online)
    log = full["online_mix"]
    assert log["groups"] == ["crawl", "wiki"] and len(log["weights"]) == full["steps"] == 12
    assert [c["group"] for c in full["curves"]] == log["chosen"]
    assert (tmp_path / "full" / "online_mix.png").stat().st_size > 0
    part = train(packed_dir, tok[1], tmp_path / "resumed", s, stop_after_steps=7, progress=False, online=online)
    assert part["stopped_at_step"] == 7
    resumed = train(packed_dir, tok[1], tmp_path / "resumed", s, progress=False, online=online)
    assert resumed["resumed_from_step"] == 7
    assert resumed["online_mix"] == log
    assert [c["loss"] for c in resumed["curves"]] == [c["loss"] for c in full["curves"]]
    with pytest.raises(RuntimeError, match="different run configuration"):  # a checkpoint of another config
        train(packed_dir, tok[1], tmp_path / "other", s, stop_after_steps=3, progress=False, online=online)
        train(packed_dir, tok[1], tmp_path / "other", s, progress=False, online=OnlineMixSpec(alpha=0.5))
