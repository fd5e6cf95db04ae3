"""Streaming readers: one input file -> a stream of records with provenance.

Every record a reader sees comes out as exactly one of (tasks/ingest/records.py)
- `Content`: a document candidate (WARC response HTML, WET conversion text, JSONL line,
  Parquet row) with file, byte offset (line/row number for JSONL/Parquet) and record id;
- `Metadata`: a WAT metadata JSON record, as a WAT_METADATA row;
- `Bad`: a record that could not be read (corrupt gzip member, truncated record, bad
  JSON, ...) with a reason code and a one-line detail;
- `Other`: a WARC record of a type that carries no document (warcinfo, request, ...).
Readers never raise for bad data inside a file: they report it and go on. WARC is
tasks/ingest/warc.py; JSONL and Parquet are read here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import datetime

import fsspec

from tasks.ingest.records import Bad, Content, Other, ReadOptions, Record, open_binary, parse_date
from tasks.ingest.warc import read_warc

WARC_NAMES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".wat", ".wat.gz", ".warc.wet.gz", ".warc.wat.gz")
JSONL_NAMES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz", ".jsonl.zst", ".json.zst")
PARQUET_NAMES = (".parquet", ".pq")


class UnknownFormat(ValueError):
    pass


def detect_format(uri: str, head: bytes | None = None) -> str:
    """'warc', 'jsonl' or 'parquet': by file name, else by sniffing the first bytes."""
    name = uri.lower().rsplit("/", 1)[-1]
    if name.endswith(WARC_NAMES):
        return "warc"
    if name.endswith(JSONL_NAMES):
        return "jsonl"
    if name.endswith(PARQUET_NAMES):
        return "parquet"
    if head is None:
        with open_binary(uri) as f:
            head = f.read(4096)
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(31).decompress(head, 256)
        except zlib.error:
            head = b""
    elif head[:4] == b"\x28\xb5\x2f\xfd":  # zstd
        import zstandard

        try:
            head = zstandard.ZstdDecompressor().decompressobj().decompress(head)[:256]
        except zstandard.ZstdError:
            head = b""
    head = head.lstrip()
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"{"):
        return "jsonl"
    raise UnknownFormat(f"{uri}: not WARC/WET/WAT, JSONL or Parquet (by name or content; starts {head[:16]!r})")


def read_records(uri: str, options: ReadOptions = ReadOptions()) -> Iterator[Record]:
    """All records of one input file, in file order."""
    try:
        fmt = detect_format(uri)
    except UnknownFormat as e:
        yield Bad(0, "unknown_format", str(e))
        return
    if fmt == "warc":
        yield from read_warc(uri, options)
    elif fmt == "jsonl":
        yield from read_jsonl(uri)
    else:
        yield from read_parquet(uri)


def _doc_fields(rec: dict) -> tuple[str | None, str | None, datetime | None]:
    """(id, url, created) of a dolma / RedPajama style record."""
    raw_meta = rec.get("metadata")
    meta: dict = raw_meta if isinstance(raw_meta, dict) else {}
    rid = rec.get("id", meta.get("id"))
    url = rec.get("url") or meta.get("warc_url") or meta.get("WARC-Target-URI") or meta.get("url")
    created = rec.get("created") or rec.get("date") or meta.get("warc_date") or meta.get("date_download")
    return (None if rid is None else str(rid)), (None if url is None else str(url)), parse_date(created)


def read_jsonl(uri: str) -> Iterator[Record]:
    name = uri.lower()
    compression = "gzip" if name.endswith(".gz") else "zstd" if name.endswith(".zst") else None
    if compression is None:
        with open_binary(uri) as f:
            magic = f.read(4)
        compression = "gzip" if magic[:2] == b"\x1f\x8b" else "zstd" if magic == b"\x28\xb5\x2f\xfd" else None
    line_no = -1
    try:
        with fsspec.open(uri, "rb", compression=compression) as f:
            for line_no, raw in enumerate(f):
                if not raw.strip():
                    yield Other("blank_line")
                    continue
                try:
                    rec = json.loads(raw)
                except UnicodeDecodeError as e:
                    yield Bad(line_no, "undecodable", f"line is not UTF-8: {e}")
                    continue
                except ValueError as e:
                    yield Bad(line_no, "bad_json", f"invalid JSON: {e}")
                    continue
                if not isinstance(rec, dict):
                    yield Bad(line_no, "bad_json", f"line is a JSON {type(rec).__name__}, not an object")
                    continue
                rid, url, created = _doc_fields(rec)
                text = rec.get("text")
                if not isinstance(text, str):
                    yield Bad(
                        line_no,
                        "missing_text",
                        "no `text` field" if text is None else f"`text` is a {type(text).__name__}",
                        rid,
                        url,
                    )
                    continue
                yield Content(
                    "jsonl", line_no, rid or f"line:{line_no}", url, created, "text/plain", "utf-8", None, text=text
                )
    except (OSError, EOFError, zlib.error) as e:
        msg = str(e) or type(e).__name__
        reason = "truncated_record" if isinstance(e, EOFError) or "end of stream" in msg.lower() else "corrupt_gzip"
        yield Bad(line_no + 1, reason, f"decompression failed after line {line_no}: {msg}; rest of file unreadable")


def read_parquet(uri: str, batch_rows: int = 1024) -> Iterator[Record]:
    import pyarrow.parquet as pq

    with open_binary(uri) as f:
        try:
            pf = pq.ParquetFile(f)
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError for a broken footer
            yield Bad(0, "corrupt_parquet", f"cannot open Parquet file: {e}")
            return
        names = set(pf.schema_arrow.names)
        wanted = [c for c in ("text", "id", "url", "created", "date", "metadata") if c in names]
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=wanted):
                for rec in batch.to_pylist():
                    rid, url, created = _doc_fields(rec)
                    text = rec.get("text")
                    if not isinstance(text, str):
                        yield Bad(
                            row,
                            "missing_text",
                            "no `text` column" if "text" not in names else "`text` is null",
                            rid,
                            url,
                        )
                    else:
                        yield Content(
                            "parquet", row, rid or f"row:{row}", url, created, "text/plain", "utf-8", None, text=text
                        )
                    row += 1
        except Exception as e:  # a corrupt row group: report the rest of the file
            total = pf.metadata.num_rows
            for r in range(row, total):
                yield Bad(r, "corrupt_parquet", f"row group unreadable: {e}")
