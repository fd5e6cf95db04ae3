"""A real multi-process Dask cluster: a scheduler and worker processes started with the
`dask` CLI, `gpu` offering `GPU=1`, `cpu` offering nothing. The small suite runs on it
with `--dask-address`, and two workers die in the middle of it:

- `cpu` is SIGKILLed (with its nanny: it does not come back) once the first arm finished;
- `gpu` is SIGKILLed while it trains the second arm's model (a checkpoint is on disk), and
  a replacement `gpu2` (GPU=1) joins, as a preempted GPU node would be replaced.

Asserted: the scheduler's task stream says every training and evaluation ran on a
GPU-tagged worker and the per-shard curate tasks on both kinds; the suite completes with
every arm; nothing finished before a kill is computed again (claims.log, _SUCCESS markers),
and the interrupted training resumed from its checkpoint instead of starting over.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace
from tests._small_suite import write_small_suite

ROOT = Path(__file__).resolve().parent.parent
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DASK is None, reason="the dask CLI (distributed) is not installed"),
]


def _wait(predicate, seconds: float, what: str, poll: float = 0.2):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"{what}: not within {seconds:g} s")


class Cluster:
    """`dask scheduler` + `dask worker` processes, each in its own process group (a kill
    takes the nanny with the worker, so the worker is gone for good)."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.scheduler_file = folder / "scheduler.json"
        self.procs: dict[str, subprocess.Popen] = {}
        self.names: dict[str, str] = {}  # worker address -> name
        self.address = ""

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(
            [DASK, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )

    def start(self, workers: dict[str, list[str]]) -> str:
        self._start(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.scheduler_file),
            ],
        )
        _wait(self.scheduler_file.exists, 60, "scheduler file")
        address = json.loads(self.scheduler_file.read_text())["address"]
        self.address = address
        for name, extra in workers.items():
            self.add_worker(name, extra, wait=False)
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(len(workers), timeout=120)
            client.get_task_stream()  # installs the scheduler's task-stream plugin from now on
        self.worker_names()
        return address

    def add_worker(self, name: str, extra: list[str], wait: bool = True) -> None:
        """`dask worker` (nanny + one single-threaded worker process) named `name`."""
        self._start(
            name,
            [
                "worker",
                "--scheduler-file",
                str(self.scheduler_file),
                "--name",
                name,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--memory-limit",
                "0",
                "--no-dashboard",
                "--local-directory",
                str(self.folder / f"{name}-space"),
                *extra,
            ],
        )
        if wait:
            _wait(lambda: name in self.worker_names().values(), 120, f"worker {name}", poll=0.5)

    def worker_names(self) -> dict[str, str]:
        """{address: name} of the workers connected now; every one ever seen is kept in
        `self.names` (the task stream names workers by address, killed ones too)."""
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            now = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        self.names.update(now)
        return now

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster_run(prefect_server, tmp_path_factory):
    # One Prefect API (conftest) for the suite and every worker: workers started by hand
    # cannot know the temporary one a suite would start.
    tmp = tmp_path_factory.mktemp("cluster")
    suite = write_small_suite(tmp / "suite", failing_arm=False)
    # A checkpoint every 2 of the 10 training steps (not part of the model's hash), so the
    # GPU worker can be killed between a checkpoint and the end of a training.
    text = suite.read_text().replace("sources: [crawl, wiki]", "sources: [crawl, wiki], train: {checkpoint_every: 2}")
    assert text.count("checkpoint_every") == 2
    # MinHash dedup on one arm: its signatures are per-shard tasks on the cluster too.
    text = text.replace("{name: plain,", "{name: plain, dedup: {minhash: true},")
    suite.write_text(text)
    ws_root = tmp / "ws"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PREFECT_API_URL": prefect_server["api"],
        "PREFECT_HOME": prefect_server["home"],
        "WINNOW_HOME": str(ws_root),
        "WINNOW_REPORTS": str(tmp / "reports"),
    }
    cluster = Cluster(tmp, env)
    suite_proc = None
    # Patient bounds: under a parallel run on 2 busy cores the suite takes several times its
    # serial minutes (a 420 s bound on the first arm ran out at load 40).
    patience = 1200
    try:
        address = cluster.start({"gpu": ["--resources", "GPU=1"], "cpu": []})
        log = open(tmp / "suite.log", "w")
        suite_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows.ablation",
                str(suite),
                "--workspace",
                str(ws_root),
                "--dask-address",
                address,
                "--max-parallel",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        ws = Workspace.from_env(ws_root)

        def first_arm_done():
            return [c for c in ws.claims() if c["stage"] == "evals"] or suite_proc.poll() is not None

        _wait(first_arm_done, patience, "the first arm's evaluation")
        assert suite_proc.poll() is None, "the suite ended before the kill: " + (tmp / "suite.log").read_text()[-3000:]
        before = {(c["stage"], c["key"]): c["time"] for c in ws.claims()}
        done_markers = {
            p: p.stat().st_mtime_ns for p in ws.root.glob("*/*/_SUCCESS") if p.parent.parent.name != "validation"
        }
        cluster.kill("cpu")

        def second_model_checkpointed():
            done = {k for stage, k in before if stage == "models"}
            ckpts = [p for p in ws.root.glob("models/*/checkpoint/last.pt") if p.parent.parent.name not in done]
            return ckpts or suite_proc.poll() is not None

        found = _wait(second_model_checkpointed, patience, "the second model's first checkpoint", poll=0.05)
        assert suite_proc.poll() is None, (
            "the suite ended before the GPU kill: " + (tmp / "suite.log").read_text()[-3000:]
        )
        interrupted = found[0].parent.parent.name
        cluster.kill("gpu")  # mid-training: the scheduler re-queues the task until a GPU worker returns
        cluster.add_worker("gpu2", ["--resources", "GPU=1"])
        code = suite_proc.wait(patience)
        text = (tmp / "suite.log").read_text()
        assert code == 0, text[-5000:]
        from distributed import Client

        with Client(address, timeout=60) as client:
            stream = client.get_task_stream()
            workers = {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        yield {
            "ws": ws,
            "log": text,
            "stream": stream,
            "alive": workers,
            "before": before,
            "markers": done_markers,
            "interrupted": interrupted,
            "names": dict(cluster.names),
        }
    finally:
        if suite_proc is not None and suite_proc.poll() is None:  # a failed wait: not left running
            suite_proc.kill()
            suite_proc.wait(60)
        cluster.stop()


def _kinds_by_worker(stream: list[dict], names: dict[str, str]) -> dict[str, Counter]:
    """{worker name: Counter of task kinds (the Dask key's prefix)} from the task stream."""
    from dask.utils import key_split

    out: dict[str, Counter] = {}
    for rec in stream:
        out.setdefault(names.get(rec["worker"], rec["worker"]), Counter())[key_split(rec["key"])] += 1
    return out


@pytest.mark.timeout(2400)  # the first test builds cluster_run (patient waits)
def test_tasks_land_on_the_workers_their_resources_name(cluster_run):
    kinds = _kinds_by_worker(cluster_run["stream"], cluster_run["names"])
    assert {"gpu", "cpu", "gpu2"} <= set(kinds), kinds
    # Training and evaluation declare GPU=1: only the tagged workers ran them, one per arm.
    for kind in ("train-model", "lm-eval"):
        assert kinds["cpu"][kind] == 0, kinds
        assert kinds["gpu"][kind] + kinds["gpu2"][kind] == 2, kinds
    assert kinds["gpu"]["train-model"] == 1 and kinds["gpu2"]["train-model"] == 1, kinds  # the second after the kill
    # Per-shard curate work (Dask keys carry the task function's name) ran on both kinds.
    curate = ("ingest_shard_task", "signals_shard_task", "minhash_shard", "tokenize_part_task")
    assert sum(c["minhash_shard"] for c in kinds.values()) >= 2, kinds  # the plain arm's signatures, per shard
    found = {w: sum(c[k] for k in curate) for w, c in kinds.items()}
    assert found["gpu"] > 0 and found["cpu"] > 0, kinds
    assert sum(c["tokenize_part_task"] for c in kinds.values()) == 2, kinds  # one dataset part per arm


@pytest.mark.timeout(2400)  # the first test builds cluster_run (patient waits)
def test_killed_workers_lose_nothing_and_redo_nothing(cluster_run):
    ws, log = cluster_run["ws"], cluster_run["log"]
    assert set(cluster_run["alive"]) == {"gpu2"}  # the killed workers stayed dead
    runs = Catalog(ws.catalog_path).table("arm_runs").to_pylist()
    assert {(r["arm"], r["status"]) for r in runs} == {("plain", "completed"), ("random", "completed")}
    assert "| plain |" in log and "| random |" in log
    computed = Counter((c["stage"], c["key"]) for c in ws.claims())
    assert not {k: n for k, n in computed.items() if n > 1}  # nothing computed twice
    for key, when in cluster_run["before"].items():  # what was done before the kills is the same record
        assert [c["time"] for c in ws.claims() if (c["stage"], c["key"]) == key] == [when]
    for path, mtime in cluster_run["markers"].items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten after the kill"
    stages = Counter(stage for stage, _ in computed)
    assert stages["models"] == 2 and stages["evals"] == 2 and stages["datasets"] == 2, stages
    # The training killed with its worker went on from its last checkpoint on gpu2.
    summary = json.loads((ws.stage_dir("models", cluster_run["interrupted"]) / "train.json").read_text())
    assert summary["resumed_from_step"] and summary["resumed_from_step"] > 0, summary["resumed_from_step"]
    assert summary["steps"] > summary["resumed_from_step"]
