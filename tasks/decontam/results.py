"""What the decontamination scan's per-shard step hands to `finish_scan`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ScanCounts:
    """One docs shard's decontamination scan: the file written and what `finish_scan`
    adds up into the source's `_SUCCESS`."""

    shard: str  # the scan file's name, shard-NNNNN.parquet
    docs: int
    contaminated: int  # documents with at least one matching n-gram (the file's rows)
    cpu_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
