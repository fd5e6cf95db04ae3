"""Helpers for the task YAMLs in this folder (referenced as `!function utils.<name>`).

Data: each task's `custom_dataset: !function utils.load_local` reads the Parquet file
that `python -m tasks.setup_data` converted (tasks/evaluate/eval_data.py) from
`$WINNOW_EXTERNAL/evals/<task>.parquet` (default `<checkout>/.cache/external`, or
`./.cache/external` for an installed wheel, as tasks/core/paths.py), so these
YAMLs work unchanged from any checkout, offline, with `lm_eval --include_path evals`.

Prompt logic is copied from lm-eval 0.4.13's stock tasks (hellaswag/utils.py,
super_glue/copa/utils.py, winogrande/preprocess_winogrande.py,
wikitext/preprocess_wikitext.py) so that scores are comparable with published ones.
This file is self-contained (no project imports): lm-eval loads it by path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import datasets
import pyarrow.parquet as pq

_ROOT = Path(__file__).resolve().parent.parent  # the checkout, or site-packages for a wheel


def eval_data_dir() -> Path:
    root = os.environ.get("WINNOW_EXTERNAL")
    if root:
        return Path(root).expanduser().resolve() / "evals"
    checkout = _ROOT if (_ROOT / "pyproject.toml").is_file() else Path.cwd()
    return checkout / ".cache" / "external" / "evals"


def load_local(winnow_task: str, winnow_split: str = "validation", **_metadata) -> datasets.DatasetDict:
    """lm-eval `custom_dataset` hook: one split, read in memory from local Parquet."""
    path = eval_data_dir() / f"{winnow_task}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `python -m tasks.setup_data` first (task {winnow_task})")
    table = pq.read_table(path)
    return datasets.DatasetDict({winnow_split: datasets.Dataset(datasets.table.InMemoryTable(table))})


# ------------------------------------------------------------- hellaswag (stock utils.py)


def hellaswag_preprocess(text):
    text = text.strip()
    # NOTE: Brackets are artifacts of the WikiHow dataset portion of HellaSwag.
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag_process_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    # The stock per-document map, batched: same documents, ~10x less overhead (it runs
    # over all 10,042 items even when --limit asks for 40).
    def _process_batch(batch):
        out = {"query": [], "choices": [], "gold": []}
        for label, ctx_a, ctx_b, endings, label_ in zip(
            batch["activity_label"], batch["ctx_a"], batch["ctx_b"], batch["endings"], batch["label"]
        ):
            ctx = ctx_a + " " + ctx_b.capitalize()
            out["query"].append(hellaswag_preprocess(label + ": " + ctx))
            out["choices"].append([hellaswag_preprocess(ending) for ending in endings])
            out["gold"].append(int(label_))
        return out

    return dataset.map(_process_batch, batched=True, batch_size=2048)


# ------------------------------------------------------------- copa (stock super_glue/copa/utils.py)


def _copa_convert_choice(choice):
    return choice[0].lower() + choice[1:]


def copa_doc_to_text(doc):
    # Drop the period
    connector = {"cause": "because", "effect": "therefore"}[doc["question"]]
    return doc["premise"].strip()[:-1] + f" {connector}"


def copa_doc_to_target(doc):
    correct_choice = doc["choice1"] if doc["label"] == 0 else doc["choice2"]
    return " " + _copa_convert_choice(correct_choice)


def copa_doc_to_choice(doc):
    return [" " + _copa_convert_choice(doc["choice1"]), " " + _copa_convert_choice(doc["choice2"])]


# ------------------------------------------------------------- winogrande (stock partial scoring)


def winogrande_doc_to_text(doc):
    answer_to_num = {"1": 0, "2": 1}
    return answer_to_num[doc["answer"]]


def winogrande_doc_to_target(doc):
    idx = doc["sentence"].index("_") + 1
    return doc["sentence"][idx:].strip()


def winogrande_doc_to_choice(doc):
    idx = doc["sentence"].index("_")
    options = [doc["option1"], doc["option2"]]
    return [doc["sentence"][:idx] + opt for opt in options]


# ------------------------------------------------------------- wikitext (stock preprocess_wikitext.py)


def wikitext_detokenizer(doc):
    string = doc["page"]
    # contractions
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    # number separators
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    # punctuation
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    # double brackets
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    # miscellaneous
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def wikitext_process_results(doc, results):
    (loglikelihood,) = results
    # As lm-eval: words and bytes of the original page, before detokenization.
    _words = len(re.split(r"\s+", doc["page"]))
    _bytes = len(doc["page"].encode("utf-8"))
    return {
        "word_perplexity": (loglikelihood, _words),
        "byte_perplexity": (loglikelihood, _bytes),
        "bits_per_byte": (loglikelihood, _bytes),
    }


def text_process_results(doc, results):
    """Held-out plain text (Wikipedia leads, news): the same metrics over `text`."""
    (loglikelihood,) = results
    _words = len(re.split(r"\s+", doc["text"]))
    _bytes = len(doc["text"].encode("utf-8"))
    return {
        "word_perplexity": (loglikelihood, _words),
        "byte_perplexity": (loglikelihood, _bytes),
        "bits_per_byte": (loglikelihood, _bytes),
    }
