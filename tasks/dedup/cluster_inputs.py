"""What a dedup mode's Python cluster function gets (`DedupMode.clusters` in
tasks/dedup/registry.py names one; tasks/dedup/dedup.py `run_dedup` builds this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from tasks.core.docsref import DocsRef
    from tasks.core.workspace import Workspace
    from tasks.dedup.spec import DedupSpec


@dataclass(frozen=True)
class ClusterInputs:
    """What a Python cluster function gets from run_dedup (docs are open in `con` as dedup_docs)."""

    con: duckdb.DuckDBPyConnection
    workspace: Workspace
    targets: Sequence[DocsRef]
    against: Sequence[DocsRef]
    spec: DedupSpec
    map_fn: Any
    partitions: int
    threads: int | None
