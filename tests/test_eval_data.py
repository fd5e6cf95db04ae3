"""Eval data conversion (tasks/evaluate/eval_data.py) and the task YAMLs in evals/ against
lm-eval's own stock task definitions."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tasks.evaluate.eval_data import (
    ALL_TASKS,
    BENCHMARKS,
    WIKITEXT2_TEST,
    eval_items,
    load_task_table,
    prepare,
    wikitext_pages,
)
from tasks.evaluate.harness import EVALS_DIR
from tasks.evaluate.registry import TASK_PREFIX

STOCK = Path(__import__("lm_eval").__file__).parent / "tasks"
STOCK_YAML = {
    "hellaswag": "hellaswag/hellaswag.yaml",
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "piqa": "piqa/piqa.yaml",
    "sciq": "sciq/sciq.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "copa": "super_glue/copa/default.yaml",
    "winogrande": "winogrande/default.yaml",
    "openbookqa": "openbookqa/openbookqa.yaml",
    "lambada": "lambada/lambada_openai.yaml",
    "wikitext2": "wikitext/wikitext.yaml",
}
EXPECTED_ROWS = {
    "hellaswag": 10042,
    "arc_easy": 570,
    "arc_challenge": 299,
    "piqa": 1838,
    "sciq": 1000,
    "boolq": 3270,
    "copa": 100,
    "winogrande": 1267,
    "openbookqa": 500,
    "lambada": 5153,
    "wikitext2": 62,
    "news_heldout": 181,
}


@pytest.fixture(scope="module")
def converted():
    return prepare()


def test_conversion_yields_the_upstream_item_counts(converted):
    from tasks.core.reference import wiki_leads

    for task, n in EXPECTED_ROWS.items():
        assert converted[task] == n, task
        assert load_task_table(task).num_rows == n, task
    assert converted["wiki_leads_heldout"] == wiki_leads("heldout").num_rows
    for task in ALL_TASKS:
        ids = load_task_table(task).column("item_id").to_pylist()
        assert len(set(ids)) == len(ids), f"{task}: duplicate item ids"


def test_rows_are_a_seeded_shuffle_not_upstream_order(converted):
    # --limit N takes the first N rows: they must mix HellaSwag's ActivityNet and WikiHow halves.
    first = load_task_table("hellaswag").slice(0, 50).column("source_id").to_pylist()
    assert {s.split("~")[0] for s in first} == {"activitynet", "wikihow"}
    assert load_task_table("copa").column("item_id").to_pylist() != [str(i) for i in range(100)]


def test_wikitext_split_into_articles_like_document_level_loader():
    with gzip.open(WIKITEXT2_TEST, "rt", encoding="utf-8", newline="") as f:
        raw = f.read()
    pages = wikitext_pages(raw)
    assert len(pages) == 62
    assert "\n".join(pages) == raw.replace("\r\n", "\n")  # nothing lost or reordered
    assert pages[0].startswith(" = Robert Boulter = \n")
    for page in pages:
        title = page.split("\n", 1)[0].strip()
        assert title.startswith("= ") and title.endswith(" =") and not title.startswith("= =")


def test_eval_items_cover_every_task_with_text(converted):
    items = eval_items()
    assert items.column_names == ["task", "item_id", "text"]
    assert items.num_rows == sum(converted.values())
    assert set(items.column("task").to_pylist()) == set(ALL_TASKS)
    assert all(t.strip() for t in items.column("text").to_pylist())
    arc = eval_items(["arc_easy"]).to_pylist()[0]
    row = load_task_table("arc_easy").to_pylist()[0]
    assert row["question"] in arc["text"] and all(c in arc["text"] for c in row["choices"]["text"])


def _stock_task(task: str):
    """lm-eval's stock task definition, fed our local rows instead of the Hub dataset."""
    import importlib.util

    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    spec = importlib.util.spec_from_file_location("winnow_eval_utils", EVALS_DIR / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    cfg = load_yaml(STOCK / STOCK_YAML[task])
    for key in ("dataset_path", "dataset_name", "tag", "training_split", "test_split", "validation_split"):
        cfg.pop(key, None)
    split = "test" if task in ("lambada", "wikitext2") else "validation"
    cfg[f"{split}_split"] = split
    cfg["custom_dataset"] = lambda **_: utils.load_local(task, split)
    return ConfigurableTask(config=cfg)


@pytest.mark.parametrize("task", sorted(STOCK_YAML))
def test_prompts_match_lm_eval_stock_tasks(converted, task):
    from lm_eval.tasks import TaskManager

    ours = TaskManager(include_path=str(EVALS_DIR), include_defaults=False).load_task_or_group([TASK_PREFIX + task])[
        TASK_PREFIX + task
    ]
    stock = _stock_task(task)
    docs = list(ours.eval_docs)[:6]
    stock_docs = list(stock.eval_docs)[:6]
    assert docs == stock_docs
    for doc in docs:
        assert ours.doc_to_text(doc) == stock.doc_to_text(doc)
        assert ours.doc_to_target(doc) == stock.doc_to_target(doc)
        if task in BENCHMARKS and task != "lambada":
            assert ours.doc_to_choice(doc) == stock.doc_to_choice(doc)


def test_prompt_formats_on_known_items(converted):
    from lm_eval.tasks import TaskManager

    tasks = TaskManager(include_path=str(EVALS_DIR), include_defaults=False).load_task_or_group(
        [TASK_PREFIX + t for t in ("arc_easy", "copa", "boolq", "winogrande")]
    )
    arc = tasks["winnow_arc_easy"]
    doc = next(d for d in arc.eval_docs if d["id"] == "MCAS_2000_4_6")
    assert arc.doc_to_text(doc) == "Question: Which technology was developed most recently?\nAnswer:"
    assert arc.doc_to_choice(doc)[arc.doc_to_target(doc)] == "cellular telephone"
    copa = tasks["winnow_copa"]
    doc = next(d for d in copa.eval_docs if d["idx"] == 0)
    assert copa.doc_to_text(doc) == "The man turned on the faucet therefore"
    assert copa.doc_to_choice(doc) == [" the toilet filled with water.", " water flowed from the spout."]
    boolq = tasks["winnow_boolq"]
    doc = list(boolq.eval_docs)[0]
    assert boolq.doc_to_text(doc).endswith(f"\nQuestion: {doc['question']}?\nAnswer:")
    assert boolq.doc_to_target(doc) == int(doc["answer"])
    wino = tasks["winnow_winogrande"]
    doc = next(d for d in wino.eval_docs if d["sentence"].startswith("Sarah was a much better surgeon"))
    assert wino.doc_to_choice(doc) == [
        "Sarah was a much better surgeon than Maria so Sarah",
        "Sarah was a much better surgeon than Maria so Maria",
    ]
    assert wino.doc_to_target(doc) == "always got the easier cases."
