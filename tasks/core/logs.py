"""Quiet third-party output: one progress bar per stage, warnings and errors kept.

lm-eval, datasets, transformers and huggingface_hub each draw their own progress bars
(one per task, per map, per saved shard...), which in a non-terminal log become
thousands of lines. Unless `$WINNOW_VERBOSE` is set (`--verbose` on the flows sets it),
`quiet_libraries()` turns their bars off and their loggers down to warnings, and
`lm_eval_bars()` keeps only lm-eval's first "Running ..." request bar, the evaluate stage's one bar.
tasks/evaluate/harness.py also has lm-eval bootstrap standard errors in-process
(`DISABLE_MULTIPROC`): its worker pool, forked from a Prefect flow, inherits Prefect's
SIGTERM handler, so the pool's shutdown printed `TerminationSignal` tracebacks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

VERBOSE_ENV = "WINNOW_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false", "no")


def set_verbose(on: bool) -> None:
    """Set for this process and the ones it starts (Dask workers, subprocesses)."""
    os.environ[VERBOSE_ENV] = "1" if on else "0"


# lm-eval warnings that repeat per request or per task and need no action: a context longer
# than the proxy's window is cut from the left (nano: 256 tokens; about 150 lines a suite),
# and every local task YAML is told it may take metadata. Shown with --verbose.
BENIGN_LM_EVAL = ("exceeds model's maximum length", "Custom kwargs can be passed to `--metadata`")
# transformers, once per tokenizer: a held-out text longer than the proxy's window. Expected:
# lm-eval's rolling log-likelihood and the snapshot scorer cut such texts into windows.
BENIGN_TRANSFORMERS = ("Token indices sequence length is longer than the specified maximum",)


class _DropBenign(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(b in msg for b in BENIGN_LM_EVAL + BENIGN_TRANSFORMERS)


_DROP_BENIGN = _DropBenign()


def quiet_libraries() -> None:
    """Progress bars off and loggers at WARNING for the ML libraries (idempotent)."""
    if verbose():
        return
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    for name in ("lm_eval", "datasets", "transformers", "huggingface_hub", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("lm_eval.models.huggingface", "lm_eval.api.task", "transformers.tokenization_utils_base"):
        if _DROP_BENIGN not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_DROP_BENIGN)
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_warning()
    except ImportError:
        pass
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_warning()
    except ImportError:
        pass


def _silenced(tqdm_cls: Any, keep_prefix: str | None = None, kept: list[int] | None = None) -> Any:
    """`tqdm_cls` with every bar disabled, except the first whose desc starts with keep_prefix
    (`kept` counts those shown, shared between the patched modules). lm-eval's rolling
    log-likelihood opens one more "Running" bar per batch of windows: 50 lines an arm."""

    def make(*args: Any, **kwargs: Any) -> Any:
        desc = str(kwargs.get("desc") or "")
        if keep_prefix and desc.startswith(keep_prefix) and kept is not None and not kept:
            kept.append(1)
        else:
            kwargs["disable"] = True
        return tqdm_cls(*args, **kwargs)

    return make


@contextmanager
def lm_eval_bars() -> Iterator[None]:
    """While lm-eval runs: its per-task and tokenising bars off, the request bar kept."""
    if verbose():
        yield
        return
    import lm_eval.api.metrics
    import lm_eval.api.model
    import lm_eval.api.task
    import lm_eval.models.huggingface
    import tqdm

    # tqdm itself: lm-eval's bootstrap (standard errors) imports tqdm.tqdm inside a function.
    modules = {lm_eval.api.task: None, lm_eval.api.model: None, lm_eval.models.huggingface: "Running", tqdm: None}
    saved = {m: m.tqdm for m in modules}  # each does `from tqdm import tqdm`
    kept: list[int] = []
    # lm-eval's bootstrap prints "bootstrapping for stddev: perplexity" with the builtin print
    lm_eval.api.metrics.print = lambda *args, **kwargs: None
    try:
        for module, keep in modules.items():
            module.tqdm = _silenced(saved[module], keep, kept)
        yield
    finally:
        for module, original in saved.items():
            module.tqdm = original
        del lm_eval.api.metrics.print
