"""What the train stage hands to the stages after it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.workspace import Workspace
from tasks.train.tokens import pack_dir


@dataclass(frozen=True)
class TrainResult:
    """A trained proxy model (`models/<key>/`) and the packed tokens it trained on."""

    model_dir: Path
    tokens_key: str  # tokens/<tokens_key>/: the tokenized dataset
    seq_len: int
    summary: dict[str, Any]  # flows.train.run_train's summary (losses, tokens, hashes)

    @property
    def model_key(self) -> str:
        return self.model_dir.name

    @property
    def curves_path(self) -> Path:
        return self.model_dir / "curves.parquet"

    @property
    def cached(self) -> bool:
        return bool(self.summary.get("cached"))

    def packed_dir(self, workspace: Workspace, seed: int) -> Path:
        """The packed sequences it trained on: `tokens/<tokens_key>/L<seq_len>-s<seed>[-variant]/`."""
        variant = self.summary.get("pack_variant", "")  # a metadata or grouped packing
        return pack_dir(workspace.stage_dir("tokens", self.tokens_key), self.seq_len, seed, variant)

    def packed_meta(self, workspace: Workspace, seed: int) -> dict[str, Any]:
        """The packed folder's meta.json (n_tokens, tokens_dropped_tail, vocab_size, ...)."""
        return json.loads((self.packed_dir(workspace, seed) / "meta.json").read_text())

    def to_dict(self) -> dict[str, Any]:
        """The run summary (what the catalog's train_runs row and the train flow report)."""
        return dict(self.summary)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> TrainResult:
        missing = [k for k in ("model_dir", "tokens_key", "seq_len") if k not in summary]
        if missing:
            raise ValueError(f"train summary lacks {missing} (keys: {sorted(summary)})")
        return cls(Path(summary["model_dir"]), summary["tokens_key"], int(summary["seq_len"]), summary)
