"""The proxy model: the Llama architecture from transformers, in five presets.

| preset | d_model | layers | heads | ffn | vocab | seq_len | params | where |
|---|---|---|---|---|---|---|---|---|
| nano  | 64  | 2  | 2  | 192  | 4096  | 256  | ~0.37M | tests, CI, demo |
| tiny  | 128 | 4  | 4  | 384  | 8192  | 512  | ~1.8M  | CPU research |
| mini  | 256 | 4  | 4  | 768  | 8192  | 512  | ~5.5M  | CPU ladder rung |
| small | 384 | 8  | 6  | 1024 | 32768 | 1024 | ~27M   | GPU |
| base  | 768 | 12 | 12 | 2560 | 32768 | 2048 | ~124M  | GPU |

The presets themselves (`PRESETS`, `get_preset`) are data in tasks/train/spec.py, which
the recipe checks against without importing this module.

Input and output embeddings are tied (as in GPT-2 and SmolLM): at these sizes the
vocabulary matrix is most of the parameters. Attention runs through PyTorch's
`scaled_dot_product_attention` (attn_implementation="sdpa"). The model is saved with
`save_pretrained`, so `AutoModelForCausalLM` and `lm_eval --model hf` load it.

Also here: `bits_per_byte`, the held-out language-modelling score computed the way
lm-eval's `loglikelihood_rolling` does (disjoint windows, EOS as the first context).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tasks.train.spec import PRESETS, Preset, get_preset


def training_steps(tokens: int, tokens_per_step: int) -> int:
    """Optimizer steps the trainer runs for a budget of `tokens`: the last partial step is
    completed (so it trains up to one step more than asked). The one rule the trainer
    and the ladder's plan share (tasks/report/ladder_plan.py)."""
    return max(1, math.ceil(tokens / tokens_per_step))


def llama_config(
    preset: str | Preset, vocab_size: int | None = None, eos_id: int = 0, attn_implementation: str = "sdpa"
):
    from transformers import LlamaConfig

    p = get_preset(preset) if isinstance(preset, str) else preset
    cfg = LlamaConfig(
        vocab_size=vocab_size or p.vocab_size,
        hidden_size=p.d_model,
        intermediate_size=p.ffn,
        num_hidden_layers=p.n_layers,
        num_attention_heads=p.n_heads,
        num_key_value_heads=p.n_heads,
        max_position_embeddings=p.seq_len,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        attention_dropout=0.0,
        initializer_range=0.02,
        use_cache=False,
    )
    cfg._attn_implementation = attn_implementation
    return cfg


def build_model(
    preset: str | Preset,
    vocab_size: int | None = None,
    eos_id: int = 0,
    seed: int = 0,
    attn_implementation: str = "sdpa",
):
    """A freshly initialised LlamaForCausalLM; the same seed gives the same weights."""
    import torch
    from transformers import LlamaForCausalLM

    cfg = llama_config(preset, vocab_size, eos_id, attn_implementation)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.config.use_cache = True  # for generation after training; training passes use_cache=False
    return model


def preset_params(preset: str | Preset, vocab_size: int | None = None, non_embedding: bool = False) -> int:
    """Parameters of a preset's model without building it: tied embedding V*d, per layer
    the q/k/v/o projections 4d^2, the SwiGLU MLP 3*d*ffn and two RMSNorms, a final norm.
    `non_embedding`: without the embedding (as `count_params(model, non_embedding=True)`)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    v = 0 if non_embedding else (vocab_size or p.vocab_size)
    return v * p.d_model + p.n_layers * (4 * p.d_model**2 + 3 * p.d_model * p.ffn + 2 * p.d_model) + p.d_model


def count_params(model, non_embedding: bool = False) -> int:
    n = sum(p.numel() for p in model.parameters())
    if non_embedding:
        n -= model.get_input_embeddings().weight.numel()
    return n


def flops_per_token(model, seq_len: int) -> float:
    """Training FLOPs per token: 6N (weights, forward + backward) + attention (PaLM appendix B).
    N counts the output projection (tied with the embedding), which is a real matmul."""
    cfg = model.config
    n = count_params(model)
    attn = 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len
    return 6 * n + attn


def preset_table() -> list[dict[str, Any]]:
    rows = []
    for name, p in PRESETS.items():
        rows.append({"preset": name, **asdict(p), "params": count_params(build_model(name))})
    return rows


# ---------------------------------------------------------------- held-out scoring


def bits_per_byte(
    model, tokenizer, texts: Sequence[str], max_len: int | None = None, batch_size: int = 16
) -> dict[str, float]:
    """Bits per UTF-8 byte of `texts` under `model`: sum of token NLL / (ln 2 * bytes).

    Each text is scored as lm-eval's `loglikelihood_rolling` does: tokens prefixed by
    EOS, cut into disjoint windows of `max_len` predictions, each window conditioned
    on the token before it. Returns bpb, nll (nats), tokens and bytes.
    """
    import torch

    max_len = max_len or model.config.max_position_embeddings
    eos = tokenizer.eos_token_id
    windows: list[tuple[list[int], list[int]]] = []
    n_bytes = 0
    for text in texts:
        ids = [eos] + tokenizer(text, add_special_tokens=False)["input_ids"]
        n_bytes += len(text.encode("utf-8"))
        for start in range(0, len(ids) - 1, max_len):
            chunk = ids[start : start + max_len + 1]
            windows.append((chunk[:-1], chunk[1:]))
    windows.sort(key=lambda w: len(w[0]))  # similar lengths together: less padding
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll, n_tok = 0.0, 0
    with torch.no_grad():
        for b in range(0, len(windows), batch_size):
            batch = windows[b : b + batch_size]
            width = max(len(w[0]) for w in batch)
            inp = torch.full((len(batch), width), eos, dtype=torch.long)
            tgt = torch.full((len(batch), width), -100, dtype=torch.long)
            for i, (x, y) in enumerate(batch):
                inp[i, : len(x)] = torch.tensor(x)
                tgt[i, : len(y)] = torch.tensor(y)
            inp, tgt = inp.to(device), tgt.to(device)
            # Right padding with causal attention: real positions never see the pad.
            logits = model(input_ids=inp, use_cache=False).logits.float()
            loss = torch.nn.functional.cross_entropy(
                logits.view(-1, logits.size(-1)), tgt.view(-1), ignore_index=-100, reduction="sum"
            )
            nll += loss.item()
            n_tok += int((tgt != -100).sum())
    if was_training:
        model.train()
    return {"bpb": nll / (math.log(2) * n_bytes), "nll": nll, "tokens": n_tok, "bytes": n_bytes}
