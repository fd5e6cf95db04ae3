"""The workspace: `$WINNOW_HOME` (default `./.winnow`), content-addressed stage folders.

Every stage writes into `<root>/<stage>/<key>/` and marks completion with `_SUCCESS`
(written last, atomically), so a killed run leaves no folder that looks finished and
deleting a folder forces that stage to run again.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGES = ("docs", "signals", "dedup", "datasets", "tokens", "models", "evals", "tokenizers",
          "selection", "validation", "reports")
SUCCESS = "_SUCCESS"


def default_home() -> Path:
    return Path(os.environ.get("WINNOW_HOME", "./.winnow")).expanduser().resolve()


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls, root: str | Path | None = None) -> "Workspace":
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
        """Finished earlier, unless `--force STAGE` asked to recompute it in this run."""
        if stage in forced_stages() and (stage, key) not in _REDONE:
            return False
        return (self.stage_dir(stage, key) / SUCCESS).exists()

    def mark_done(self, stage: str, key: str, info: dict[str, Any] | None = None) -> Path:
        path = self.stage_dir(stage, key)
        path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path / SUCCESS, info or {})
        if stage in forced_stages():
            _REDONE.add((stage, key))
        return path

    def read_done(self, stage: str, key: str) -> dict[str, Any]:
        return json.loads((self.stage_dir(stage, key) / SUCCESS).read_text())


# `--force STAGE` (flows/ablation.py) sets WINNOW_FORCE=stage,stage: each forced stage is
# recomputed once per key in this process, then served from its fresh output.
_REDONE: set[tuple[str, str]] = set()


def forced_stages() -> set[str]:
    return {s.strip() for s in os.environ.get("WINNOW_FORCE", "").split(",") if s.strip()}


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
