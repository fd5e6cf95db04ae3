"""A quiet console: what a run prints is ours, not the orchestrator's bookkeeping.

Prefect logs each run's life to the console at INFO ("Beginning flow run", "View at ...",
"Task run 'x' - Finished in state Completed()", "Connecting to an existing Dask cluster"):
about 260 lines for the default suite, which buried the stage bars and the leaderboard.
Unless `$WINNOW_VERBOSE` is set (`--verbose`), Prefect's console handlers here drop INFO
records logged from inside Prefect, prefect-dask or distributed, and print a failed run's
error as one line without the traceback. Our own prints (`log_prints=True` logs them from
our code, so their record points at our file), warnings and errors still print; the API
handler is not touched, so the UI keeps every log line and traceback.

Installed at import in every process that imports a flow module: the main process and each
Dask worker (workers import flows.* to unpickle the tasks they run).
"""

from __future__ import annotations

import logging
import os

from tasks.core.logs import verbose

# Library code whose INFO lines are bookkeeping, by the file the record was logged from.
_LIBRARIES = tuple(
    os.sep + name + os.sep for name in ("prefect", "prefect_dask", "distributed", "dask", "uvicorn", "fastapi")
)


def _from_library(record: logging.LogRecord) -> bool:
    return any(lib in record.pathname for lib in _LIBRARIES)


# Library lines that repeat an error our code reports itself (a failed arm is one line from
# flows/ablation.py; a failed job one line from its `main`), and Dask's note that it killed a
# worker still busy at shutdown.
_REPEATS = (
    "Task run failed with exception",
    "Finished in state Failed",
    "Encountered exception during execution",
    "Worker process still alive after",
)


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if verbose() or not _from_library(record):
            return True
        return record.levelno >= logging.WARNING and not record.getMessage().startswith(_REPEATS)


class _OneLineErrors(logging.Formatter):
    """The console formatter, minus the traceback of an error a library logged."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if verbose() or not (record.exc_info or record.exc_text) or not _from_library(record):
            return self.inner.format(record)
        exc = record.exc_info[1] if record.exc_info else None
        saved = record.exc_info, record.exc_text, record.msg, record.args
        first = record.getMessage().splitlines()[0] if record.getMessage() else ""
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0] if exc is not None else ""
        record.exc_info, record.exc_text = None, None
        record.msg, record.args = (f"{first} {reason}".strip() + " (--verbose for the traceback)"), ()
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.msg, record.args = saved


_FILTER = _QuietFilter()


def _console_handlers() -> list[logging.Handler]:
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    found: dict[int, logging.Handler] = {}
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, PrefectConsoleHandler):
                found[id(h)] = h
    return list(found.values())


def install() -> int:
    """Quiet every Prefect console handler of this process (idempotent). Returns how many."""
    handlers = _console_handlers()
    for h in handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
        if not isinstance(h.formatter, _OneLineErrors):
            h.setFormatter(_OneLineErrors(h.formatter))
    return len(handlers)
