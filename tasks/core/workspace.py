"""The workspace: `$WINNOW_HOME` (default `./.winnow`), content-addressed stage folders.

Every stage writes into `<root>/<stage>/<key>/` and marks completion with `_SUCCESS`
(written last, atomically), so a killed run leaves no folder that looks finished and
deleting a folder forces that stage to run again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGES = (
    "docs",
    "signals",
    "dedup",
    "datasets",
    "tokens",
    "models",
    "evals",
    "tokenizers",
    "selection",
    "validation",
    "reports",
    "doc_tokens",
)
SUCCESS = "_SUCCESS"


def default_home() -> Path:
    return Path(os.environ.get("WINNOW_HOME", "./.winnow")).expanduser().resolve()


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls, root: str | Path | None = None) -> Workspace:
        ws = cls(Path(root).expanduser().resolve() if root else default_home())
        ws.root.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    def stage_dir(self, stage: str, key: str) -> Path:
        if stage not in STAGES:
            raise ValueError(f"unknown workspace stage {stage!r}; known: {', '.join(STAGES)}")
        return self.root / stage / key

    def is_done(self, stage: str, key: str) -> bool:
        return (self.stage_dir(stage, key) / SUCCESS).exists()

    def mark_done(self, stage: str, key: str, info: dict[str, Any] | None = None) -> Path:
        path = self.stage_dir(stage, key)
        path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path / SUCCESS, info or {})
        return path

    def force(self, stage: str) -> int:
        """`--force STAGE`: drop every output of the stage so that it is recomputed (its
        shard markers and Prefect cache keys go with it). Outputs are deterministic, so
        later stages keyed by their content hashes stay valid. Returns folders removed."""
        root = self.root / stage
        if stage not in STAGES:
            raise ValueError(f"unknown workspace stage {stage!r}; known: {', '.join(STAGES)}")
        if not root.exists():
            return 0
        n = sum(1 for _ in root.iterdir())
        trash = self.root / ".trash" / f"{stage}-{os.getpid()}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root, trash)  # one atomic step: no half-deleted stage is ever seen
        shutil.rmtree(trash, ignore_errors=True)
        return n

    def read_done(self, stage: str, key: str) -> dict[str, Any]:
        return json.loads((self.stage_dir(stage, key) / SUCCESS).read_text())


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_output(path: Path) -> Path:
    """A temporary sibling to write into; `os.replace(tmp, path)` publishes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
