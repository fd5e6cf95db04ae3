"""Min-K% Prob (Shi et al., 2024, "Detecting Pretraining Data from Large Language Models"):
was an eval item in the proxy's training data?

The score of a text is the mean log-probability of its k% least likely tokens under the
model (each token given the text before it; the first token, which has no context, is not
scored). A text seen in training has few very unlikely tokens, so its score is higher
(closer to 0) than that of an unseen text of the same kind; the paper's default k is 20%.
Scores compare items of one task under one model (they depend on the text), not across
tasks. `eval: {min_k: {k: 0.2}}` adds the per-task mean (`min_k_prob`) to an evaluation's
score rows and every item's score to `min_k.parquet` (tasks/evaluate/harness.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 512  # an item longer than this is scored on its first 512 tokens


def min_k_prob(token_logprobs: np.ndarray, k: float = 0.2) -> float:
    """Mean of the ceil(k * n) lowest of n token log-probabilities (nan without tokens)."""
    lp = np.sort(np.asarray(token_logprobs, dtype=np.float64))
    if not len(lp):
        return float("nan")
    return float(lp[: max(1, math.ceil(k * len(lp)))].mean())


def token_logprobs(model: Any, ids: Sequence[int], device: str = "cpu") -> np.ndarray:
    """log p(token_i | tokens_<i) for i >= 1, one forward pass (fp32)."""
    import torch

    ids = list(ids)[:MAX_TOKENS]
    if len(ids) < 2:
        return np.zeros(0)
    with torch.inference_mode():
        x = torch.tensor([ids], dtype=torch.long, device=device)
        logits = model(input_ids=x).logits[0, :-1].float()
        lp = torch.log_softmax(logits, dim=-1).gather(1, x[0, 1:, None]).squeeze(1)
    return lp.cpu().numpy()


def score_texts(
    model: Any, encode: Callable[[str], list[int]], texts: Sequence[str], k: float = 0.2, device: str = "cpu"
) -> list[float]:
    model.eval()
    return [min_k_prob(token_logprobs(model, encode(t), device), k) for t in texts]


def score_eval_items(
    model_dir: str | Path, limits: dict[str, int | None], k: float = 0.2, device: str = "cpu"
) -> list[dict[str, Any]]:
    """Rows (task, item, min_k_prob) for the first n items of each task (the harness's
    `samples`), their text as decontamination sees it (tasks.evaluate.eval_data)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.evaluate.eval_data import eval_items

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    model.to(torch.device(device))
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    items = eval_items(list(limits)).to_pylist()
    rows, seen = [], dict.fromkeys(limits, 0)
    for r in items:
        n = limits[r["task"]]
        if n is not None and seen[r["task"]] >= n:
            continue
        seen[r["task"]] += 1
        rows.append({"task": r["task"], "item": seen[r["task"]] - 1, "text": r["text"]})
    scores = score_texts(model, lambda t: tok.encode(t, add_special_tokens=False), [r["text"] for r in rows], k, device)
    return [{"task": r["task"], "item": r["item"], "min_k_prob": s} for r, s in zip(rows, scores)]


def task_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One score row per task: (task, metric min_k_prob, mean, n_items)."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        vals = [r["min_k_prob"] for r in rows if r["task"] == task and not math.isnan(r["min_k_prob"])]
        value = float(np.mean(vals)) if vals else float("nan")
        out.append({"task": task, "metric": "min_k_prob", "value": value, "n_items": len(vals)})
    return out
