"""Peak learning rate and batch size of a run: the preset's (`train.hparams: fixed`) or the
Step Law's (`step_law`).

Step Law: Li et al., 2025, "Predictable Scale: Part I — Optimal Hyperparameter Scaling Law in
Large Language Model Pretraining" (arXiv:2503.04715), fitted on about 3,700 trained models:

    lr_opt = 1.79 * N**-0.713 * D**0.307        B_opt = 0.58 * D**0.571  (tokens)

with N the non-embedding parameters and D the training tokens. winnow's presets are far below
the sizes the laws were fitted on, so at a rung they are an extrapolation: the ladder measures
whether they help (docs/train.md, "Step Law").

The law's batch is in tokens; the trainer steps in sequences of the packed `seq_len`: the
batch is B_opt / seq_len rounded to the nearest whole number of micro-batches (at least one
sequence). The micro-batch is `micro_batch_size` or the preset's batch (the size its memory
was planned for), never more than the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.train.spec import TrainSpec, get_preset

LR_COEF, LR_N_EXP, LR_D_EXP = 1.79, -0.713, 0.307
BATCH_COEF, BATCH_D_EXP = 0.58, 0.571


@dataclass(frozen=True)
class Hparams:
    rule: str  # "fixed" or "step_law"
    lr: float  # peak learning rate
    batch: int  # sequences per optimizer step
    micro: int  # sequences per forward/backward; divides batch


def step_law_lr(n_non_embedding: int, tokens: int) -> float:
    """The Step Law's optimal peak learning rate for N non-embedding parameters, D tokens."""
    _positive(n_non_embedding=n_non_embedding, tokens=tokens)
    return LR_COEF * n_non_embedding**LR_N_EXP * tokens**LR_D_EXP


def step_law_batch_tokens(tokens: int) -> float:
    """The Step Law's optimal batch size in tokens for D training tokens."""
    _positive(tokens=tokens)
    return BATCH_COEF * tokens**BATCH_D_EXP


def batch_in_sequences(batch_tokens: float, seq_len: int, micro_cap: int) -> tuple[int, int]:
    """(batch, micro) in sequences for a batch of `batch_tokens`: micro = min(micro_cap, the
    batch in whole sequences), batch = the nearest multiple of micro, at least one micro."""
    _positive(seq_len=seq_len, micro_cap=micro_cap)
    sequences = max(1, round(batch_tokens / seq_len))
    micro = min(micro_cap, sequences)
    return micro * max(1, round(sequences / micro)), micro


def resolve_hparams(spec: TrainSpec, n_non_embedding: int, tokens: int, seq_len: int) -> Hparams:
    """The run's peak lr, batch and micro-batch from its spec, model size and token budget."""
    preset = get_preset(spec.preset)
    if spec.hparams == "step_law":
        batch, micro = batch_in_sequences(
            step_law_batch_tokens(tokens), seq_len, spec.micro_batch_size or preset.batch_size
        )
        return Hparams("step_law", step_law_lr(n_non_embedding, tokens), batch, micro)
    batch = spec.batch_size or preset.batch_size
    micro = min(spec.micro_batch_size or batch, batch)
    if batch % micro:
        raise ValueError(f"train.batch_size {batch} is not a multiple of micro_batch_size {micro}")
    return Hparams("fixed", spec.lr or preset.lr, batch, micro)


def _positive(**values: float) -> None:
    bad = {k: v for k, v in values.items() if not v > 0}
    if bad:
        raise ValueError(f"step law: {bad} must be positive")
