"""Write DOCS-schema shards into a workspace the way ingest does, so resolve_docs finds them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.docsref import docs_hash_of
from tasks.core.hashing import hash_json
from tasks.core.schema import DOCS


def write_docs(workspace, name: str, table: pa.Table, shard_rows: int = 250) -> str:
    """Shard `table` into docs/<key>/shard-NNNNN.parquet plus _SUCCESS; returns the key."""
    table = table.cast(DOCS)
    key = hash_json([name, table.num_rows, table.column("doc_id").to_pylist()[:5]])[:16]
    folder = workspace.stage_dir("docs", key)
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    for i, start in enumerate(range(0, max(table.num_rows, 1), shard_rows)):
        path = folder / f"shard-{i:05d}.parquet"
        pq.write_table(table.slice(start, shard_rows), path)
        shards.append(path)
    workspace.mark_done(
        "docs",
        key,
        {
            "name": name,
            "docs_hash": docs_hash_of(shards),
            "shards": [p.name for p in shards],
            "counts": {"documents": table.num_rows},
        },
    )
    return key


def docs_table(
    texts: list[str], source: str = "edge", urls: list[str] | None = None, languages: list[str] | None = None
) -> pa.Table:
    rows = []
    for i, text in enumerate(texts):
        url = (urls or [None] * len(texts))[i]
        rows.append(
            {
                "doc_id": f"{source}-{i:05d}",
                "source": source,
                "url": url,
                "domain": None,
                "text": text,
                "language": (languages or ["en"] * len(texts))[i],
                "language_score": 0.9,
                "crawl_date": None,
                "content_type": "text/plain",
                "encoding": "utf-8",
                "n_bytes": len(text.encode()),
                "n_chars": len(text),
                "text_truncated": False,
                "source_file": "hand-written",
                "record_id": str(i),
                "record_offset": i,
                "format": "jsonl",
                "extractor": "none",
            }
        )
    return pa.Table.from_pylist(rows, schema=DOCS)
