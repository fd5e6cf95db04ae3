"""Child processes that leave nothing behind: each started in its own process group, so
that a timeout or a failing test kills what it started (a suite's temporary Prefect API,
its Dask workers) with it, instead of leaving them running on a shared machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping


def start(args: list[str], **kwargs) -> subprocess.Popen:
    """`subprocess.Popen` in a new session (its own process group)."""
    return subprocess.Popen(args, start_new_session=True, **kwargs)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL `proc`'s whole process group (if its leader still runs) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(60)


def wait_all(procs: Mapping[str, subprocess.Popen], timeout: float) -> dict[str, int]:
    """Exit codes of `procs`, all within one `timeout` (seconds). On a timeout, or any
    other exception (a KeyboardInterrupt, pytest-timeout), every group still running is
    killed before the exception goes on."""
    deadline = time.monotonic() + timeout
    try:
        return {name: p.wait(max(0.0, deadline - time.monotonic())) for name, p in procs.items()}
    finally:
        for p in procs.values():
            kill_group(p)


def run(args: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run(args, capture_output=True, text=True, timeout=...)`, but the child
    runs in its own process group and the group is killed on a timeout (subprocess.run
    kills the child alone; its children would live on)."""
    proc = start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        kill_group(proc)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)
