"""Held-out bits per byte on every evaluation snapshot of a training run: training noise.

The training loop leaves the weights of a run's last steps in
`<model_dir>/snapshots/step-<N>.safetensors` (tasks/train/loop.py `snapshot_steps`); the
final step is the model itself, its step count in `train.json`. `score_snapshots` scores the
held-out language-modelling texts (`lm_text` tasks) on each of them and on the final model,
so that the report can measure checkpoint-to-checkpoint spread and average over
checkpoints at no extra training (Heineman et al. 2025, "Signal and Noise").

Scored here with torch rather than one lm-eval run per snapshot (one model load, weights
swapped in: seconds), but from lm-eval's own parts, so that the final model's rows equal
the `bpb` items lm-eval wrote (tests/test_snapshots.py): the task objects built from
`evals/winnow_<task>.yaml` (documents in lm-eval's order, the first n as the harness's
`samples`, the target string, the byte count of the YAML's process_results), HFLM's
tokenisation, prefix token and maximum length, and `get_rolling_token_windows` +
`make_disjoint_window` as in `HFLM.loglikelihood_rolling`. fp32, as the harness.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.logs import quiet_libraries
from tasks.core.paths import evals_dir
from tasks.evaluate.eval_data import LM_TEXTS

SNAPSHOT_DIR = "snapshots"  # tasks/train/loop.py writes the same layout
_SNAPSHOT_NAME = re.compile(r"^step-(\d+)\.safetensors$")
TASK_PREFIX = "winnow_"
BATCH_SIZE = 16  # windows per forward, as the harness's lm-eval batch size
# Positions per output-layer slice: a slice's logits (512 x vocab) stay near the core; about
# 1.7x faster than lm-eval's whole-batch log-softmax on one CPU thread at nano size.
_HEAD_ROWS = 512


@dataclass(frozen=True)
class Document:
    task: str
    item: int  # index in lm-eval's documents of the task (= the stored table's row)
    target: str  # the string lm-eval scores
    n_bytes: int  # its byte count as the task's process_results counts it


def snapshot_files(model_dir: str | Path) -> dict[int, Path]:
    """step -> snapshot file of a trained model, ascending (empty when it has none)."""
    out: dict[int, Path] = {}
    for path in (Path(model_dir) / SNAPSHOT_DIR).glob("step-*.safetensors"):
        m = _SNAPSHOT_NAME.match(path.name)
        if m:
            out[int(m.group(1))] = path
    return dict(sorted(out.items()))


def final_step(model_dir: str | Path) -> int | None:
    """The run's step count (`train.json`), None for a model not trained by winnow."""
    path = Path(model_dir) / "train.json"
    return int(json.loads(path.read_text())["steps"]) if path.exists() else None


def lm_documents(tasks_limits: dict[str, int | None]) -> list[Document]:
    """The held-out documents lm-eval scores for these limits (other tasks are ignored)."""
    tasks = [t for t in tasks_limits if t in LM_TEXTS]
    if not tasks:
        return []
    from lm_eval.tasks import TaskManager, get_task_dict

    manager = TaskManager(include_path=str(evals_dir()), include_defaults=False)
    objs = get_task_dict([TASK_PREFIX + t for t in tasks], manager)
    docs: list[Document] = []
    for t in tasks:
        task = objs[TASK_PREFIX + t]
        n = tasks_limits[t]
        for item, doc in enumerate(task.eval_docs):
            if n is not None and item >= n:  # the harness's `samples`: the first n documents
                break
            _, n_bytes = task.process_results(doc, [0.0])["bits_per_byte"]
            docs.append(Document(t, item, task.doc_to_target(doc), int(n_bytes)))
    return docs


