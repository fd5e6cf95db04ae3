"""Each training step's batch: which packed rows (the seeded order, or the online mixer's
draw) and how they are rendered (as packed, or behind their metadata). The loop asks this
for a step's (inputs, labels) and gives back the loss; what it carries across steps goes
into the checkpoint with the rest of the run's state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tasks.train.metadata import MetadataBatches, cooldown_start, load_mask
from tasks.train.online_mix import OnlineMixer
from tasks.train.spec import OnlineMixSpec, TrainSpec


@dataclass
class StepBatches:
    data: np.memmap
    order: np.ndarray  # the seeded order of tasks/train/tokens.py (unused when mixing online)
    batch: int
    metadata: MetadataBatches | None = None
    mixer: OnlineMixer | None = None

    def get(self, step: int):
        """(input ids, labels or None, what the curve row records) of step `step` (0-based)."""
        import torch

        info: dict[str, Any] = {}
        if self.mixer is not None:
            idx, info["group"] = self.mixer.take(step)
        else:
            idx = self.order[step * self.batch : (step + 1) * self.batch]
        tokens = self.data[idx]
        if self.metadata is None:
            return torch.from_numpy(tokens.astype(np.int64)), None, info
        info["conditioned"] = step < self.metadata.switch_step  # the MeCo phase of this step
        x, labels, info["metadata_tokens"] = self.metadata.render(step, tokens, idx)
        return torch.from_numpy(x), torch.from_numpy(labels), info

    def observe(self, loss: float) -> None:
        if self.mixer is not None:
            self.mixer.observe(loss)

    def state(self) -> dict[str, Any] | None:
        return self.mixer.state() if self.mixer is not None else None

    def load(self, state: dict[str, Any] | None) -> None:
        if self.mixer is not None and state is not None:
            self.mixer.load(state)

    def finish(self, curves: list[dict], out_dir: Path) -> dict[str, Any]:
        """train.json's entries for the methods in use; the mixer's plot beside the model."""
        out: dict[str, Any] = {}
        if self.metadata is not None:
            out["metadata"] = self.metadata.summary(curves)
        if self.mixer is not None:
            out["online_mix"] = self.mixer.summary()
            self.mixer.plot(out_dir / "online_mix.png")
        return out


def make_batches(
    spec: TrainSpec,
    online: OnlineMixSpec | None,
    data: np.memmap,
    meta: dict[str, Any],
    packed_dir: str | Path,
    order: np.ndarray,
    batch: int,
    total_steps: int,
) -> StepBatches:
    metadata = None
    if spec.metadata is not None:
        metadata = MetadataBatches(
            load_mask(packed_dir, meta),
            cooldown_start(total_steps, spec.metadata.cooldown),
            meta["eos_id"],
            spec.metadata.prepend,
            spec.metadata.cooldown,
        )
    mixer = None
    if online is not None:
        if "groups" not in meta:
            raise ValueError(f"{packed_dir}: mixture.online is set but the packing has no groups")
        mixer = OnlineMixer(meta["groups"], batch, spec.seed, online.alpha)
    return StepBatches(data, order, batch, metadata, mixer)
