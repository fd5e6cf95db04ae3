"""Evaluation: a saved proxy model -> lm-eval results -> one row of scores.

Only lm-eval computes scores: `run_lm_eval` calls `lm_eval.simple_evaluate` with the
`hf` model on the saved directory and the task YAMLs in `evals/` (nothing else), and
keeps every raw output (results JSON, per-item samples) under
`<WINNOW_HOME>/evals/<model_key>-<evalcfg_hash8>/`. `aggregate` then reduces lm-eval's
numbers to what a data ablation compares:

* centered accuracy per benchmark, (acc - chance) / (1 - chance) (DCLM), with chance
  taken per item as 1 / number of choices from the samples (ARC has 3- and 5-choice
  items), and LAMBADA's chance 0; and their mean;
* bits per byte of each held-out text (lm-eval's `bits_per_byte`, a byte-weighted
  -sum(loglik) / (ln 2 * sum(bytes))) and their mean;
* per benchmark, the continuous metrics the task YAMLs add through lm-eval
  (`evals/utils.py`): `prob`, the probability of the correct answer normalised as the
  task's accuracy, and `bits_per_byte` of the gold continuation.

`item_scores` keeps every item's scores (`items.parquet` beside lm-eval's samples, and the
catalog's `eval_items`) so that reports can bootstrap over items (tasks/report/stats.py).
`snapshots.parquet` (catalog `eval_snapshot_items`) holds the held-out texts' bits per byte
of every evaluation snapshot the training run left, and of the final model
(tasks/evaluate/snapshots.py): the checkpoint-to-checkpoint spread, training noise.

Which accuracy a benchmark reports follows GPT-3/Pythia/OLMo practice: acc_norm
(length-normalised) where answers differ much in length (hellaswag, arc_challenge,
piqa, openbookqa), plain acc elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.external import external_dir
from tasks.core.hashing import hash_file, hash_json, short
from tasks.core.logs import lm_eval_bars, quiet_libraries
from tasks.core.paths import evals_dir
from tasks.core.workspace import Workspace, write_json_atomic
from tasks.evaluate.eval_data import MULTIPLE_CHOICE, eval_data_hash
from tasks.evaluate.registry import (
    ALL_TASKS,
    BENCHMARKS,
    LM_TEXTS,
    TASK_PREFIX,
    TASKS,
    EvalError,
    resolve_tasks,
)
from tasks.evaluate.results import EvalResult
from tasks.evaluate.snapshots import read_snapshot_items, score_snapshots, write_item_rows, write_snapshot_items
from tasks.evaluate.spec import EvalSpec

EVAL_CODE_VERSION = "3"  # 2: prob / bits_per_byte per benchmark, items.parquet; 3: snapshots.parquet
EVALS_DIR = evals_dir()

# Items per task when neither `limit` nor `full` is given: 40, or the task's
# `default_limit` in tasks/evaluate/registry.py (chosen from measured per-item noise and
# cost: docs/decisions.md, "How many items").
DEFAULT_LIMIT = 40
DEFAULT_LIMITS = {t.name: t.default_limit for t in TASKS.values() if t.default_limit is not None}

# From tasks/evaluate/registry.py. Nominal chance; for multiple choice the per-item value
# from the samples is used when present.
PRIMARY_METRIC = {t.name: t.metric for t in TASKS.values() if t.metric is not None}
CHANCE = {t.name: t.chance for t in TASKS.values() if t.chance is not None}
LM_METRICS = ("bits_per_byte", "byte_perplexity", "word_perplexity")
CONTINUOUS_METRICS = ("prob", "bits_per_byte")  # per benchmark, from evals/utils.py


# ---------------------------------------------------------------- configuration and keys


def task_limits(spec: EvalSpec) -> dict[str, int | None]:
    """Items per task: every item with `full`, `limit` for every task when given, else
    the CI defaults. lm-eval then evaluates the first n rows, a seeded random subsample
    (tasks/evaluate/eval_data.py stores rows shuffled)."""
    tasks = resolve_tasks(spec.tasks)
    if spec.full:
        return {t: None for t in tasks}
    if spec.limit:
        return {t: spec.limit for t in tasks}
    return {t: DEFAULT_LIMITS.get(t, DEFAULT_LIMIT) for t in tasks}


def evals_dir_hash() -> str:
    """The task YAMLs and their helpers: editing a prompt changes every eval key."""
    files = sorted(p for p in EVALS_DIR.iterdir() if p.suffix in (".yaml", ".py"))
    return hash_json({p.name: hash_file(p) for p in files})


def eval_config(spec: EvalSpec) -> dict[str, Any]:
    import lm_eval

    config = {
        "tasks": resolve_tasks(spec.tasks),
        "limits": task_limits(spec),
        "full": spec.full,
        "data": eval_data_hash(),
        "yamls": evals_dir_hash(),
        "lm_eval": lm_eval.__version__,
        "code": EVAL_CODE_VERSION,
    }
    if spec.min_k is not None:  # only then: evaluations without it keep their keys
        config["min_k"] = spec.min_k.model_dump()
    return config


def model_key(model_dir: str | Path) -> str:
    """The training stage's key when the model lies in a workspace (`models/<key>/`), else
    a hash of the files that decide its outputs."""
    model_dir = Path(model_dir)
    if model_dir.parent.name == "models" and len(model_dir.name) == 16:
        return model_dir.name
    names = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    files = {n: hash_file(model_dir / n) for n in names if (model_dir / n).exists()}
    if "config.json" not in files:
        raise EvalError(f"{model_dir}: not a saved Hugging Face model (no config.json)")
    return short(hash_json(files), 16)


def eval_key(model_dir: str | Path, spec: EvalSpec) -> str:
    return f"{model_key(model_dir)}-{short(hash_json(eval_config(spec)), 8)}"


# ---------------------------------------------------------------- running lm-eval


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_lm_eval(
    model_dir: str | Path, limits: dict[str, int | None], out_dir: Path, device: str = "auto", batch_size: int = 16
) -> dict[str, Any]:
    """Run lm-eval on a saved model, offline, over the tasks in `limits` (short name ->
    items, None = all); write `results.json` and one `samples_<task>.jsonl` per task
    into out_dir; return lm-eval's results (without samples)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Bootstrap standard errors in this process, not a forked pool (same seeds, same values):
    # pool workers forked from a Prefect flow die on the pool's SIGTERM with a traceback.
    os.environ["DISABLE_MULTIPROC"] = "1"
    os.environ.setdefault("WINNOW_EXTERNAL", str(external_dir()))  # evals/utils.py reads the same folder
    quiet_libraries()
    import lm_eval
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import handle_non_serializable

    model_dir = Path(model_dir).resolve()
    if not (model_dir / "config.json").exists():
        raise EvalError(f"{model_dir}: not a saved Hugging Face model (no config.json)")
    manager = TaskManager(include_path=str(EVALS_DIR), include_defaults=False)
    subsample = None
    if any(n is not None for n in limits.values()):
        # lm-eval's `samples` (doc indices per task) allows a different count per task.
        from tasks.evaluate.eval_data import load_task_table

        subsample = {}
        for t, n in limits.items():
            rows = load_task_table(t).num_rows
            subsample[TASK_PREFIX + t] = list(range(min(n, rows) if n else rows))
    with lm_eval_bars():
        results = lm_eval.simple_evaluate(
            model="hf",
            model_args={"pretrained": str(model_dir), "dtype": "float32"},
            tasks=[TASK_PREFIX + t for t in limits],
            task_manager=manager,
            device=pick_device(device),
            batch_size=batch_size,
            samples=subsample,
            log_samples=True,
            bootstrap_iters=1000,
        )
    if results is None:
        raise EvalError("lm-eval returned no results")
    samples = results.pop("samples", {})
    out_dir.mkdir(parents=True, exist_ok=True)
    for task, rows in samples.items():
        path = out_dir / f"samples_{task}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=handle_non_serializable, ensure_ascii=False) + "\n")
    (out_dir / "results.json").write_text(
        json.dumps(results, default=handle_non_serializable, indent=2, ensure_ascii=False)
    )
    return json.loads((out_dir / "results.json").read_text())


