"""What the signals stage's per-shard step hands to `finish_signals`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SignalsCounts:
    """One docs shard's signals: the file written and what `finish_signals` adds up into
    the source's `_SUCCESS`."""

    shard: str  # the signals file's name, shard-NNNNN.parquet (the docs shard's)
    documents: int
    errors: int  # documents whose signals failed (`signals_error` set)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
