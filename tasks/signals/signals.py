"""The signals stage: a docs shard's signals table (tasks/signals/computer.py per text,
plus language and URL features) written once per ingested source under `signals/`, and
the references to the finished folders."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.shards import MapFn, local_map, run_claimed_shards
from tasks.signals.computer import get_computer
from tasks.signals.results import SignalsCounts
from tasks.signals.schema import SIGNAL_FIELDS, SIGNALS_SCHEMA, SIGNALS_VERSION, check_signals


def url_features(url: str | None) -> tuple[str | None, str | None, int | None]:
    """(domain, tld, url length): host lower-cased without port and "www."; last label."""
    if not url:
        return None, None, None
    try:
        # Some sources store URLs without a scheme ("example.com/a"): read them as http.
        host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower().rstrip(".")
    except ValueError:
        host = ""
    if host.startswith("www."):
        host = host[4:]
    if " " in host:
        host = ""
    tld = host.rsplit(".", 1)[-1] if "." in host else None
    return host or None, tld, len(url)


def compute_signals(docs: pa.Table, progress: bool = False) -> pa.Table:
    """Signals of a DOCS-schema table (needs doc_id and text; uses source, url,
    language, language_score when present)."""
    comp = get_computer()
    names = set(docs.column_names)
    texts = docs.column("text").to_pylist()
    n = len(texts)

    def col(name: str) -> list:
        return docs.column(name).to_pylist() if name in names else [None] * n

    rows: dict[str, list] = {name: [] for name, _ in SIGNAL_FIELDS}
    it: Iterable = texts
    if progress:
        from tqdm import tqdm

        it = tqdm(texts, desc="signals", unit="doc")
    for sig in comp.compute_many(text or "" for text in it):
        for k, v in sig.items():
            rows[k].append(v)
    rows["doc_id"] = col("doc_id")
    rows["source"] = col("source")
    rows["language"], rows["language_score"] = _languages(texts, col("language"), col("language_score"))
    feats = [url_features(u) for u in col("url")]
    rows["domain"] = [f[0] for f in feats]
    rows["tld"] = [f[1] for f in feats]
    rows["url_length"] = [f[2] for f in feats]
    return pa.table({name: pa.array(rows[name], type=typ) for name, typ in SIGNAL_FIELDS}, schema=SIGNALS_SCHEMA)


def _languages(texts: list, languages: list, scores: list) -> tuple[list, list]:
    """Ingest's language and score; where it gave none, the default identifier's
    (lid.176, top-language probability), so every document with text has a language signal."""
    from tasks.ingest.langid import identify

    languages, scores = list(languages), list(scores)
    for i, (text, lang) in enumerate(zip(texts, languages)):
        if lang is None and text and text.strip():
            languages[i], scores[i] = identify(text)
    return languages, scores


def signals_shard(docs_path: str | Path, out_path: str | Path) -> SignalsCounts:
    """Compute one docs shard's signals into `out_path` (written atomically)."""
    docs_path, out_path = Path(docs_path), Path(out_path)
    docs = pq.read_table(docs_path, columns=["doc_id", "source", "url", "text", "language", "language_score"])
    table = compute_signals(docs)
    check_signals(table, where=str(docs_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out_path)
    return SignalsCounts(out_path.name, table.num_rows, _errors(table))


def _errors(table: pa.Table) -> int:
    return table.num_rows - table.column("signals_error").null_count


@dataclass(frozen=True)
class SignalsRef:
    """A finished signals folder: `signals/<docs_hash16>-<SIGNALS_VERSION>/shard-NNNNN.parquet`."""

    name: str
    key: str
    docs_hash: str
    dir: Path
    shards: tuple[Path, ...]
    documents: int


def signals_key(docs_hash: str) -> str:
    from tasks.core.hashing import short

    return f"{short(docs_hash)}-{SIGNALS_VERSION}"


def signals_ref(workspace, docs_ref) -> SignalsRef | None:
    """The finished signals of an ingested source (a tasks.core.docsref.DocsRef), or None."""
    key = signals_key(docs_ref.docs_hash)
    if not workspace.is_done("signals", key):
        return None
    info = workspace.read_done("signals", key)
    folder = workspace.stage_dir("signals", key)
    return SignalsRef(
        docs_ref.name,
        key,
        docs_ref.docs_hash,
        folder,
        tuple(folder / s for s in info["shards"]),
        int(info.get("documents", 0)),
    )


def resolve_signals(workspace, name_or_key: str) -> SignalsRef:
    """The signals of the ingested source `name_or_key` (LookupError if not computed)."""
    from tasks.core.docsref import resolve_docs

    docs = resolve_docs(workspace, name_or_key)
    ref = signals_ref(workspace, docs)
    if ref is None:
        raise LookupError(
            f"no signals for source {name_or_key!r} (docs {docs.source_key}); "
            f"run `python -m flows.signals {name_or_key}` first"
        )
    return ref


def signals_info(docs_ref, documents: int) -> dict[str, Any]:
    """The `_SUCCESS` record of a signals folder."""
    return {
        "name": docs_ref.name,
        "docs_hash": docs_ref.docs_hash,
        "signals_version": SIGNALS_VERSION,
        "shards": [s.name for s in docs_ref.shards],
        "documents": documents,
    }


def signals_jobs(workspace, docs_ref) -> list[tuple[str, str]]:
    """The per-shard jobs of a source's signals: (docs shard, signals shard to write)."""
    out_dir = workspace.stage_dir("signals", signals_key(docs_ref.docs_hash))
    return [(str(shard), str(out_dir / shard.name)) for shard in docs_ref.shards]


def signals_job(job: tuple[str, str]) -> SignalsCounts:
    """One shard's signals (`signals_shard`), or the shard an interrupted run finished
    (its errors counted from the file, so `_SUCCESS` counts them too)."""
    docs_shard, out_path = job
    if Path(out_path).exists():
        done = pq.read_table(out_path, columns=["signals_error"])
        return SignalsCounts(Path(out_path).name, done.num_rows, _errors(done))
    return signals_shard(docs_shard, out_path)


def finish_signals(workspace, docs_ref, results: Sequence[SignalsCounts]) -> dict[str, Any]:
    """Mark a source's signals done (after every shard job returned); its `_SUCCESS` info."""
    documents = sum(r.documents for r in results)
    errors = sum(r.errors for r in results)
    info = {**signals_info(docs_ref, documents), "errors": errors}
    workspace.mark_done("signals", signals_key(docs_ref.docs_hash), info)
    return info


def ensure_signals(
    workspace,
    docs_ref,
    map_fn: MapFn = local_map,
    run: Callable[[Sequence[tuple[str, str]]], Sequence[SignalsCounts]] | None = None,
) -> dict[str, Any] | None:
    """A source's signals as a claimed per-shard stage (tasks/core/shards.py): the shard
    jobs run through `run(jobs)` when given (flows/signals.py: one Prefect task each), else
    `map_fn(signals_job, jobs)`. Returns the `_SUCCESS` info when this call computed them,
    None when they were done (or a concurrent run computed them while this one waited)."""
    return run_claimed_shards(
        workspace,
        "signals",
        signals_key(docs_ref.docs_hash),
        jobs=lambda: signals_jobs(workspace, docs_ref),
        run=run or (lambda jobs: list(map_fn(signals_job, jobs))),
        finish=lambda results, seconds: finish_signals(workspace, docs_ref, results),
    )


def build_signals(workspace, docs_ref) -> SignalsRef:
    """Signals of every shard in this process, no Prefect or Dask (tests, small sources).
    flows/signals.py runs the same `ensure_signals` with one Dask task per shard."""
    ensure_signals(workspace, docs_ref)
    ref = signals_ref(workspace, docs_ref)
    assert ref is not None  # marked done by ensure_signals or the run it waited for
    return ref
