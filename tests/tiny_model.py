"""A tiny saved Llama + byte-level BPE tokenizer for evaluation tests (not a preset:
the training stage owns those). Built from real text, saved with save_pretrained."""

from __future__ import annotations

from pathlib import Path

EOS = "<|endoftext|>"


def build_tiny_model(
    out_dir: Path,
    n_leads: int = 1500,
    vocab_size: int = 4096,
    train_steps: int = 0,
    seed: int = 0,
    train_texts: list[str] | None = None,
) -> Path:
    """Tokenizer from `n_leads` Wikipedia train leads; `train_steps` AdamW steps on those
    leads, or on `train_texts` when given (same tokenizer: arms differ only in data)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tasks.core.reference import wiki_leads

    texts = wiki_leads("train").column("text").to_pylist()[:n_leads]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS, model_max_length=256
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=fast.vocab_size if hasattr(fast, "vocab_size") else len(fast),
        hidden_size=64,
        intermediate_size=172,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    if train_steps:
        ids = fast(EOS.join(train_texts or texts), return_tensors="pt").input_ids[0]
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        seq, batch = 128, 16
        gen = torch.Generator().manual_seed(seed)
        for _ in range(train_steps):
            starts = torch.randint(0, len(ids) - seq - 1, (batch,), generator=gen)
            x = torch.stack([ids[s : s + seq] for s in starts])
            loss = model(input_ids=x, labels=x).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir
