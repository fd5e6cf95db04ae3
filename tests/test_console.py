"""A quiet run prints ours, not the orchestrator's bookkeeping (flows/_console.py)."""

from __future__ import annotations

import io
import logging
import os

import pytest
from prefect.logging.handlers import PrefectConsoleHandler

from flows import _console
from tasks.core import logs

PREFECT_FILE = os.path.join(os.sep, "venv", "site-packages", "prefect", "task_engine.py")
OUR_FILE = os.path.join(os.sep, "repo", "flows", "ablation.py")


def _record(level: int, msg: str, pathname: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("prefect.task_runs", level, pathname, 1, msg, (), exc_info)


@pytest.fixture
def console(monkeypatch):
    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    buf = io.StringIO()
    handler = PrefectConsoleHandler(stream=buf)
    logger = logging.getLogger("winnow-test-console")
    logger.addHandler(handler)
    try:
        assert _console.install() >= 1
        yield handler, buf
    finally:
        logger.removeHandler(handler)


def _error() -> ValueError:
    try:
        raise ValueError("recipe 'x': token budget not reached")
    except ValueError as e:
        return e


def test_prefect_bookkeeping_dropped_ours_and_warnings_kept(console):
    handler, buf = console
    handler.handle(_record(logging.INFO, "Finished in state Completed()", PREFECT_FILE))
    handler.handle(_record(logging.INFO, "| arm | centered acc |", OUR_FILE))
    handler.handle(_record(logging.WARNING, "arm b: 3 of 9 shards quarantined", PREFECT_FILE))
    out = buf.getvalue()
    assert "Finished in state" not in out
    assert "| arm | centered acc |" in out and "quarantined" in out


def test_a_library_error_is_one_line_without_traceback(console):
    handler, buf = console
    handler.handle(_record(logging.ERROR, "Crash detected! Execution was interrupted", PREFECT_FILE, _error()))
    out = buf.getvalue().strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1
    assert "ValueError: recipe 'x': token budget not reached" in out


def test_library_repeats_of_an_error_we_report_are_dropped(console):
    handler, buf = console
    for msg in ("Task run failed with exception: ValueError(...)", "Finished in state Failed('...')"):
        handler.handle(_record(logging.ERROR, msg, PREFECT_FILE, _error()))
    handler.handle(_record(logging.ERROR, "arm a-seed0 failed: token budget not reached", OUR_FILE))
    assert buf.getvalue().strip().splitlines() == [buf.getvalue().strip()]  # our one line only
    assert "arm a-seed0 failed" in buf.getvalue()


def test_verbose_shows_everything(console, monkeypatch):
    handler, buf = console
    monkeypatch.setenv(logs.VERBOSE_ENV, "1")
    handler.handle(_record(logging.INFO, "Finished in state Completed()", PREFECT_FILE))
    handler.handle(_record(logging.ERROR, "Task run failed with exception", PREFECT_FILE, _error()))
    out = buf.getvalue()
    assert "Finished in state" in out and "Traceback" in out


def test_lm_eval_keeps_one_request_bar_and_no_bootstrap_prints(monkeypatch, capsys):
    import lm_eval.api.metrics
    import lm_eval.models.huggingface as hf

    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    buf = io.StringIO()
    with logs.lm_eval_bars():
        for _ in range(3):  # the request bar, then rolling log-likelihood's per-batch bars
            for _ in hf.tqdm(range(2), desc="Running loglikelihood requests", file=buf, mininterval=0):
                pass
        lm_eval.api.metrics.print("bootstrapping for stddev: perplexity")
    assert buf.getvalue().count("0/2") == 1  # one bar started
    assert "bootstrapping" not in capsys.readouterr().out
    assert not hasattr(lm_eval.api.metrics, "print")  # the builtin again afterwards


def test_our_task_yamls_load_without_lm_eval_config_warnings(caplog):
    """Each metric's aggregation and direction is spelled out: lm-eval warned twice per
    metric per task load (90 lines a demo) when they were left to its defaults."""
    from lm_eval.tasks import TaskManager

    from tasks.evaluate.eval_data import TASKS, prepare
    from tasks.evaluate.harness import EVALS_DIR
    from tasks.evaluate.registry import TASK_PREFIX

    prepare()
    names = [TASK_PREFIX + t for t in TASKS]
    with caplog.at_level(logging.WARNING, logger="lm_eval"):
        tasks = TaskManager(include_path=str(EVALS_DIR), include_defaults=False).load_task_or_group(names)
    assert any("bits_per_byte" in t.higher_is_better() for t in tasks.values())
    assert not [r.getMessage() for r in caplog.records if "is defined, but" in r.getMessage()]


def _profiler_on() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_dask_workers_run_without_the_frame_sampling_profiler():
    """The profiler held task frames past their return and freed resiliparse trees on the
    event-loop thread: a "HTMLTreePy is unsendable" traceback in about half the ingest runs."""
    from distributed import Client

    from flows._runtime import dask_cluster

    with dask_cluster(None, 1) as address, Client(address) as client:
        assert client.submit(_profiler_on, pure=False).result() is False
