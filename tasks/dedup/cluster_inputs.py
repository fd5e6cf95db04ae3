"""What a dedup mode's Python function gets (`DedupMode.clusters` / `DedupMode.rewrite` in
tasks/dedup/registry.py names one; tasks/dedup/dedup.py `run_dedup` builds these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class RewriteInputs:
    """What a text-rewriting mode's function gets (`DedupMode.rewrite`): the documents
    still kept (`alive_orders`, doc_order values) and, when an earlier mode rewrote some
    of them (lines), their current text (`rewritten`: doc_order, text); it writes its
    output under `out`."""

    con: duckdb.DuckDBPyConnection
    workspace: Workspace
    spec: DedupSpec
    out: Path
    alive_orders: Any  # numpy int64 array
    rewritten: Any  # pyarrow Table (doc_order, text) or None
    map_fn: Any = None  # tasks/core/shards.py MapFn over independent units (None: in process)


@dataclass(frozen=True)
class RewriteOutcome:
    """A rewriting mode's result: `path` is a Parquet file with one row per document it
    changed (doc_id, doc_order, text, emptied, removed_frac, spans, ...); `info` its stats."""

    path: Path
    info: dict[str, Any]
