"""The recipe section `train:` and the facts about training a recipe checks and hashes:
the model presets (their shapes and defaults, tasks/train/model.py builds them) and the
suite tokenizer's version (tasks/train/tokenizer.py). Imports no torch or transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer, model_validator

from tasks.core.spec import Strict

# Part of every token-counting dataset's hash (Recipe.data_hash): bump it when the
# tokenizer's training changes.
TOKENIZER_VERSION = "bpe-bytelevel-1"


@dataclass(frozen=True)
class Preset:
    d_model: int
    n_layers: int
    n_heads: int
    ffn: int
    vocab_size: int
    seq_len: int
    batch_size: int  # sequences per optimizer step
    lr: float
    tokens: int  # default token budget


PRESETS: dict[str, Preset] = {
    "nano": Preset(64, 2, 2, 192, 4096, 256, 16, 3e-3, 1_000_000),
    "tiny": Preset(128, 4, 4, 384, 8192, 512, 16, 2e-3, 10_000_000),
    # the CPU rung of a ladder between tiny and small (docs/decisions.md: its tokens/s on 2 cores)
    "mini": Preset(256, 4, 4, 768, 8192, 512, 16, 1.5e-3, 0),  # 0: Chinchilla 20x params
    "small": Preset(384, 8, 6, 1024, 32768, 1024, 64, 1e-3, 0),  # 0: Chinchilla 20x params
    "base": Preset(768, 12, 12, 2560, 32768, 2048, 128, 6e-4, 0),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


class TrainSpec(Strict):
    """How the proxy model trains (tasks/train/loop.py). Null fields take the preset's value."""

    preset: Literal["nano", "tiny", "mini", "small", "base"] = "nano"
    seed: int = Field(0, description="model init, packing shuffle and data order")
    tokens: int | None = Field(None, gt=0, description="token budget; default from the preset")
    vocab_size: int | None = Field(
        None,
        ge=300,
        description="vocabulary of the suite tokenizer (tasks/train/tokenizer.py) that counts the "
        "dataset's token budget and that the model trains with; null = the preset's. A ladder "
        "fixes it so that every rung sees the same data in the same tokens",
    )
    tokens_per_param: float | None = Field(
        None,
        gt=0,
        description="Chinchilla-style budget (e.g. 20): tokens = this x parameters; used when `tokens` is null",
    )
    batch_size: int | None = Field(None, gt=0, description="sequences per optimizer step")
    micro_batch_size: int | None = Field(None, gt=0, description="sequences per forward (grad accumulation)")
    lr: float | None = Field(None, gt=0, description="peak learning rate")
    hparams: Literal["fixed", "step_law"] = Field(
        "fixed",
        description="peak lr and batch size: `fixed` (the preset's, or `lr`/`batch_size`) or `step_law` "
        "(from the model's non-embedding parameters and the token budget: tasks/train/hparams.py)",
    )
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final lr as a fraction of the peak")
    schedule: Literal["cosine", "wsd"] = Field("cosine", description="warmup + cosine, or warmup-stable-decay")
    warmup: float = Field(0.05, ge=0, lt=1, description="warmup, fraction of the steps")
    decay: float = Field(0.2, gt=0, le=1, description="WSD: final decay, fraction of the steps")
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, gt=0, lt=1)
    beta2: float = Field(0.95, gt=0, lt=1)
    grad_clip: float = Field(1.0, gt=0, description="max global gradient norm")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast where the hardware has bf16 (CUDA, AVX512-BF16/AMX CPUs)"
    )
    compile: bool | None = Field(None, description="torch.compile; null = on CUDA only")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = Field(50, gt=0, description="steps between checkpoints (not part of the hash)")
    snapshots: int = Field(
        4,
        ge=0,
        description="evaluation snapshots (weights only) evenly spaced over the final `snapshot_window` of "
        "training, the final step included; the eval stage scores the held-out texts on each to measure "
        "training noise (Signal and Noise, Heineman et al. 2025). 0 = none (not part of the hash)",
    )
    snapshot_window: float = Field(
        0.2, gt=0, le=1, description="fraction of the steps the snapshots spread over (not part of the hash)"
    )
    options: dict[str, Any] = Field(default_factory=dict)
    metadata: MetadataSpec | None = Field(
        None,
        description="MeCo (Gao et al. 2025): prepend each document's URL or domain for the first (1 - cooldown) "
        "of the steps, loss masked on it, then plain text (tasks/train/metadata.py); null = plain text throughout",
    )

    @model_validator(mode="after")
    def _law_or_hand(self) -> TrainSpec:
        # step_law sets both; a hand-set value beside it would be silently overridden
        if self.hparams == "step_law" and (self.lr is not None or self.batch_size is not None):
            raise ValueError("train.hparams: step_law sets lr and batch_size; leave them unset")
        return self

    @model_serializer(mode="wrap")
    def _keep_old_hash(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        # `hparams` and `metadata` came later: at their defaults they are left out of every
        # dump, so the train hash and the recipe's content hash of a spec without them stay
        # what they were
        out = handler(self)
        if out.get("hparams") == "fixed":
            out.pop("hparams")
        if out.get("metadata", 0) is None:
            out.pop("metadata")
        return out


class MetadataSpec(Strict):
    """Metadata conditioning then cooldown (`train.metadata`, tasks/train/metadata.py)."""

    prepend: Literal["url", "domain"] = Field("url", description='"URL: <url or domain>\\n\\n" before each document')
    cooldown: float = Field(0.1, ge=0, lt=1, description="final fraction of the steps trained on plain text")


class OnlineMixSpec(Strict):
    """Online data mixing (`mixture.online`, tasks/train/online_mix.py): each step's batch is
    drawn from one group chosen by EXP3 on the groups' training losses (ODM, Albalak et al. 2023)."""

    method: Literal["odm"] = "odm"
    group_by: Literal["source", "domain"] | None = Field(
        None, description="the arms; null = the mixture's group_by (topic is not supported)"
    )
    alpha: float = Field(0.9, ge=0, lt=1, description="smoothing of each group's reward estimate (moving average)")
