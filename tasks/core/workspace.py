"""The workspace: `$WINNOW_HOME` (default `./.winnow`), content-addressed stage folders.

Every stage writes into `<root>/<stage>/<key>/` and marks completion with `_SUCCESS`
(written last, atomically), so a killed run leaves no folder that looks finished and
deleting a folder forces that stage to run again.

Two suites may share one workspace. Before computing an output a writer claims it
(`Workspace.claim`): an exclusive lock file `<root>/<stage>/<key>.lock` beside the output,
holding the holder's pid and host. A second writer needing the same output waits, then
finds it done and reuses it. A holder that died (its pid is gone on its host) leaves a
stale lock that the next claimant breaks; a holder on another host is never presumed dead.
Temporary files carry their writer's host and pid (`temp_sibling`), so clean-up removes
only files whose writer is provably dead (`dead_writer_temps`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import SoftFileLock, Timeout

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
CLAIMS_LOG = "claims.log"  # one JSON line per output finished (mark_done: who, when)


def default_home() -> Path:
    return Path(os.environ.get("WINNOW_HOME", "./.winnow")).expanduser().resolve()


@dataclass(frozen=True)
class Claim:
    """What a claimant found once it held a stage key: `todo` the output is not done
    (compute it), `waited` another writer held the key first."""

    todo: bool
    waited: bool = False


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
        self._log_claim(stage, key, "computed")
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

    def lock_path(self, stage: str, key: str) -> Path:
        return self.stage_dir(stage, key).with_name(f"{key}.lock")

    @contextmanager
    def claim(self, stage: str, key: str, timeout: float | None = None) -> Iterator[Claim]:
        """Hold the exclusive right to compute `stage/key`.

        `with ws.claim(stage, key) as c: if c.todo: ...compute, mark_done...`. A claimant
        that finds the lock held waits (forever by default, `WINNOW_CLAIM_TIMEOUT` seconds
        if set: the holder may be training a model), then finds the output done
        (`c.todo` false) and reuses it. A lock whose holder died on this host is broken;
        claims of one key nest in one thread. Stages claim downstream before upstream
        (datasets, then dedup or signals), never the reverse, so two claimants cannot
        wait on each other. Every `mark_done` appends a line to `<root>/claims.log`, so
        the log says what was computed, by whom, whether or not it was claimed.
        """
        wait = float(os.environ.get("WINNOW_CLAIM_TIMEOUT", -1)) if timeout is None else timeout
        path = self.lock_path(stage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One instance per lock file in this process (its counter makes nested claims
        # re-entrant); the wait is given per acquire, so callers may differ in it.
        lock = SoftFileLock(str(path), is_singleton=True)
        waited = False
        if lock.is_locked:  # this thread holds it already (a nested claim)
            lock.acquire(timeout=wait)
        else:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                waited = True
                holder = _lock_holder(path)
                print(f"waiting for {stage}/{key}: claimed by {holder}", flush=True)
                try:
                    lock.acquire(timeout=wait)
                except Timeout:
                    raise TimeoutError(
                        f"{stage}/{key} in {self.root} still claimed by {_lock_holder(path)} after {wait:g} s "
                        f"(lock file {path}; WINNOW_CLAIM_TIMEOUT sets the wait)"
                    ) from None
        try:
            yield Claim(todo=not self.is_done(stage, key), waited=waited)
        finally:
            lock.release()

    def _log_claim(self, stage: str, key: str, event: str) -> None:
        line = json.dumps(
            {"stage": stage, "key": key, "event": event, "pid": os.getpid(), "host": host_id(), "time": time.time()}
        )
        # One short O_APPEND write per line: concurrent writers never interleave within it.
        fd = os.open(self.root / CLAIMS_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def claims(self) -> list[dict[str, Any]]:
        """Every `claims.log` record (the outputs computed in this workspace, in order)."""
        log = self.root / CLAIMS_LOG
        return [json.loads(line) for line in log.read_text().splitlines() if line] if log.exists() else []


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk: leave the old file, and no temp file
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_output(path: Path) -> Path:
    """A temporary sibling to write into; `os.replace(tmp, path)` publishes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return temp_sibling(path)


def host_id() -> str:
    """This host's name as a file-name token (no dots, so temp names parse unambiguously)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def temp_sibling(path: Path) -> Path:
    """`.NAME.HOST.PID.tmp` beside `path`: names its writer, so a clean-up can tell a live
    writer's file from a dead one's."""
    return path.with_name(f".{path.name}.{host_id()}.{os.getpid()}.tmp")


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.tmp$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def dead_writer_temps(folder: Path, pattern: str = ".*.tmp") -> list[Path]:
    """Temp files under `folder` whose writer is provably dead: named by `temp_sibling`,
    written on this host, by a pid that no longer runs. A file of another host, of a live
    pid, or without a writer in its name is kept (its writer may still be at work)."""
    me = host_id()
    dead = []
    for p in Path(folder).rglob(pattern):
        m = _TEMP.match(p.name)
        if m and m["host"] == me and not pid_alive(int(m["pid"])):
            dead.append(p)
    return dead


def _lock_holder(path: Path) -> str:
    try:
        pid, host = path.read_text().split("\n")[:2]
    except (OSError, ValueError):
        return "another writer"
    return f"pid {pid} on {host}"
