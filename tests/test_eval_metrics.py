"""The continuous per-item metrics of evals/utils.py (prob, bits_per_byte) beside lm-eval's
accuracy: our process_results must give the stock task's acc / acc_norm on the same
log-likelihoods, score exactly the string lm-eval scored, and agree with the definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.evaluate.eval_data import BENCHMARKS, MULTIPLE_CHOICE
from tasks.evaluate.harness import EVALS_DIR, PRIMARY_METRIC
from tasks.evaluate.registry import TASK_PREFIX
from tests.test_eval_data import _stock_task


@pytest.fixture(scope="module")
def ours():
    from tasks.evaluate.eval_data import prepare

    prepare()
    from lm_eval.tasks import TaskManager

    names = [TASK_PREFIX + t for t in BENCHMARKS]
    return TaskManager(include_path=str(EVALS_DIR), include_defaults=False).load_task_or_group(names)


@pytest.mark.parametrize("task", MULTIPLE_CHOICE)
def test_multiple_choice_metrics_agree_with_lm_eval(ours, task):
    mine, stock = ours[TASK_PREFIX + task], _stock_task(task)
    rng = np.random.default_rng(0)
    for doc in list(mine.eval_docs)[:12]:
        ctx = mine.fewshot_context(doc, 0)
        requests = mine.construct_requests(doc, ctx)
        k = len(requests)
        # Log-likelihoods that make raw and per-char argmax disagree now and then.
        lls = rng.normal(-20, 8, size=k)
        results = [(float(ll), False) for ll in lls]
        got, want = mine.process_results(doc, results), stock.process_results(doc, results)
        for m in want:
            assert got[m] == want[m], (task, m)
        assert set(got) == {m["metric"] for m in mine.config.metric_list}
        # prob: softmax of the scores the primary accuracy takes the argmax of
        gold = mine.doc_to_text(doc) if mine.multiple_input else mine.doc_to_target(doc)
        gold = gold if isinstance(gold, int) else mine.doc_to_choice(doc).index(gold)
        lengths = np.array([len(c) for c in mine.doc_to_choice(doc)], dtype=float)
        s = lls / lengths if PRIMARY_METRIC[task] == "acc_norm" else lls
        p = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        assert got["prob"] == pytest.approx(p[gold])
        assert (got["prob"] == p.max()) == (got[PRIMARY_METRIC[task]] == 1.0)
        # bits per byte of exactly the continuation lm-eval scored for the gold answer
        ll, n_bytes = got["bits_per_byte"]
        assert ll == lls[gold]
        assert n_bytes == len(requests[gold].arguments[1].encode("utf-8"))


def test_lambada_metrics_agree_with_lm_eval(ours):
    mine, stock = ours[TASK_PREFIX + "lambada"], _stock_task("lambada")
    for doc in list(mine.eval_docs)[:5]:
        req = mine.construct_requests(doc, mine.fewshot_context(doc, 0))
        results = [(-3.5, True)]
        got, want = mine.process_results(doc, results), stock.process_results(doc, results)
        assert got["acc"] == want["acc"] and got["perplexity"] == want["perplexity"]
        assert got["prob"] == pytest.approx(math.exp(-3.5))
        assert got["bits_per_byte"] == (-3.5, len(req.arguments[1].encode("utf-8")))


def test_chance_model_gets_one_over_k():
    import importlib.util

    spec = importlib.util.spec_from_file_location("u", EVALS_DIR / "utils.py")
    u = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(u)
    out = u.mc_scores([(-5.0, False)] * 4, ["aa", "b", "cccc", "dd"], 2, acc_norm=False, with_acc_norm=True)
    assert out["prob"] == pytest.approx(0.25)
    # equal per-char log-likelihood: acc_norm's normalisation gives 1/k too
    lls = [(-2.0 * n, False) for n in (2, 1, 4, 2)]
    out = u.mc_scores(lls, ["aa", "b", "cccc", "dd"], 2, acc_norm=True, with_acc_norm=True)
    assert out["prob"] == pytest.approx(0.25)
    assert out["bits_per_byte"] == (-8.0, 5)