def rolling_windows(tokenizer, text: str, prefix_token: int, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(context, continuation) token windows of one document, as HFLM.loglikelihood_rolling."""
    from lm_eval.models.utils import has_bos_prefix
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    # HFLM.tok_encode for a causal model with add_bos_token unset
    kwargs = {"add_special_tokens": False} if has_bos_prefix(text, tokenizer.decode(prefix_token)) else {}
    tokens = tokenizer.encode(text, **kwargs)
    return [
        make_disjoint_window(w)
        for w in get_rolling_token_windows(
            token_list=tokens, prefix_token=prefix_token, max_seq_len=max_length, context_len=1
        )
    ]


def window_logliks(
    model, windows: list[tuple[list[int], list[int]]], max_length: int, device: str, batch_size: int = BATCH_SIZE
) -> list[float]:
    """Log-likelihood of each window's continuation, as HFLM._loglikelihood_tokens: input
    (context + continuation)[-(max_length+1):][:-1], longest first in right-padded batches,
    the continuation scored by the logits at its positions (fp32 log-softmax)."""
    import torch

    if model.config.model_type != "llama":
        raise ValueError(f"snapshot scoring expects a winnow proxy (llama), got {model.config.model_type}")
    head = model.get_output_embeddings()
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i][0]) - len(windows[i][1]))
    out = [0.0] * len(windows)
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            inps = [(windows[i][0] + windows[i][1])[-(max_length + 1) :][:-1] for i in idx]
            batch = torch.zeros((len(idx), max(len(x) for x in inps)), dtype=torch.long)
            for row, x in enumerate(inps):
                batch[row, : len(x)] = torch.tensor(x, dtype=torch.long)
            hidden = model.model(input_ids=batch.to(device)).last_hidden_state
            # Llama's logits are lm_head(final hidden state): computed only where a token is
            # scored (no context, no padding) and in slices, the vocabulary-wide work being
            # most of a nano model's cost; the same numbers to ~1e-6.
            picked = torch.cat(
                [hidden[row, len(x) - len(windows[i][1]) : len(x)] for row, (i, x) in enumerate(zip(idx, inps))]
            )
            target = torch.tensor([t for i in idx for t in windows[i][1]], dtype=torch.long, device=picked.device)
            token_ll = torch.empty(len(target), dtype=torch.float32, device=picked.device)
            for c in range(0, len(target), _HEAD_ROWS):
                logits = head(picked[c : c + _HEAD_ROWS]).float()
                tgt = target[c : c + _HEAD_ROWS, None]
                token_ll[c : c + _HEAD_ROWS] = logits.gather(1, tgt).squeeze(1) - torch.logsumexp(logits, dim=-1)
            start = 0
            for i in idx:
                n = len(windows[i][1])
                out[i] = float(token_ll[start : start + n].sum())
                start += n
    return out


def _load_weights(model, path: Path) -> None:
    """Swap a snapshot's weights in; tied tensors stored once must be the only ones missing."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{path}: weights the model does not have: {', '.join(result.unexpected_keys)}")
    current = model.state_dict()
    loaded = {current[k].data_ptr() for k in state}
    untied = [k for k in result.missing_keys if current[k].data_ptr() not in loaded]
    if untied:
        raise ValueError(f"{path}: snapshot lacks {', '.join(untied)}")


def score_snapshots(model_dir: str | Path, tasks_limits: dict[str, int | None], device: str) -> list[dict[str, Any]]:
    """Rows {step, task, item, metric "bpb", value, weight} of every snapshot and of the final
    model (step = the run's steps), for the lm_text tasks in `tasks_limits` (short name ->
    items, None = all): value = bits per byte of the document, weight = its bytes, as the
    harness's `item_scores`. Empty for a model without train.json or without such tasks."""
    model_dir = Path(model_dir)
    last = final_step(model_dir)
    if last is None:
        return []
    quiet_libraries()  # lm-eval's per-task config notes, transformers' load bars
    docs = lm_documents(tasks_limits)
    if not docs:
        return []
    import torch
    from lm_eval.models.utils import resolve_max_length
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    model.to(torch.device(device))
    # HFLM.max_length (default 2048) and HFLM.prefix_token_id
    max_length = resolve_max_length(model.config, tokenizer, default=2048)
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    windows: list[tuple[list[int], list[int]]] = []
    owner: list[int] = []  # document index of each window
    for d, doc in enumerate(docs):
        ws = rolling_windows(tokenizer, doc.target, prefix, max_length)
        windows.extend(ws)
        owner.extend([d] * len(ws))
    checkpoints: list[tuple[int, Path | None]] = [(last, None)]  # None: the weights just loaded
    checkpoints += [(s, p) for s, p in snapshot_files(model_dir).items() if s != last]
    rows: list[dict[str, Any]] = []
    for step, path in checkpoints:
        if path is not None:
            _load_weights(model, path)
        lls = [0.0] * len(docs)
        for d, ll in zip(owner, window_logliks(model, windows, max_length, device)):
            lls[d] += ll
        for doc, ll in zip(docs, lls):
            if doc.n_bytes > 0:  # as item_scores: an empty document has no bits per byte
                value = -ll / (doc.n_bytes * math.log(2))
                rows.append(
                    {
                        "step": step,
                        "task": doc.task,
                        "item": doc.item,
                        "metric": "bpb",
                        "value": value,
                        "weight": float(doc.n_bytes),
                    }
                )
    return sorted(rows, key=lambda r: (r["step"], r["task"], r["item"]))


def write_snapshot_items(out_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """`snapshots.parquet`: the item rows of every snapshot, with their step first."""
    return write_item_rows(out_dir / "snapshots.parquet", rows, with_step=True)


def write_item_rows(path: Path, rows: list[dict[str, Any]], with_step: bool = False) -> Path:
    """Long per-item rows (task, item, metric, value, weight; `step` first for snapshots),
    the layout of items.parquet and snapshots.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [("task", pa.string()), ("item", pa.int64()), ("metric", pa.string())]
    fields += [("value", pa.float64()), ("weight", pa.float64())]
    schema = pa.schema(([("step", pa.int64())] if with_step else []) + fields)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def read_snapshot_items(results_dir: str | Path) -> list[dict[str, Any]]:
    """The rows `write_snapshot_items` wrote; none for an evaluation made before snapshots."""
    import pyarrow.parquet as pq

    path = Path(results_dir) / "snapshots.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []
