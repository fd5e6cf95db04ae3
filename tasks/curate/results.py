"""What the curate stage hands to the stages after it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tasks.core.hashing import short
from tasks.core.workspace import Workspace
from tasks.train.results import TrainResult


@dataclass(frozen=True)
class DatasetRef:
    """A curated dataset: `datasets/<key>/part-*.parquet` and its stats.json."""

    key: str  # the folder name: the first 16 hex digits of data_hash
    data_hash: str  # Recipe.data_hash(): everything that decides the dataset
    path: Path
    stats: dict[str, Any]

    @classmethod
    def from_stats(cls, workspace: Workspace, stats: dict[str, Any]) -> DatasetRef:
        """From the curate stage's stats (the flow's return value or stats.json)."""
        data_hash = stats.get("data_hash")
        if not isinstance(data_hash, str) or len(data_hash) < 16:
            raise ValueError(f"curate stats without a data_hash (keys: {sorted(stats)})")
        key = short(data_hash)
        return cls(key, data_hash, workspace.stage_dir("datasets", key), stats)

    @property
    def cached(self) -> bool:
        """Served from an earlier run's `datasets/<key>/` rather than curated now."""
        return bool(self.stats.get("cached"))

    def with_cached(self, cached: bool) -> DatasetRef:
        """The same dataset, its stats saying whether this run curated it."""
        return replace(self, stats={**self.stats, "cached": cached})

    def check_packed(self, workspace: Workspace, trained: TrainResult, seed: int) -> None:
        """The packed shards `trained` trained on hold exactly the tokens curation counted
        (less the dropped tail); a RuntimeError says so when the budget was counted with
        another tokenizer than training used."""
        meta = trained.packed_meta(workspace, seed)
        # a metadata packing (tasks/train/metadata.py) also holds each document's prefix
        packed = int(meta["n_tokens"]) + int(meta["tokens_dropped_tail"]) - int(meta.get("metadata_tokens_total", 0))
        stats = self.stats
        if packed != int(stats["tokens"]):
            raise RuntimeError(
                f"dataset {stats['data_hash'][:16]}: curation counted {stats['tokens']:,} tokens of the suite "
                f"tokenizer but the token shards hold {packed:,} (tokenizer {trained.summary['tokenizer_hash'][:16]}); "
                "the budget was counted with a different tokenizer than training uses"
            )

    def to_dict(self) -> dict[str, Any]:
        """The stats as the curate stage returned them (what the catalog row persists)."""
        return dict(self.stats)
