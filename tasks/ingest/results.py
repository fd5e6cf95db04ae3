"""What the ingest stage's per-file step hands to `finish_source`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ShardCounts:
    """One ingested shard's accounting: what its done marker (`_shards/shard-NNNNN.json`)
    holds, and whether this run reused it (a marker for the same input already there)."""

    counts: dict[str, Any]  # shard, input, records_read, docs_written, ..., seconds
    cached: bool

    @property
    def shard(self) -> str:
        return str(self.counts["shard"])

    @property
    def docs_written(self) -> int:
        return int(self.counts["docs_written"])

    def to_dict(self) -> dict[str, Any]:
        """The counts with "cached", as `merge_counts` and the catalog read them."""
        return {**self.counts, "cached": self.cached}
