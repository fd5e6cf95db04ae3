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


# ------------------------------------------------------------- continuous metrics (winnow)
#
# Multiple-choice tasks score every choice by log-likelihood. Beside lm-eval's accuracy
# (argmax of the log-likelihood; acc_norm: argmax of log-likelihood per character of the
# choice), each item also gets two continuous scores, so that small models that are at
# chance on accuracy still rank (DataDecide, 2025):
#
# * `prob`: the probability of the correct answer among the choices, normalised as the
#   task's primary accuracy: softmax_i(s_i)[gold] with s_i = ll_i / len(choice_i) (chars)
#   where the task is scored by acc_norm, s_i = ll_i where it is scored by acc. Its argmax
#   is that accuracy's prediction; a model that cannot tell the choices apart gets 1/k.
# * `bits_per_byte`: of the gold continuation (target delimiter + correct choice, exactly
#   the string lm-eval scored): (ll_gold, bytes) pairs, aggregated by lm-eval's
#   `bits_per_byte` as -sum(ll) / (ln 2 * sum(bytes)) (byte-weighted, as the held-out texts).
#
# process_results replaces lm-eval's built-in one, so acc / acc_norm are computed here the
# same way as lm-eval 0.4.13 ConfigurableTask.process_results (tests/test_eval_metrics.py
# checks that they agree on every task).

TARGET_DELIMITER = " "  # lm-eval's default; no task here overrides it


def _softmax(x):
    import numpy as np

    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max())
    return e / e.sum()


def mc_scores(results, choices, gold, acc_norm: bool, with_acc_norm: bool, continuations=None):
    """Per-item metrics of a multiple-choice item from lm-eval's [(ll, is_greedy), ...].

    `choices`: the strings lm-eval normalises acc_norm by (the choices, or for partial
    scoring the contexts); `continuations`: the scored continuation per choice (default
    delimiter + choice)."""
    import numpy as np

    lls = np.array([float(r[0]) for r in results])
    if len(lls) != len(choices):
        raise ValueError(f"{len(lls)} log-likelihoods for {len(choices)} choices")
    lengths = np.array([float(len(c)) for c in choices])
    acc = 1.0 if int(np.argmax(lls)) == gold else 0.0
    norm = 1.0 if int(np.argmax(lls / lengths)) == gold else 0.0
    scores = lls / lengths if acc_norm else lls
    conts = continuations or [TARGET_DELIMITER + c for c in choices]
    out = {"acc": acc}
    if with_acc_norm:
        out["acc_norm"] = norm
    out["prob"] = float(_softmax(scores)[gold])
    out["bits_per_byte"] = (float(lls[gold]), len(conts[gold].encode("utf-8")))
    return out


def _arc_like(doc):
    return doc["choices"]["text"], doc["choices"]["label"].index(doc["answerKey"].lstrip())


def hellaswag_process_results(doc, results):
    return mc_scores(results, doc["choices"], int(doc["label"]), acc_norm=True, with_acc_norm=True)


def arc_easy_process_results(doc, results):
    choices, gold = _arc_like(doc)
    return mc_scores(results, choices, gold, acc_norm=False, with_acc_norm=True)


def arc_challenge_process_results(doc, results):
    choices, gold = _arc_like(doc)
    return mc_scores(results, choices, gold, acc_norm=True, with_acc_norm=True)


def openbookqa_process_results(doc, results):
    choices, gold = _arc_like(doc)
    return mc_scores(results, choices, gold, acc_norm=True, with_acc_norm=True)


def piqa_process_results(doc, results):
    return mc_scores(results, [doc["sol1"], doc["sol2"]], int(doc["label"]), acc_norm=True, with_acc_norm=True)


def sciq_process_results(doc, results):
    choices = [doc["distractor1"], doc["distractor2"], doc["distractor3"], doc["correct_answer"]]
    return mc_scores(results, choices, 3, acc_norm=False, with_acc_norm=True)


def boolq_process_results(doc, results):
    return mc_scores(results, ["no", "yes"], int(doc["label"]), acc_norm=False, with_acc_norm=False)


def copa_process_results(doc, results):
    return mc_scores(results, copa_doc_to_choice(doc), int(doc["label"]), acc_norm=False, with_acc_norm=False)


def winogrande_process_results(doc, results):
    # Partial scoring: the choices are contexts and every one scores the same continuation.
    contexts = winogrande_doc_to_choice(doc)
    cont = TARGET_DELIMITER + winogrande_doc_to_target(doc)
    gold = winogrande_doc_to_text(doc)
    return mc_scores(results, contexts, gold, acc_norm=False, with_acc_norm=False, continuations=[cont] * 2)


def lambada_process_results(doc, results):
    """LAMBADA (one continuation, the last word): lm-eval's perplexity and acc, the
    probability of the whole last word (`prob`, no choices to normalise over) and its
    bits per byte."""
    import math

    ((ll, is_greedy),) = results
    target = " " + doc["text"].split(" ")[-1]
    return {
        "perplexity": float(ll),
        "acc": int(is_greedy),
        "prob": math.exp(float(ll)),
        "bits_per_byte": (float(ll), len(target.encode("utf-8"))),
    }