def read_samples(out_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for path in sorted(out_dir.glob("samples_*.jsonl")):
        with open(path, encoding="utf-8") as f:
            out[path.stem.removeprefix("samples_")] = [json.loads(line) for line in f]
    return out


# ---------------------------------------------------------------- aggregation


def centered_accuracy(acc: float, chance: float) -> float:
    """(acc - chance) / (1 - chance): 0 at chance, 1 when perfect, negative below chance."""
    if not 0.0 <= chance < 1.0:
        raise ValueError(f"chance must be in [0, 1), got {chance}")
    return (acc - chance) / (1.0 - chance)


def bits_per_byte(logliks: Iterable[float], n_bytes: Iterable[int]) -> float:
    """Byte-weighted bits per byte of whole documents (as lm-eval's `bits_per_byte`)."""
    logliks, n_bytes = list(logliks), list(n_bytes)
    return -sum(logliks) / (sum(n_bytes) * math.log(2))


def sample_chance(rows: list[dict]) -> float | None:
    """Mean over items of 1 / number of choices (multiple-choice samples only)."""
    counts = [len(r["filtered_resps"]) for r in rows if r.get("filtered_resps")]
    return sum(1.0 / c for c in counts) / len(counts) if counts else None


@dataclass
class Scores:
    rows: list[dict[str, Any]]  # task, metric, value, n_items
    mean_centered_acc: float | None
    mean_bpb: float | None

    def table(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            out.setdefault(r["task"], {})[r["metric"]] = r["value"]
        return out


def aggregate(results: dict[str, Any], samples: dict[str, list[dict]] | None = None) -> Scores:
    """lm-eval results (+ samples) -> per-task accuracy, chance, centered accuracy, bits
    per byte; the mean centered accuracy over benchmarks and mean bits per byte over texts."""
    rows: list[dict[str, Any]] = []
    centered, bpbs = [], []
    n_samples = results.get("n-samples", {})
    for name, metrics in sorted(results["results"].items()):
        task = name.removeprefix(TASK_PREFIX)
        n = (n_samples.get(name) or {}).get("effective")

        def add(metric: str, value: float) -> None:
            rows.append({"task": task, "metric": metric, "value": float(value), "n_items": n})

        if task in BENCHMARKS:
            for m in ("acc", "acc_norm"):
                if f"{m},none" in metrics:
                    add(m, metrics[f"{m},none"])
            chance = CHANCE[task]
            if task in MULTIPLE_CHOICE and samples and samples.get(name):
                chance = sample_chance(samples[name]) or chance
            value = centered_accuracy(metrics[f"{PRIMARY_METRIC[task]},none"], chance)
            add("chance", chance)
            add("centered_acc", value)
            centered.append(value)
            for m in CONTINUOUS_METRICS:
                if f"{m},none" in metrics:
                    add(m, metrics[f"{m},none"])
        elif task in LM_TEXTS:
            for m in LM_METRICS:
                add(m, metrics[f"{m},none"])
            bpbs.append(metrics["bits_per_byte,none"])
    mean_c = sum(centered) / len(centered) if centered else None
    mean_b = sum(bpbs) / len(bpbs) if bpbs else None
    if mean_c is not None:
        rows.append({"task": "mean", "metric": "centered_acc", "value": mean_c, "n_items": len(centered)})
    if mean_b is not None:
        rows.append({"task": "mean", "metric": "bits_per_byte", "value": mean_b, "n_items": len(bpbs)})
    return Scores(rows, mean_c, mean_b)


def item_scores(samples: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """lm-eval's per-item samples -> long rows (task, item, metric, value, weight):

    * `acc`: the task's primary accuracy (PRIMARY_METRIC) of the item, 0 or 1;
    * `chance`: 1 / number of choices (multiple choice), 0 for LAMBADA;
    * `prob`: probability of the correct answer (evals/utils.py);
    * `bpb`: bits per byte of the gold continuation or held-out document, weight = its
      bytes, so the weighted mean is lm-eval's byte-weighted bits per byte.

    `item` is the document's index in the stored task table (the same for every model
    evaluated with the same config: the key of the paired bootstrap)."""
    out: list[dict[str, Any]] = []
    for name, rows in sorted(samples.items()):
        task = name.removeprefix(TASK_PREFIX)
        for r in rows:
            item = int(r["doc_id"])

            def add(metric: str, value: float, weight: float = 1.0) -> None:
                out.append({"task": task, "item": item, "metric": metric, "value": float(value), "weight": weight})

            if task in BENCHMARKS:
                if PRIMARY_METRIC[task] in r:
                    add("acc", r[PRIMARY_METRIC[task]])
                if task in MULTIPLE_CHOICE and r.get("filtered_resps"):
                    add("chance", 1.0 / len(r["filtered_resps"]))
                elif task not in MULTIPLE_CHOICE:
                    add("chance", CHANCE[task])
                if "prob" in r:
                    add("prob", r["prob"])
            if "bits_per_byte" in r:
                ll, n_bytes = r["bits_per_byte"]
                n_bytes = int(n_bytes)
                if n_bytes > 0:
                    add("bpb", -float(ll) / (n_bytes * math.log(2)), float(n_bytes))
    return out


def write_items(out_dir: Path, rows: list[dict[str, Any]]) -> Path:
    return write_item_rows(out_dir / "items.parquet", rows)


def read_items(results_dir: str | Path) -> list[dict[str, Any]]:
    """The per-item rows of an evaluation (written by `evaluate_model`)."""
    import pyarrow.parquet as pq

    path = Path(results_dir) / "items.parquet"
    if not path.exists():
        return item_scores(read_samples(Path(results_dir)))
    return pq.read_table(path).to_pylist()


# ---------------------------------------------------------------- the stage


def evaluate_model(
    model_dir: str | Path, spec: EvalSpec | None = None, workspace: Workspace | None = None, device: str = "auto"
) -> EvalResult:
    """Evaluate one saved model into `evals/<model_key>-<cfg8>/` (skipped when its
    `_SUCCESS` exists); returns the evaluation: its scores, and under `.summary` what
    `_SUCCESS` holds."""
    spec = spec or EvalSpec()
    ws = workspace or Workspace.from_env()
    model_dir = Path(model_dir).resolve()
    key = eval_key(model_dir, spec)
    if ws.is_done("evals", key):
        return EvalResult.from_summary({**ws.read_done("evals", key), "cached": True})
    with ws.claim("evals", key) as claim:  # a concurrent suite evaluating the same model is waited for
        if not claim.todo:
            return EvalResult.from_summary({**ws.read_done("evals", key), "cached": True})
        return EvalResult.from_summary(_evaluate_into(ws, key, model_dir, spec, device))


def _evaluate_into(ws: Workspace, key: str, model_dir: Path, spec: EvalSpec, device: str) -> dict[str, Any]:
    out = ws.stage_dir("evals", key)
    config = eval_config(spec)
    t0 = time.time()
    results = run_lm_eval(model_dir, config["limits"], out, device=device, batch_size=spec.batch_size)
    samples = read_samples(out)
    scores = aggregate(results, samples)
    write_items(out, item_scores(samples))
    t_snap = time.time()
    snapshot_rows = score_snapshots(model_dir, config["limits"], pick_device(device))
    write_snapshot_items(out, snapshot_rows)
    snapshot_seconds = time.time() - t_snap
    # The final model is scored again beside its snapshots: how far from lm-eval's own numbers.
    lm_eval_bpb = {(r["task"], r["item"]): r["value"] for r in read_items(out) if r["metric"] == "bpb"}
    last = max((r["step"] for r in snapshot_rows), default=None)
    snapshot_diff = max(
        (
            abs(r["value"] - lm_eval_bpb[(r["task"], r["item"])])
            for r in snapshot_rows
            if r["step"] == last and (r["task"], r["item"]) in lm_eval_bpb
        ),
        default=None,
    )
    if spec.min_k is not None:
        scores.rows.extend(_min_k_rows(model_dir, config["limits"], spec.min_k.k, pick_device(device), out))
    write_json_atomic(
        out / "scores.json",
        {"rows": scores.rows, "mean_centered_acc": scores.mean_centered_acc, "mean_bpb": scores.mean_bpb},
    )
    summary = {
        "eval_key": key,
        "model_key": model_key(model_dir),
        "model_dir": str(model_dir),
        "results_dir": str(out),
        "config": config,
        "device": pick_device(device),
        "seconds": round(time.time() - t0, 2),
        # checkpoints scored for snapshots.parquet, the final model included (0: none)
        "n_snapshots": len({r["step"] for r in snapshot_rows}),
        "snapshot_seconds": round(snapshot_seconds, 2),
        "snapshot_final_max_diff": snapshot_diff,  # bits per byte, final model vs lm-eval
        "mean_centered_acc": scores.mean_centered_acc,
        "mean_bpb": scores.mean_bpb,
        "n_items": sum(
            int(r["n_items"] or 0)
            for r in scores.rows
            if r["metric"] in ("centered_acc", "bits_per_byte") and r["task"] != "mean"
        ),
    }
    ws.mark_done("evals", key, summary)
    return {**summary, "cached": False}


def _min_k_rows(model_dir: Path, limits: dict[str, int | None], k: float, device: str, out: Path) -> list[dict]:
    """Min-K% Prob of every evaluated item (`min_k.parquet`) and its mean per task (score rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.membership.mink import score_eval_items, task_means

    items = score_eval_items(model_dir, limits, k, device)
    pq.write_table(pa.Table.from_pylist(items), out / "min_k.parquet")
    return task_means(items)


def read_scores(results_dir: str | Path) -> Scores:
    data = json.loads((Path(results_dir) / "scores.json").read_text())
    return Scores(data["rows"], data["mean_centered_acc"], data["mean_bpb"])


def catalog_rows(summary: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One `eval_runs` row and the `eval_results` rows of an evaluation."""
    scores = read_scores(summary["results_dir"])
    cfg = summary["config"]
    run = {
        "eval_key": summary["eval_key"],
        "model_key": summary["model_key"],
        "model_dir": summary["model_dir"],
        "results_dir": summary["results_dir"],
        "tasks": cfg["tasks"],
        "item_limit": max((n for n in cfg["limits"].values() if n), default=None),
        "full_suite": cfg["full"],
        "device": summary["device"],
        "n_items": summary["n_items"],
        "seconds": summary["seconds"],
        "mean_centered_acc": scores.mean_centered_acc,
        "mean_bpb": scores.mean_bpb,
        "lm_eval_version": cfg["lm_eval"],
        "cached": summary.get("cached", False),
    }
    results = [
        {
            "model_key": summary["model_key"],
            "eval_key": summary["eval_key"],
            "task": r["task"],
            "metric": r["metric"],
            "value": r["value"],
            "n_items": r["n_items"],
            "item_limit": cfg["limits"].get(r["task"]),
        }
        for r in scores.rows
    ]
    return run, results


def catalog_items(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The `eval_items` rows of an evaluation: every item's scores (item_scores)."""
    return [{"eval_key": summary["eval_key"], **r} for r in read_items(summary["results_dir"])]


def catalog_snapshot_items(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The `eval_snapshot_items` rows of an evaluation (snapshots.parquet)."""
    return [{"eval_key": summary["eval_key"], **r} for r in read_snapshot_items(summary["results_dir"])]


def _limits_text(config: dict[str, Any]) -> str:
    if config["full"]:
        return "all"
    return ", ".join(f"{t} {n}" for t, n in config["limits"].items())


def markdown_table(summary: dict[str, Any]) -> str:
    """The score table of one evaluation (Prefect artifact, docs)."""
    table = read_scores(summary["results_dir"]).table()
    lines = [
        f"# Evaluation `{summary['eval_key']}`",
        "",
        f"model `{summary['model_dir']}`, items per task: {_limits_text(summary['config'])}, "
        f"device {summary['device']}, {summary['seconds']} s{' (cached)' if summary.get('cached') else ''}",
        "",
        "| task | acc | acc_norm | chance | centered acc | prob correct | bits/byte | byte ppl |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def fmt(v: float | None) -> str:
        return "" if v is None else f"{v:.4f}"

    for task in [t for t in ALL_TASKS if t in table] + ["mean"]:
        m = table.get(task, {})
        lines.append(
            f"| {task} | {fmt(m.get('acc'))} | {fmt(m.get('acc_norm'))} | {fmt(m.get('chance'))} | "
            f"{fmt(m.get('centered_acc'))} | {fmt(m.get('prob'))} | {fmt(m.get('bits_per_byte'))} | {fmt(m.get('byte_perplexity'))} |"
        )
    return "\n".join(lines)
