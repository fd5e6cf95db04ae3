"""Decontamination on real eval items (the suite's converted eval data) and the real CC sample."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
import pytest

from tasks.decontam import decontaminate as D
from tasks.decontam import index as DI
from tasks.decontam import reference as DR
from tasks.decontam.spec import DecontaminationSpec
from tasks.evaluate.eval_data import eval_items


@pytest.fixture(scope="module")
def items():
    return eval_items(["hellaswag", "arc_easy", "arc_challenge", "lambada"])


@pytest.fixture(scope="module")
def index(items):
    return DI.build_index(items, n=13, min_item_words=8)


def _edit_lightly(text: str, rng: random.Random) -> str:
    """Case, punctuation and whitespace changes plus, for long items, one word swapped
    in the middle: what a scraped copy of a benchmark item looks like."""
    words = text.split()
    if len(words) >= 30:
        words[len(words) // 2] = "zzyzx"
    out = " ".join(words).upper() if rng.random() < 0.5 else " ".join(words).lower()
    out = re.sub(r"[.,]", lambda m: rng.choice([";", "", " -", "!"]), out)
    return out.replace(" ", "  \n", 3)


def _planted_corpus(docs: pa.Table, items: pa.Table, per_task: int = 6):
    """Real CC documents with real eval items pasted inside, verbatim and edited."""
    rng = random.Random(7)
    texts = [t for t in docs["text"].to_pylist() if t.strip()]
    tasks = items["task"].to_pylist()
    ids = items["item_id"].to_pylist()
    itexts = items["text"].to_pylist()
    planted = []  # (doc position, task, item_id)
    out = list(texts)
    for task in ("hellaswag", "arc_easy", "arc_challenge", "lambada"):
        rows = [i for i, t in enumerate(tasks) if t == task and len(DI.normalize_words(itexts[i])) >= 8]
        for j, i in enumerate(rng.sample(rows, per_task)):
            item = itexts[i] if j % 2 == 0 else _edit_lightly(itexts[i], rng)
            host = texts[rng.randrange(len(texts))]
            cut = rng.randrange(len(host) + 1)
            out.append(host[:cut] + "\n" + item + "\n" + host[cut:])
            planted.append((len(out) - 1, task, ids[i]))
    return out, planted


def test_normalisation_batch_matches_python(cc_docs_table):
    texts = cc_docs_table["text"].to_pylist()[:200] + ["Hello, World! It's  — 3.5% «quoted»", "", "   "]
    words, offsets = DI.batch_word_hashes(pa.array(texts))
    for i, t in enumerate(texts):
        expected = DI.hash_words(DI.normalize_words(t))
        assert np.array_equal(words[offsets[i] : offsets[i + 1]], expected), t[:80]
    assert DI.normalize_words("Hello, World! It's — 3.5%") == ["hello", "world", "its", "35"]


def test_finds_every_planted_item(cc_docs_table, items, index):
    texts, planted = _planted_corpus(cc_docs_table, items)
    result = D.scan_table(pa.table({"text": texts}), index)
    hit = result.contaminated()
    missed = [(task, item) for pos, task, item in planted if not hit[pos]]
    assert not missed, f"planted items not found: {missed}"
    # each planted document is attributed to an item of the task that was planted
    wrong = [
        (task, index.tasks[result.first_item[pos]])
        for pos, task, _ in planted
        if index.tasks[result.first_item[pos]] != task and not task.startswith("arc")
    ]
    assert not wrong, wrong
    # the real crawl documents themselves: the same answer as the straightforward decontaminator
    real = len(texts) - len(planted)
    reference = DR.reference_contaminated(texts[:real], items)
    assert sorted(np.flatnonzero(hit[:real]).tolist()) == reference
    print(
        f"\nreal CC documents overlapping hellaswag/ARC/LAMBADA: {len(reference)} of {real}; "
        f"planted found: {len(planted)}/{len(planted)}"
    )


def test_remove_and_mask(cc_docs_table, items, index):
    texts, planted = _planted_corpus(cc_docs_table, items, per_task=2)
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    kept, report = D.decontaminate(table, index, DecontaminationSpec(mode="remove"))
    assert report.docs_removed == report.docs_contaminated >= len(planted)
    assert kept.num_rows == table.num_rows - report.docs_removed
    assert not {f"d{pos}" for pos, _, _ in planted} & set(kept["doc_id"].to_pylist())
    assert sum(report.by_task.values()) == report.docs_contaminated

    masked, report = D.decontaminate(table, index, DecontaminationSpec(mode="mask", mask_token=" "))
    assert masked.num_rows == table.num_rows and report.docs_masked == report.docs_contaminated
    assert report.words_masked > 0
    assert D.contamination_count(masked, index) == 0
    # the host document's own words survive the masking
    pos = planted[0][0]
    original, after = texts[pos], masked["text"][pos].as_py()
    assert len(after) < len(original) and after[:20] == original[:20]


def test_short_items_match_whole_and_too_short_are_counted():
    items = pa.table(
        {
            "task": ["arc", "arc", "tiny"],
            "item_id": ["1", "2", "3"],
            "text": ["Which gas do plants absorb from the air? carbon dioxide", "A" + " word" * 20, "two words"],
        }
    )
    index = DI.build_index(items, n=13, min_item_words=8)
    assert index.items_too_short == 1 and index.items_indexed == 2
    docs = pa.array(
        [
            "Quiz: which GAS do plants absorb from the air -- Carbon Dioxide!",
            "which gas do plants absorb from the air",  # question alone: 8 words, not the item
            "nothing here at all",
        ]
    )
    assert D.scan_texts(docs, index).n_matches.tolist() == [1, 0, 0]


def test_index_cached_in_workspace(workspace, items):
    small = items.slice(0, 500)
    first = DI.cached_index(workspace, small)
    folders = list((workspace.root / "validation").glob("ngram-index-*/index.npz"))
    assert len(folders) == 1
    second = DI.cached_index(workspace, small)
    assert np.array_equal(first.hashes, second.hashes) and second.content_hash == first.content_hash
    assert DI.eval_items_hash(small) != DI.eval_items_hash(items.slice(0, 499))
    with pytest.raises(ValueError, match="lacks column"):
        DI.build_index(pa.table({"task": ["x"], "text": ["y"]}))


def test_decontaminate_parquet_over_part_files(workspace, cc_docs_table, items, tmp_path):
    import json

    import pyarrow.parquet as pq

    texts, planted = _planted_corpus(cc_docs_table, items, per_task=1)
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(table.slice(0, 400), src / "part-00000.parquet")
    pq.write_table(table.slice(400), src / "part-00001.parquet")
    items_path = tmp_path / "items.parquet"
    pq.write_table(items, items_path)
    out = tmp_path / "out"
    spec = DecontaminationSpec.model_validate({"mode": "remove"})
    index = DI.cached_index(workspace, pq.read_table(items_path), spec.n, spec.min_item_words)
    report = D.decontaminate_parquet(sorted(map(str, src.glob("*.parquet"))), str(out), index, spec)
    assert report["docs_removed"] == len(planted) and report["docs_scanned"] == len(texts)
    assert json.loads((out / "decontamination.json").read_text())["docs_removed"] == len(planted)
    kept = sum(pq.read_table(p).num_rows for p in out.glob("part-*.parquet"))
    assert kept == len(texts) - len(planted)
