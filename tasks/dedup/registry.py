"""The dedup modes, in the order they run: one line each, name -> a `DedupMode`.

`tasks.dedup.spec.DedupSpec` has one options field per mode (its name is the mode's name),
`tasks.dedup.dedup.run_dedup`, `tasks.dedup.apply.apply_dedup` (the curate dedup step) and
`python -m flows.dedup` iterate this table. Implementations are named as
"module:attribute" and imported on first use, so the recipe can read the table
without importing them (this module imports nothing of the stage).

Adding a mode that groups documents into clusters: `sql/dedup/<name>_clusters.sql`
(parameters: the mode's options; returns doc_order, cluster_order, cluster_size,
ref_match), an options model as a field of `DedupSpec` (tasks/dedup/spec.py), and one
line in MODES. A mode that needs Python (like minhash) names a function taking `ClusterInputs`
(tasks/dedup/cluster_inputs.py). A mode that cuts text out of documents in Python (like
substring) is kind "rewrite" and names a function taking `RewriteInputs` and returning a
`RewriteOutcome` (both in tasks/dedup/cluster_inputs.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class DedupMode:
    name: str
    kind: Literal["clusters", "lines", "rewrite"]  # one kept per cluster, boilerplate lines, or text cut by Python
    clusters: str | None = None  # "module:function"(ClusterInputs) -> (table, info); None: the SQL file
    rewrite: str | None = None  # kind "rewrite": "module:function"(RewriteInputs) -> RewriteOutcome

    def cluster_fn(self) -> Any:
        if self.clusters is None:
            raise ValueError(f"dedup mode {self.name!r} computes its clusters in sql/dedup/{self.name}_clusters.sql")
        module, _, attr = self.clusters.partition(":")
        return getattr(importlib.import_module(module), attr)

    def rewrite_fn(self) -> Any:
        if self.rewrite is None:
            raise ValueError(f"dedup mode {self.name!r} does not rewrite text in Python")
        module, _, attr = self.rewrite.partition(":")
        return getattr(importlib.import_module(module), attr)


MODES: dict[str, DedupMode] = {
    m.name: m
    for m in (
        DedupMode("exact", "clusters"),
        DedupMode("url", "clusters"),
        DedupMode("minhash", "clusters", "tasks.dedup.near:minhash_clusters"),
        DedupMode("lines", "lines"),
        DedupMode("substring", "rewrite", rewrite="tasks.dedup.substring:rewrite_substrings"),
    )
}


def mode_names() -> list[str]:
    return list(MODES)


def cluster_mode_names() -> tuple[str, ...]:
    return tuple(m.name for m in MODES.values() if m.kind == "clusters")


def rewrite_mode_names() -> tuple[str, ...]:
    return tuple(m.name for m in MODES.values() if m.kind == "rewrite")


def get_mode(name: str) -> DedupMode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown dedup mode {name!r}; known: {', '.join(MODES)}") from None
