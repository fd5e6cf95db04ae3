"""Export a curated dataset (datasets/<key>/part-*.parquet) to a folder of shards in one
target format (tasks/export/formats.py), with its data card and a manifest.

Curation itself is one DuckDB pipeline over the whole pool (dedup and selection are
global), so the per-shard work is what follows it: each export shard — a run of
`shard_docs` rows of the dataset, read through the row groups that hold them — is
tokenised and written by one job (`export_shard`, mapped locally or on Dask). Resumable
shard by shard, as tasks/core/shards.py's claimed stages are: a shard's job writes its
files under temporary names, moves them into place, then writes its marker
`.shards/shard-NNNNN.json` (rows, job fingerprint, sha256 and size of each file). A rerun
skips every shard whose marker matches its job and whose files are there with their
recorded sizes; a deleted or truncated file sends its shard (alone) back to work.
`finish` writes card.md / card.json and `manifest.json` (counts, token totals, the
sha256 of every file) last, so a folder with a manifest is a complete export.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from tasks.core.hashing import hash_json
from tasks.core.workspace import write_json_atomic
from tasks.export import formats as F

SHARD_DOCS = 50_000  # dataset rows per export shard
MARKERS = ".shards"


@dataclass(frozen=True)
class ShardJob:
    dataset: str  # the curated dataset's part file
    index: int
    start: int  # rows [start, stop) of the dataset
    stop: int
    out: str
    format: str
    tokenizer: str | None  # a tokenizer folder (or HF name in the local cache); None: no tokens

    def fingerprint(self) -> str:
        return hash_json(asdict(self) | {"out": None})


@dataclass(frozen=True)
class ShardResult:
    index: int
    documents: int
    rows: int  # with repeats
    tokens: int | None
    files: dict[str, dict[str, Any]]  # relative path -> {sha256, bytes}
    skipped: bool = False


@dataclass(frozen=True)
class ExportResult:
    out: Path
    manifest: dict[str, Any]
    written: int  # shards written by this run
    skipped: int  # shards a finished earlier run had written

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "written": self.written, "skipped": self.skipped, **self.manifest}


def check_dataset(dataset_dir: Path) -> Path:
    """The dataset's part file, readable (ValueError naming it otherwise)."""
    parts = sorted(Path(dataset_dir).glob("part-*.parquet"))
    if not (Path(dataset_dir) / "_SUCCESS").exists() or not parts:
        raise ValueError(f"{dataset_dir}: no finished dataset (part-*.parquet and _SUCCESS); curate it first")
    if len(parts) != 1:
        raise ValueError(f"{dataset_dir}: expected one part file, found {[p.name for p in parts]}")
    try:
        missing = {"repeat", *F.COLUMNS} - set(pq.read_schema(parts[0]).names)
    except Exception as exc:  # pyarrow raises several kinds for a truncated or foreign file
        raise ValueError(f"{parts[0]}: unreadable dataset part ({exc})") from exc
    if missing:
        raise ValueError(f"{parts[0]}: dataset part lacks columns {sorted(missing)}")
    return parts[0]


def plan(dataset_dir: Path, out: Path, fmt: str, tokenizer: str | None, shard_docs: int = SHARD_DOCS) -> list[ShardJob]:
    if fmt not in F.FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(F.FORMATS)}")
    if fmt == "megatron" and tokenizer is None:
        raise ValueError("the megatron format needs a tokenizer")
    part = check_dataset(dataset_dir)
    n = pq.ParquetFile(part).metadata.num_rows
    bounds = list(range(0, n, shard_docs)) or [0]
    return [ShardJob(str(part), i, a, min(a + shard_docs, n), str(out), fmt, tokenizer) for i, a in enumerate(bounds)]


def export_shard(job: ShardJob) -> ShardResult:
    """Write one shard unless a finished run wrote it (then its recorded result)."""
    out = Path(job.out)
    done = shard_done(job)
    if done is not None:
        return done
    table = F.expand_repeats(_read_rows(Path(job.dataset), job.start, job.stop))
    ids, vocab = None, 0
    if job.tokenizer is not None:
        tok = _tokenizer(job.tokenizer)
        ids, vocab = F.token_ids(tok, table.column("text").to_pylist(), _eod(tok)), len(tok)
    F.write_shard(job.format, out, job.index, table, ids, vocab)
    files = {name: _file_info(out / name) for name in F.shard_files(job.format, job.index)}
    docs = len(set(table.column("doc_id").to_pylist()))
    tokens = int(sum(len(x) for x in ids)) if ids is not None else None
    result = ShardResult(job.index, docs, table.num_rows, tokens, files)
    write_json_atomic(_marker(job), {"job": job.fingerprint(), **asdict(result)})
    return result


def shard_done(job: ShardJob) -> ShardResult | None:
    """The recorded result of a shard whose marker matches `job` and whose files are all
    there with their recorded sizes; None when it must be (re)written."""
    marker = _marker(job)
    if not marker.exists():
        return None
    info = json.loads(marker.read_text())
    out = Path(job.out)
    if info.get("job") != job.fingerprint():
        return None
    for name, f in info["files"].items():
        if not (out / name).exists() or (out / name).stat().st_size != f["bytes"]:
            return None
    info.pop("job")
    return ShardResult(**{**info, "skipped": True})


