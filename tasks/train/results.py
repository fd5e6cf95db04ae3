"""What the train stage hands to the stages after it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> TrainResult:
        missing = [k for k in ("model_dir", "tokens_key", "seq_len") if k not in summary]
        if missing:
            raise ValueError(f"train summary lacks {missing} (keys: {sorted(summary)})")
        return cls(Path(summary["model_dir"]), summary["tokens_key"], int(summary["seq_len"]), summary)
