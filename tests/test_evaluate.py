"""Evaluation stage: aggregation math, the standard lm_eval CLI on a saved tiny model
(offline), and the flow end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.evaluate.harness import (
    EVALS_DIR,
    aggregate,
    bits_per_byte,
    centered_accuracy,
    eval_key,
    read_samples,
    sample_chance,
)
from tasks.evaluate.registry import resolve_tasks
from tasks.evaluate.spec import EvalSpec

ROOT = Path(__file__).resolve().parent.parent


def test_centered_accuracy_and_bits_per_byte_on_known_inputs():
    assert centered_accuracy(0.25, 0.25) == 0.0
    assert centered_accuracy(1.0, 0.25) == 1.0
    assert centered_accuracy(0.625, 0.5) == pytest.approx(0.25)
    assert centered_accuracy(0.1, 0.25) == pytest.approx(-0.2)
    assert centered_accuracy(0.3, 0.0) == 0.3
    with pytest.raises(ValueError):
        centered_accuracy(0.5, 1.0)
    # 2 documents: 10 bytes at 1 bit/byte and 30 bytes at 3 bits/byte -> byte-weighted 2.5
    lls = [-10 * math.log(2), -90 * math.log(2)]
    assert bits_per_byte(lls, [10, 30]) == pytest.approx(2.5)


def _lm_eval_like(results: dict) -> dict:
    return {
        "results": {f"winnow_{t}": {k + ",none": v for k, v in m.items()} for t, m in results.items()},
        "n-samples": {f"winnow_{t}": {"original": 100, "effective": 10} for t in results},
    }


def test_aggregate_known_results():
    results = _lm_eval_like(
        {
            "hellaswag": {"acc": 0.3, "acc_norm": 0.4},  # primary acc_norm, chance .25 -> 0.2
            "arc_easy": {"acc": 0.5, "acc_norm": 0.1},  # primary acc, chance from samples
            "copa": {"acc": 0.75},  # chance .5 -> 0.5
            "lambada": {"acc": 0.1, "perplexity": 900.0},  # chance 0 -> 0.1
            "wikitext2": {"bits_per_byte": 2.0, "byte_perplexity": 4.0, "word_perplexity": 99.0},
            "news_heldout": {"bits_per_byte": 3.0, "byte_perplexity": 8.0, "word_perplexity": 999.0},
        }
    )
    # ARC has 3-, 4- and 5-choice items: chance is the mean of 1/k over the items seen.
    samples = {"winnow_arc_easy": [{"filtered_resps": [[-1.0, False]] * k} for k in (3, 5, 4, 4)]}
    chance = (1 / 3 + 1 / 5 + 1 / 4 + 1 / 4) / 4
    assert sample_chance(samples["winnow_arc_easy"]) == pytest.approx(chance)
    scores = aggregate(results, samples)
    table = scores.table()
    assert table["hellaswag"]["centered_acc"] == pytest.approx(0.2)
    assert table["arc_easy"]["chance"] == pytest.approx(chance)
    assert table["arc_easy"]["centered_acc"] == pytest.approx((0.5 - chance) / (1 - chance))
    assert table["copa"]["centered_acc"] == pytest.approx(0.5)
    assert table["lambada"]["centered_acc"] == pytest.approx(0.1)
    expected_mean = (0.2 + (0.5 - chance) / (1 - chance) + 0.5 + 0.1) / 4
    assert scores.mean_centered_acc == pytest.approx(expected_mean)
    assert table["mean"]["centered_acc"] == pytest.approx(expected_mean)
    assert scores.mean_bpb == pytest.approx(2.5)
    assert {r["n_items"] for r in scores.rows if r["task"] != "mean"} == {10}


def test_task_selection_and_eval_keys():
    assert resolve_tasks(["winnow_copa", "lm"]) == ["copa", "wikitext2", "wiki_leads_heldout", "news_heldout"]
    assert len(resolve_tasks(None)) == 13
    with pytest.raises(Exception, match="unknown eval task"):
        resolve_tasks(["hellaswagg"])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", n_leads=300, vocab_size=1024)


def test_eval_key_depends_on_model_and_config(tiny_model):
    a = eval_key(tiny_model, EvalSpec(limit=8))
    assert a == eval_key(tiny_model, EvalSpec(limit=8))
    assert a.split("-")[0] == eval_key(tiny_model, EvalSpec(limit=9)).split("-")[0]
    assert a != eval_key(tiny_model, EvalSpec(limit=9))
    assert a != eval_key(tiny_model, EvalSpec(limit=8, tasks=["copa"]))


def test_standard_lm_eval_cli_evaluates_the_saved_model_offline(tiny_model, tmp_path):
    from tasks.core.external import external_dir

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),  # 1 per xdist worker (conftest)
        "PYTHONPATH": str(ROOT),
        "WINNOW_EXTERNAL": str(external_dir()),
    }
    tasks = "winnow_arc_easy,winnow_copa,winnow_lambada,winnow_wiki_leads_heldout"
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_model}",
        "--tasks",
        tasks,
        "--include_path",
        str(EVALS_DIR),
        "--limit",
        "8",
        "--device",
        "cpu",
        "--batch_size",
        "8",
        "--output_path",
        str(tmp_path / "out"),
        "--log_samples",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [results_file] = list((tmp_path / "out").rglob("results_*.json"))
    results = json.loads(results_file.read_text())
    assert results["n-samples"]["winnow_arc_easy"] == {"original": 570, "effective": 8}
    assert 0.0 <= results["results"]["winnow_copa"]["acc,none"] <= 1.0
    # The continuous metrics come from lm-eval itself (evals/utils.py process_results).
    arc = results["results"]["winnow_arc_easy"]
    assert 0.0 < arc["prob,none"] < 1.0 and 1.0 < arc["bits_per_byte,none"] < 30.0
    bpb = results["results"]["winnow_wiki_leads_heldout"]["bits_per_byte,none"]
    assert 1.0 < bpb < 20.0
    # Our aggregation reads the CLI's files too, and its BPB agrees with lm-eval's.
    samples = {}
    for path in results_file.parent.glob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = [json.loads(line) for line in path.open()]
    pairs = [s["bits_per_byte"] for s in samples["winnow_wiki_leads_heldout"]]
    assert bits_per_byte([float(ll) for ll, _ in pairs], [int(n) for _, n in pairs]) == pytest.approx(bpb)
    scores = aggregate(results, samples)
    assert scores.mean_bpb == pytest.approx(bpb)
    assert scores.table()["arc_easy"]["chance"] < 0.3


def test_evaluate_flow_records_scores_and_reuses_them(tiny_model, workspace, catalog):
    from flows.evaluate import run_eval

    first = run_eval(
        tiny_model, tasks=["copa", "news_heldout"], limit=4, device="cpu", workspace=workspace.root
    ).summary
    assert first["cached"] is False
    out = Path(first["results_dir"])
    assert out.parent == workspace.root / "evals" and (out / "_SUCCESS").exists()
    assert (out / "results.json").exists() and len(read_samples(out)["winnow_copa"]) == 4
    rows = catalog.query("eval_scores", [first["model_key"]])
    assert rows[0]["eval_key"] == first["eval_key"] and rows[0]["item_limit"] == 4
    results = catalog.table("eval_results").to_pylist()
    assert {(r["task"], r["metric"]) for r in results} >= {
        ("copa", "centered_acc"),
        ("news_heldout", "bits_per_byte"),
        ("mean", "centered_acc"),
        ("mean", "bits_per_byte"),
    }
    again = run_eval(
        tiny_model, tasks=["copa", "news_heldout"], limit=4, device="cpu", workspace=workspace.root
    ).summary
    assert again["cached"] is True and again["eval_key"] == first["eval_key"]
    # Every item's scores reach the catalog; two arms sharing this evaluation are identical:
    # the report's paired bootstrap must call them a tie with P(A>B) = 0.5.
    items = catalog.table("eval_items").to_pylist()
    assert {(r["task"], r["metric"]) for r in items} == {
        ("copa", "acc"),
        ("copa", "chance"),
        ("copa", "prob"),
        ("copa", "bpb"),
        ("news_heldout", "bpb"),
    }
    assert len([r for r in items if r["task"] == "copa" and r["metric"] == "prob"]) == 4
    for arm in ("a", "b"):
        catalog.insert(
            "arm_runs",
            [{"suite": "s", "arm": arm, "seed": 0, "status": "completed", "eval_key": first["eval_key"]}],
        )
    from tasks.report.model import Decision, build_report

    report = build_report([], catalog.query("suite_items", {"suite": "s"}), Decision("prob", ("copa",), ("copa",)))
    assert report.decided.p_better[0][1] == 0.5 and report.board[1]["within_noise_of_best"]


def test_item_scores_from_lm_eval_samples():
    from tasks.evaluate.harness import item_scores

    ln2 = math.log(2)
    samples = {
        "winnow_arc_easy": [
            {
                "doc_id": 3,
                "acc": 1.0,
                "acc_norm": 0.0,
                "prob": 0.4,
                "bits_per_byte": [-ln2 * 10, 5],
                "filtered_resps": [[-1.0, False]] * 4,
            }
        ],
        "winnow_hellaswag": [{"doc_id": 0, "acc": 1.0, "acc_norm": 0.0, "prob": 0.3, "bits_per_byte": [-ln2, 1]}],
        "winnow_lambada": [{"doc_id": 1, "acc": 0, "prob": 0.1, "bits_per_byte": [-ln2 * 4, 8]}],
        "winnow_wiki_leads_heldout": [{"doc_id": 0, "bits_per_byte": [-ln2 * 300, 100]}],
    }
    rows = {(r["task"], r["item"], r["metric"]): (r["value"], r["weight"]) for r in item_scores(samples)}
    assert rows[("arc_easy", 3, "acc")] == (1.0, 1.0)  # arc_easy is scored by acc
    assert rows[("hellaswag", 0, "acc")] == (0.0, 1.0)  # hellaswag by acc_norm
    assert rows[("arc_easy", 3, "chance")] == (0.25, 1.0)
    assert rows[("arc_easy", 3, "prob")] == (0.4, 1.0)
    assert rows[("arc_easy", 3, "bpb")] == (pytest.approx(2.0), 5.0)
    assert rows[("lambada", 1, "chance")] == (0.0, 1.0) and rows[("lambada", 1, "bpb")][0] == pytest.approx(0.5)
    assert rows[("wiki_leads_heldout", 0, "bpb")] == (pytest.approx(3.0), 100.0)
    assert not any(t == "wiki_leads_heldout" and m != "bpb" for t, _, m in rows)


_BAR = __import__("re").compile(r"([^\r\n|]*?)\s*\d+%\|")


def test_a_green_evaluate_run_prints_one_bar_and_no_traceback(tiny_model, tmp_path):
    """lambada's perplexity takes lm-eval's bootstrap path (it once forked a pool whose
    shutdown printed Prefect TerminationSignal tracebacks); the MC task and the LM text
    would each draw per-task bars. Only the one request bar may remain."""
    env = {k: v for k, v in os.environ.items() if k != "WINNOW_VERBOSE"}
    env.update(
        PYTHONPATH=str(ROOT), WINNOW_HOME=str(tmp_path / "ws"), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2")
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flows.evaluate", str(tiny_model), "--tasks", "copa,lambada,news_heldout"]
        + ["--limit", "4", "--device", "cpu"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in out and "TerminationSignal" not in out, out[-4000:]
    bars = {m.group(1).strip().rstrip(":") for m in _BAR.finditer(out)}
    assert bars <= {"Running loglikelihood requests"}, bars
    assert "mean centered accuracy" in proc.stdout  # the run finished with its scores
    assert "Custom kwargs can be passed" not in out  # lm-eval's per-task metadata notice is dropped


def test_benign_lm_eval_warnings_are_dropped_and_others_kept(monkeypatch):
    import logging

    from tasks.core import logs

    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    logs.quiet_libraries()
    logs.quiet_libraries()  # idempotent: one filter
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    log = logging.getLogger("lm_eval.models.huggingface")
    handler = Keep()
    log.addHandler(handler)
    try:
        log.warning("Combined length of context (293) and continuation (5) exceeds model's maximum length (256).")
        log.warning("something else went wrong")
    finally:
        log.removeHandler(handler)
    assert seen == ["something else went wrong"]
    assert sum(isinstance(f, logs._DropBenign) for f in log.filters) == 1


def test_verbose_brings_the_library_bars_back(monkeypatch):
    import io

    import lm_eval.api.task
    import tqdm

    from tasks.core import logs

    def shown(make) -> bool:
        buf = io.StringIO()
        for _ in make(range(3), desc="x", file=buf, mininterval=0):
            pass
        return "3/3" in buf.getvalue()

    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    with logs.lm_eval_bars():
        assert not shown(lm_eval.api.task.tqdm) and not shown(tqdm.tqdm)
    assert lm_eval.api.task.tqdm is tqdm.tqdm and shown(tqdm.tqdm)  # put back afterwards
    monkeypatch.setenv(logs.VERBOSE_ENV, "1")
    with logs.lm_eval_bars():
        assert shown(lm_eval.api.task.tqdm)
