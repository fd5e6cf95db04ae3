"""Min-K% Prob (Shi et al., 2024): the score, its separation of planted training items from
held-out ones on a toy model trained a few steps, and its place in an evaluation."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from tasks.core.paths import shared_data
from tasks.evaluate.spec import EvalSpec
from tasks.membership.mink import min_k_prob, score_texts, task_means


def test_min_k_prob_averages_the_lowest_k_percent():
    lp = np.array([-0.1, -5.0, -0.2, -3.0, -1.0])
    assert min_k_prob(lp, 0.4) == pytest.approx(-4.0)  # ceil(0.4 * 5) = 2 lowest: -5, -3
    assert min_k_prob(lp, 0.01) == pytest.approx(-5.0)  # at least one token
    assert min_k_prob(lp, 1.0) == pytest.approx(lp.mean())
    assert math.isnan(min_k_prob(np.zeros(0)))


def _sentences(n: int) -> list[str]:
    raw = gzip.open(shared_data() / "eval" / "wikitext-2-raw-test.raw.gz", "rt").read()
    lines = [ln.strip() for ln in raw.splitlines() if 120 <= len(ln.strip()) <= 200 and not ln.strip().startswith("=")]
    return lines[:n]


def _auc(pos: list[float], neg: list[float]) -> float:
    return float(np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg]))


def test_min_k_separates_planted_training_items_from_held_out_on_a_toy_model():
    """A byte-level 2-layer Llama (d=64) trained 80 steps on 16 real WikiText lines: their
    Min-K% scores rank above 16 held-out lines; before training they do not."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ~30 s on one core; more threads only contend on 2 shared cores
    try:
        _toy_separation(torch, LlamaConfig, LlamaForCausalLM)
    finally:
        torch.set_num_threads(threads)


def _toy_separation(torch, LlamaConfig, LlamaForCausalLM) -> None:
    lines = _sentences(32)
    train, held = lines[:16], lines[16:]
    encode = lambda t: list(t.encode())  # noqa: E731
    cfg = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
    )
    model = LlamaForCausalLM(cfg)
    before = _auc(score_texts(model, encode, train), score_texts(model, encode, held))
    width = max(len(encode(t)) for t in train)
    batch = torch.zeros((len(train), width), dtype=torch.long)
    mask = torch.zeros_like(batch)
    for i, t in enumerate(train):
        batch[i, : len(encode(t))] = torch.tensor(encode(t))
        mask[i, : len(encode(t))] = 1
    labels = batch.masked_fill(mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(80):
        loss = model(input_ids=batch, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    members, others = score_texts(model, encode, train), score_texts(model, encode, held)
    after = _auc(members, others)
    assert after >= 0.95, (after, members, others)
    assert abs(before - 0.5) < 0.3  # the separation comes from training, not the texts
    assert np.mean(members) > np.mean(others) + 1.0


def test_min_k_is_an_eval_option_that_leaves_default_keys_alone():
    from tasks.evaluate.harness import eval_config

    plain, with_k = (
        eval_config(EvalSpec(tasks=["copa"], limit=4)),
        eval_config(EvalSpec(tasks=["copa"], limit=4, min_k={"k": 0.2})),
    )
    assert "min_k" not in plain and with_k["min_k"] == {"k": 0.2}
    rows = [{"task": "copa", "item": i, "min_k_prob": v} for i, v in enumerate([-2.0, -4.0, float("nan")])]
    assert task_means(rows) == [{"task": "copa", "metric": "min_k_prob", "value": -3.0, "n_items": 2}]


def test_score_eval_items_reads_the_harness_items(tmp_path):
    """A saved HF model with a real tokenizer scores the first n items of each task."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tasks.membership.mink import score_eval_items

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(_sentences(200), trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>"]))
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>").save_pretrained(tmp_path)
    cfg = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    rows = score_eval_items(tmp_path, {"copa": 3, "wikitext2": 1}, k=0.2)
    assert [(r["task"], r["item"]) for r in rows] == [("copa", 0), ("copa", 1), ("copa", 2), ("wikitext2", 0)]
    assert all(r["min_k_prob"] < 0 for r in rows)
