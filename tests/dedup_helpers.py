"""Helpers for the dedup tests and benchmark: write documents as an ingested source."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.docsref import DocsRef, docs_hash_of
from tasks.schema import DOCS
from tasks.workspace import Workspace


def write_source(workspace: Workspace, name: str, table: pa.Table, shards: int = 1) -> DocsRef:
    """Write a DOCS-schema table as `docs/<key>/shard-NNNNN.parquet` + `_SUCCESS`, like ingest."""
    table = table.cast(DOCS) if table.schema != DOCS else table
    key = f"test-{name}"
    folder = workspace.stage_dir("docs", key)
    folder.mkdir(parents=True, exist_ok=True)
    per = max(1, -(-table.num_rows // shards))
    paths = []
    for i in range(max(shards, 1)):
        path = folder / f"shard-{i:05d}.parquet"
        pq.write_table(table.slice(i * per, per), path)
        paths.append(path)
    docs_hash = docs_hash_of(paths)
    workspace.mark_done("docs", key, {"name": name, "docs_hash": docs_hash, "shards": [p.name for p in paths]})
    return DocsRef(name, key, docs_hash, tuple(paths))


def docs_table(texts: Sequence[str], prefix: str = "d", urls: Sequence[str] | None = None,
               dates: Sequence | None = None) -> pa.Table:
    """DOCS rows for plain texts (doc_id = prefix + index)."""
    n = len(texts)
    rows = []
    for i, text in enumerate(texts):
        url = urls[i] if urls else f"https://example.org/{prefix}/{i}"
        rows.append({"doc_id": f"{prefix}{i:06d}", "source": prefix, "url": url, "domain": "example.org",
                     "text": text, "language": "en", "language_score": 1.0,
                     "crawl_date": dates[i] if dates else None, "content_type": "text/plain",
                     "encoding": "utf-8", "n_bytes": len(text.encode()), "n_chars": len(text),
                     "text_truncated": False, "source_file": "test", "record_id": str(i),
                     "record_offset": i, "format": "jsonl", "extractor": "none"})
    return pa.Table.from_pylist(rows, schema=DOCS) if n else DOCS.empty_table()
