"""Arrow schemas of the Parquet files that stages hand to each other.

`docs/<source-hash>/shard-NNNNN.parquet` follows DOCS; quarantined records go to
`docs/<source-hash>/quarantine/shard-NNNNN.parquet` (QUARANTINE) and WAT metadata to
`docs/<source-hash>/metadata/shard-NNNNN.parquet` (WAT_METADATA).
"""

from __future__ import annotations

import pyarrow as pa

DOCS = pa.schema(
    [
        ("doc_id", pa.string()),  # xxh3-128 of (source name, record id): stable across reruns
        ("source", pa.string()),  # source name given at ingest (e.g. "crawl")
        ("url", pa.string()),
        ("domain", pa.string()),
        ("text", pa.string()),
        ("language", pa.string()),  # ISO 639-1 code from the language identifier
        ("language_score", pa.float32()),  # its probability, in [0, 1]
        ("crawl_date", pa.timestamp("us", tz="UTC")),
        ("content_type", pa.string()),
        ("encoding", pa.string()),  # charset used to decode the payload
        ("n_bytes", pa.int64()),  # bytes of the raw payload (HTML for WARC)
        ("n_chars", pa.int64()),  # characters of `text`
        ("text_truncated", pa.bool_()),  # text was cut at the ingest cap
        ("source_file", pa.string()),  # provenance: the input file...
        ("record_id", pa.string()),  # ...the WARC-Record-ID / JSONL id / row number...
        ("record_offset", pa.int64()),  # ...and its byte offset (line number for JSONL)
        ("format", pa.string()),  # warc | wet | jsonl | parquet
        ("extractor", pa.string()),  # HTML -> text extractor used, or "none"
    ]
)

QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("record_offset", pa.int64()),
        ("record_id", pa.string()),
        ("url", pa.string()),
        ("reason", pa.string()),  # a short code: corrupt_gzip, truncated_record, non_html, ...
        ("detail", pa.string()),  # the one-line explanation
    ]
)

WAT_METADATA = pa.schema(
    [
        ("source_file", pa.string()),
        ("record_offset", pa.int64()),
        ("record_id", pa.string()),
        ("url", pa.string()),
        ("crawl_date", pa.timestamp("us", tz="UTC")),
        ("http_status", pa.int32()),
        ("http_headers", pa.string()),  # JSON object
        ("html_title", pa.string()),
        ("n_links", pa.int32()),
        ("links", pa.list_(pa.string())),
    ]
)