def finish(out: Path, jobs: list[ShardJob], results: list[ShardResult], meta: dict[str, Any], card_dir: Path | None):
    """The dataset's data card (card.md / card.json as tasks/report/cards.py wrote it beside
    the dataset), README.md (hf), then manifest.json: the export is complete."""
    out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, dict[str, Any]] = {}
    for name in ("card.json", "card.md"):
        if card_dir is not None and (Path(card_dir) / name).exists():
            shutil.copyfile(Path(card_dir) / name, out / name)
            extra[name] = _file_info(out / name)
    if jobs and jobs[0].format == "hf":
        card_md = (out / "card.md").read_text() if (out / "card.md").exists() else ""
        (out / "README.md").write_text(F.hf_readme(meta.get("recipe") or "dataset", card_md))
        extra["README.md"] = _file_info(out / "README.md")
    results = sorted(results, key=lambda r: r.index)
    tokens = [r.tokens for r in results]
    manifest = {
        **meta,
        "format": jobs[0].format if jobs else None,
        "shards": len(results),
        "documents": sum(r.documents for r in results),
        "rows": sum(r.rows for r in results),
        "tokens": sum(t for t in tokens if t is not None) if all(t is not None for t in tokens) else None,
        "files": {name: f for r in results for name, f in r.files.items()} | extra,
        "per_shard": [{k: v for k, v in asdict(r).items() if k != "skipped"} for r in results],
    }
    write_json_atomic(out / "manifest.json", manifest)
    return ExportResult(out, manifest, sum(not r.skipped for r in results), sum(r.skipped for r in results))


def clear_partial(out: Path) -> None:
    """Temporary files a killed run left (never a finished shard's files)."""
    for p in out.rglob(".tmp-*"):
        p.unlink() if p.is_file() else shutil.rmtree(p)


def _marker(job: ShardJob) -> Path:
    path = Path(job.out) / MARKERS / f"shard-{job.index:05d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _read_rows(part: Path, start: int, stop: int):
    """Rows [start, stop) of a Parquet file, reading only the row groups that hold them."""
    pf = pq.ParquetFile(part)
    sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    groups = [g for g in range(len(sizes)) if offs[g] < stop and offs[g + 1] > start]
    if not groups:
        return pf.schema_arrow.empty_table().select([*F.COLUMNS, "repeat"])
    table = pf.read_row_groups(groups, columns=[*F.COLUMNS, "repeat"])
    return table.slice(start - int(offs[groups[0]]), stop - start)


@functools.lru_cache(maxsize=4)
def _tokenizer(name_or_path: str):
    """A Hugging Face tokenizer from a local folder or the local cache (never the network)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)


def _eod(tok) -> int:
    eod = tok.eos_token_id
    if eod is None:
        raise ValueError(f"tokenizer {tok.name_or_path!r} has no EOS token to end documents with")
    return int(eod)


def tokenizer_info(name_or_path: str) -> dict[str, Any]:
    tok = _tokenizer(name_or_path)
    return {"name_or_path": name_or_path, "eod_id": _eod(tok), "vocab_size": len(tok)}


def _file_info(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"sha256": h.hexdigest(), "bytes": path.stat().st_size}


def export_dataset(
    dataset_dir: Path,
    out: Path,
    fmt: str,
    tokenizer: str | None,
    meta: dict[str, Any],
    card_dir: Path | None = None,
    map_fn=None,
    shard_docs: int = SHARD_DOCS,
) -> ExportResult:
    """The whole export: plan the shards, run the unfinished ones (`map_fn`: a local map
    or one over Dask, tasks/core/shards.py's MapFn), then the card (from `card_dir`,
    default the dataset's folder) and the manifest."""
    from tasks.core.shards import local_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clear_partial(out)
    jobs = plan(Path(dataset_dir), out, fmt, tokenizer, shard_docs)
    results = list((map_fn or local_map)(export_shard, jobs))
    info = {"tokenizer": tokenizer_info(tokenizer) if tokenizer else None, **meta}
    return finish(out, jobs, results, info, card_dir if card_dir is not None else Path(dataset_dir))


def resolve_tokenizer(workspace, recipe, name_or_path: str | None) -> str:
    """`--tokenizer` as given (a local folder or a name in the local HF cache), else the
    suite tokenizer of the recipe's vocabulary (tasks/train/tokenizer.py, built once)."""
    if name_or_path:
        return name_or_path
    from tasks.train.doc_tokens import suite_tokenizer

    return str(suite_tokenizer(workspace, recipe.tokenizer_vocab()).folder)


def recipe_of(workspace, name: str):
    """The recipe of an arm, recipe name or dataset key, as the catalog recorded it (its
    dataset folder need not exist: the export curates the recipe again)."""
    from tasks.core.catalog import Catalog
    from tasks.recipe import Recipe

    rows = Catalog(workspace.catalog_path).query("recipe_by_name", {"name": name})
    if not rows:
        raise LookupError(f"{name!r} is neither a recipe file nor an arm, recipe or dataset key of {workspace.root}")
    return Recipe.model_validate_json(rows[0]["recipe_json"])
