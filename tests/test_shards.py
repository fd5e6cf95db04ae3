"""The claimed per-shard stage helper (tasks/core/shards.py): every shard once, a done
output never recomputed, two claimants at once compute it once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from tasks.core.shards import local_map, run_claimed_shards
from tasks.core.workspace import Workspace


class Stage:
    """A toy per-shard stage on `signals/k`: counts what it lists, runs and finishes."""

    def __init__(self, ws: Workspace, shards: int = 3, hold: float = 0.0):
        self.ws, self.shards, self.hold = ws, shards, hold
        self.listed = 0
        self.ran: list[int] = []
        self.lock = threading.Lock()

    def jobs(self) -> list[int]:
        self.listed += 1
        return list(range(self.shards))

    def run(self, jobs: Sequence[int]) -> list[int]:
        time.sleep(self.hold)  # the second claimant arrives while this one holds the key
        with self.lock:
            self.ran += list(jobs)
        return [j * 10 for j in local_map(lambda x: x, jobs)]

    def finish(self, results: Sequence[int], seconds: float) -> dict:
        self.ws.mark_done("signals", "k", {"total": sum(results)})
        return {"total": sum(results), "seconds": seconds}

    def __call__(self) -> dict | None:
        return run_claimed_shards(self.ws, "signals", "k", self.jobs, self.run, self.finish)


def test_every_shard_once_then_nothing(tmp_path):
    ws = Workspace.from_env(tmp_path)
    stage = Stage(ws)
    info = stage()
    assert info is not None and info["total"] == 30
    assert sorted(stage.ran) == [0, 1, 2] and stage.listed == 1
    assert ws.read_done("signals", "k") == {"total": 30}
    assert stage() is None  # done: nothing listed, run or marked again
    assert sorted(stage.ran) == [0, 1, 2] and stage.listed == 1
    assert [c["event"] for c in ws.claims()] == ["computed"]


def test_a_deleted_output_is_computed_again(tmp_path):
    ws = Workspace.from_env(tmp_path)
    stage = Stage(ws)
    stage()
    ws.force("signals")
    assert stage() is not None and sorted(stage.ran) == [0, 0, 1, 1, 2, 2]


def test_two_claimants_at_once_compute_it_once(tmp_path):
    ws = Workspace.from_env(tmp_path)
    stage = Stage(ws, hold=0.5)
    out: list[dict | None] = []
    threads = [threading.Thread(target=lambda: out.append(stage())) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)  # the first holds the claim before the second asks
    for t in threads:
        t.join(30)
    assert sorted(stage.ran) == [0, 1, 2], stage.ran  # the waiter found it done
    assert sum(o is None for o in out) == 1 and stage.listed == 1
    assert [c["event"] for c in ws.claims()] == ["computed"]
