"""The signals stage: a docs shard's signals table (tasks/signals/computer.py per text,
plus language and URL features) written once per ingested source under `signals/`, and
the references to the finished folders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.signals.computer import get_computer
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


def signals_shard(docs_path: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Compute one docs shard's signals into `out_path` (written atomically)."""
    docs_path, out_path = Path(docs_path), Path(out_path)
    docs = pq.read_table(docs_path, columns=["doc_id", "source", "url", "text", "language", "language_score"])
    table = compute_signals(docs)
    check_signals(table, where=str(docs_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out_path)
    errors = table.num_rows - table.column("signals_error").null_count
    return {"shard": out_path.name, "documents": table.num_rows, "errors": errors}


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


def build_signals(workspace, docs_ref) -> SignalsRef:
    """Signals of every shard in this process, no Prefect or Dask (tests, small sources).
    flows/signals.py does the same with one Dask task per shard."""
    key = signals_key(docs_ref.docs_hash)
    done = signals_ref(workspace, docs_ref)
    if done is not None:
        return done
    with workspace.claim("signals", key) as claim:  # a concurrent run computing them is waited for
        if claim.todo:
            out_dir = workspace.stage_dir("signals", key)
            documents = sum(signals_shard(shard, out_dir / shard.name)["documents"] for shard in docs_ref.shards)
            workspace.mark_done("signals", key, signals_info(docs_ref, documents))
    ref = signals_ref(workspace, docs_ref)
    assert ref is not None  # marked done just above
    return ref
