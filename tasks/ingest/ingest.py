"""One input file -> one shard of documents, quarantine and WAT metadata (pure function).

`ingest_shard` writes, under the source's docs folder:
  shard-NNNNN.parquet              documents (tasks.core.schema.DOCS), always written
  quarantine/shard-NNNNN.parquet   records that did not become documents (QUARANTINE)
  metadata/shard-NNNNN.parquet     WAT metadata rows (WAT_METADATA)
  _shards/shard-NNNNN.json         the done marker, with the shard's counts
Files are written to temporary names and renamed; the marker is written last, so a
killed run leaves no shard that looks finished and a rerun redoes only those.

Accounting per shard: records_read == docs_written + metadata_written + records_quarantined,
where a record is a WARC response / WET conversion / WAT JSON metadata record, a JSONL
line or a Parquet row (plus any gzip member too broken to tell its type). Other WARC
record types (warcinfo, request, ...) are counted in `other_records` by type. Documents
whose text came from a fallback extractor (a page too large, too deep or too slow for
the requested one, or with an empty main content: tasks.ingest.extract.FALLBACK_REASONS)
are written, and counted by reason in `fallback_by_reason`, as quarantined records are.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from tasks.core.schema import DOCS, QUARANTINE, WAT_METADATA
from tasks.core.workspace import dead_writer_temps, temp_sibling, write_json_atomic
from tasks.ingest.decode import Undecodable, decode_html
from tasks.ingest.extract import DEFAULT_EXTRACTOR, EXTRACTORS, extract_page
from tasks.ingest.host_lines import REPEAT_MIN_PAGES, HostPage, remove_repeated_lines
from tasks.ingest.langid import BACKENDS, DEFAULT_BACKEND, PREFIX_CHARS, identify
from tasks.ingest.readers import read_records
from tasks.ingest.records import Bad, Content, Metadata, Other, ReadOptions
from tasks.ingest.results import ShardCounts
from tasks.ingest.sources import InputFile

MARKER_DIR = "_shards"
_BATCH = 512
# Documents held for the cross-page repeated-line pass: the "batch" a host's template lines
# are counted in. Bounded, so a shard of any size is processed in constant memory.
REPEAT_WINDOW = 4096


@dataclass(frozen=True)
class IngestOptions:
    extractor: str = DEFAULT_EXTRACTOR
    max_payload_bytes: int = 10_000_000  # larger HTTP payloads are quarantined
    max_text_chars: int = 1_000_000  # longer texts are cut (text_truncated = true)
    langid: str = DEFAULT_BACKEND  # lid176 (the anchors' fastText model) or py3langid
    langid_prefix_chars: int = PREFIX_CHARS  # py3langid only
    html_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    # The default extractor's cross-page pass: drop lines a host repeats at the edges of
    # most of its pages in a window of the shard (tasks.ingest.host_lines.remove_repeated_lines).
    # 0 turns it off.
    host_repeat_min_pages: int = REPEAT_MIN_PAGES

    def __post_init__(self):
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"unknown extractor {self.extractor!r}; choose from {', '.join(EXTRACTORS)}")
        if self.langid not in BACKENDS:
            raise ValueError(f"unknown language identifier {self.langid!r}; choose from {', '.join(BACKENDS)}")
        if self.host_repeat_min_pages == 1 or self.host_repeat_min_pages < 0:
            raise ValueError(f"host_repeat_min_pages must be 0 (off) or >= 2, got {self.host_repeat_min_pages}")

    def key(self) -> dict[str, Any]:
        """What changes the output (part of the source key)."""
        return asdict(self)

    @classmethod
    def of(cls, value: IngestOptions | dict | None) -> IngestOptions:
        if isinstance(value, IngestOptions):
            return value
        value = dict(value or {})
        if "html_types" in value:
            value["html_types"] = tuple(value["html_types"])
        return cls(**value)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def doc_id(source_name: str, record_id: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"{source_name}\x00{record_id}".encode())


def _domain(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None


def shard_done(out_dir: Path, index: int, identity: str) -> dict | None:
    """The counts of a finished shard for this input, or None if it must be (re)done."""
    marker = Path(out_dir) / MARKER_DIR / shard_name(index).replace(".parquet", ".json")
    if not marker.exists():
        return None
    info = json.loads(marker.read_text())
    if info.get("input_identity") != identity or not (Path(out_dir) / shard_name(index)).exists():
        return None
    return info


class _ShardWriter:
    """Buffered Parquet writer into a temporary file, published by `commit()`."""

    def __init__(self, path: Path, schema: pa.Schema, always: bool):
        self.path, self.schema, self.always = path, schema, always
        self.tmp = temp_sibling(path)
        self.rows: list[dict] = []
        self.writer: pq.ParquetWriter | None = None
        self.count = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def commit(self) -> None:
        if self.count or self.always:
            self._flush()
            assert self.writer is not None  # _flush opened it
            self.writer.close()
            os.replace(self.tmp, self.path)
        elif self.path.exists():  # a stale file from an earlier, different attempt
            self.path.unlink()

    def abort(self) -> None:
        """Drop the temp file. Never raises: a close that fails (the disk is full) must
        not keep the temp file or stop the other writers' aborts."""
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)


class _Shard:
    """One shard being written: its three writers (documents, quarantine, WAT metadata)
    and the tallies its counts are made of."""

    def __init__(self, out_dir: Path, name: str, f: InputFile, opts: IngestOptions):
        self.f, self.opts, self.name = f, opts, name
        self.docs = _ShardWriter(out_dir / name, DOCS, always=True)
        self.quarantine = _ShardWriter(out_dir / "quarantine" / name, QUARANTINE, always=False)
        self.metadata = _ShardWriter(out_dir / "metadata" / name, WAT_METADATA, always=False)
        self.reasons: Counter = Counter()
        self.fallbacks: Counter = Counter()  # documents kept, but not from the requested extractor
        self.other: Counter = Counter()
        self.languages: Counter = Counter()
        self.formats: Counter = Counter()
        self.read = self.truncated = self.payload_bytes = self.text_chars = 0
        self.pending: list[dict] = []  # documents waiting for the cross-page pass

    def reject(self, offset, record_id, url, reason, detail) -> None:
        self.reasons[reason] += 1
        self.quarantine.add(
            {
                "source_file": self.f.uri,
                "record_offset": offset,
                "record_id": record_id,
                "url": url,
                "reason": reason,
                "detail": " ".join(str(detail).split())[:500],
            }
        )

    def keep(self, row: dict) -> None:
        self.truncated += row["text_truncated"]
        self.payload_bytes += row["n_bytes"]
        self.text_chars += row["n_chars"]
        self.languages[row["language"]] += 1
        self.formats[row["format"]] += 1
        self.docs.add(row)

    def flush_pending(self) -> None:
        """Cross-page pass over the held documents (only pages the default extractor made), then write them."""
        if not self.pending:
            return
        opts = self.opts
        pages = [HostPage(r["domain"] if r["extractor"] == "resiliparse" else None, r["text"]) for r in self.pending]
        for row, text in zip(self.pending, remove_repeated_lines(pages, opts.host_repeat_min_pages)):
            if text != row["text"]:
                if not text:
                    self.reject(
                        row["record_offset"],
                        row["record_id"],
                        row["url"],
                        "empty_text",
                        "nothing left after removing the lines its host repeats on most pages",
                    )
                    continue
                language, score = identify(text, opts.langid_prefix_chars, opts.langid)
                row = {**row, "text": text, "n_chars": len(text), "language": language, "language_score": score}
            self.keep(row)
        self.pending.clear()

    def add(self, rec, source_name: str) -> None:
        """One record of the input: a document kept (or held for the cross-page pass),
        quarantined with its reason, WAT metadata, or another record type counted."""
        if isinstance(rec, Other):
            self.other[rec.record_type] += 1
            return
        self.read += 1
        if isinstance(rec, Bad):
            self.reject(rec.offset, rec.record_id, rec.url, rec.reason, rec.detail)
            return
        if isinstance(rec, Metadata):
            self.metadata.add({**rec.row, "source_file": self.f.uri})
            self.formats["wat"] += 1
            return
        row = _document(rec, self.opts, source_name, self.f.uri)
        if isinstance(row, tuple):
            self.reject(rec.offset, rec.record_id, rec.url, *row)
            return
        fallback = row.pop("_fallback", None)
        if fallback:
            self.fallbacks[fallback] += 1
        if self.opts.host_repeat_min_pages:
            self.pending.append(row)
            if len(self.pending) >= REPEAT_WINDOW:
                self.flush_pending()
        else:
            self.keep(row)

    def commit(self) -> None:
        self.flush_pending()
        self.docs.commit()
        self.quarantine.commit()
        self.metadata.commit()

    def abort(self) -> None:
        for w in (self.docs, self.quarantine, self.metadata):
            w.abort()

    def counts(self, seconds: float) -> dict[str, Any]:
        f = self.f
        return {
            "shard": self.name,
            "input": f.uri,
            "input_identity": f.identity,
            "bytes_read": f.size,
            "records_read": self.read,
            "docs_written": self.docs.count,
            "metadata_written": self.metadata.count,
            "records_quarantined": self.quarantine.count,
            "quarantine_by_reason": dict(sorted(self.reasons.items())),
            "fallback_by_reason": dict(sorted(self.fallbacks.items())),
            "other_records": dict(sorted(self.other.items())),
            "formats": dict(sorted(self.formats.items())),
            "languages": dict(self.languages.most_common()),
            "text_truncated": self.truncated,
            "payload_bytes": self.payload_bytes,
            "text_chars": self.text_chars,
            "seconds": round(seconds, 3),
        }


def ingest_shard(
    input_file: InputFile | dict,
    out_dir: str | Path,
    shard_index: int,
    options: IngestOptions | dict | None = None,
    source_name: str = "",
) -> ShardCounts:
    """Ingest one input file into shard `shard_index` of `out_dir`; returns its counts.

    A shard already finished for the same input is not redone (its marker's counts are
    returned, `cached` true).
    """
    f = input_file if isinstance(input_file, InputFile) else InputFile(**input_file)
    opts = IngestOptions.of(options)
    out_dir = Path(out_dir)
    done = shard_done(out_dir, shard_index, f.identity)
    if done is not None:
        return ShardCounts(done, cached=True)

    t0 = time.time()
    name = shard_name(shard_index)
    shard = _Shard(out_dir, name, f, opts)
    try:
        for rec in read_records(f.uri, ReadOptions(max_payload_bytes=opts.max_payload_bytes)):
            shard.add(rec, source_name)
        shard.commit()
    except BaseException:
        shard.abort()
        raise

    counts = shard.counts(time.time() - t0)
    if shard.read != shard.docs.count + shard.metadata.count + shard.quarantine.count:  # a bug, never bad data
        raise AssertionError(f"accounting does not balance for {f.uri}: {counts}")
    write_json_atomic(out_dir / MARKER_DIR / name.replace(".parquet", ".json"), counts)
    return ShardCounts(counts, cached=False)


def _document(rec: Content, opts: IngestOptions, source_name: str, source_file: str) -> dict | tuple[str, str]:
    """A DOCS row for a content record, or (reason, detail) why it is quarantined."""
    encoding, extractor, fallback = "utf-8", "none", None
    if rec.payload is not None:
        if rec.http_status is not None and not 200 <= rec.http_status < 300:
            return "http_error", f"HTTP status {rec.http_status}"
        ctype = (rec.content_type or "").lower()
        if ctype and ctype not in opts.html_types:
            return "non_html", f"content type {ctype}"
        if not ctype and not rec.payload[:1024].lstrip().startswith(b"<"):
            return "non_html", "no content type and the payload does not look like HTML"
        try:
            decoded = decode_html(rec.payload, rec.charset)
        except Undecodable as e:
            return "undecodable", str(e)
        encoding = decoded.encoding
        try:
            got = extract_page(decoded.text, opts.extractor)
            text, extractor, fallback = got.text, got.extractor, got.fallback
        except Exception as e:  # an extractor bug on one page must not stop the shard
            return "extraction_failed", f"{opts.extractor}: {type(e).__name__}: {e}"
        n_bytes = len(rec.payload)
    else:
        text = rec.text or ""
        n_bytes = len(text.encode("utf-8", "surrogatepass"))
        if n_bytes > opts.max_payload_bytes:
            return "oversized_payload", f"text of {n_bytes:,} bytes exceeds the {opts.max_payload_bytes:,}-byte cap"
    if not text.strip():
        return "empty_text", ("extraction found no text" if rec.payload is not None else "text is empty")
    cut = len(text) > opts.max_text_chars
    if cut:
        text = text[: opts.max_text_chars]
    language, score = identify(text, opts.langid_prefix_chars, opts.langid)
    return {
        "doc_id": doc_id(source_name, rec.record_id),
        "source": source_name,
        "url": rec.url,
        "domain": _domain(rec.url),
        "text": text,
        "language": language,
        "language_score": score,
        "crawl_date": rec.date,
        "content_type": rec.content_type,
        "encoding": encoding,
        "n_bytes": n_bytes,
        "n_chars": len(text),
        "text_truncated": cut,
        "source_file": source_file,
        "record_id": rec.record_id,
        "record_offset": rec.offset,
        "format": rec.format,
        "extractor": extractor,
        "_fallback": fallback,  # counted by the caller, not a DOCS column
    }


def merge_counts(shards: list[dict]) -> dict[str, Any]:
    """Totals over shard counts (for the catalog, the artifact and `_SUCCESS`)."""
    total: dict[str, Any] = {
        k: 0
        for k in (
            "records_read",
            "docs_written",
            "metadata_written",
            "records_quarantined",
            "bytes_read",
            "payload_bytes",
            "text_chars",
            "text_truncated",
        )
    }
    for key in ("quarantine_by_reason", "fallback_by_reason", "other_records", "formats", "languages"):
        c: Counter = Counter()
        for s in shards:
            c.update(s.get(key) or {})
        total[key] = dict(c.most_common()) if key == "languages" else dict(sorted(c.items()))
    for s in shards:
        for k in list(total):
            if not isinstance(total[k], dict):
                total[k] += s.get(k, 0)
    total["shards_cached"] = sum(bool(s.get("cached")) for s in shards)
    total["balanced"] = total["records_read"] == (
        total["docs_written"] + total["metadata_written"] + total["records_quarantined"]
    )
    return total


def finish_source(workspace, key: str, name: str, shards_done: list[ShardCounts], uris: list[str]) -> dict[str, Any]:
    """Write the docs folder's `_SUCCESS` (last): name, docs_hash, shard files, counts."""
    from tasks.core.docsref import docs_hash_of

    # Temp files of writers that were killed (a lost Dask worker, a killed run). Only
    # provably dead writers' (this host, pid gone): a live one may be another run's.
    for stale in dead_writer_temps(workspace.stage_dir("docs", key), ".shard-*.tmp"):
        stale.unlink(missing_ok=True)

    out_dir = workspace.stage_dir("docs", key)
    shard_counts = [s.to_dict() for s in shards_done]
    shards = sorted(s["shard"] for s in shard_counts)
    info: dict[str, Any] = {
        "name": name,
        "source_key": key,
        "docs_hash": docs_hash_of([out_dir / s for s in shards]),
        "shards": shards,
        "inputs": uris,
        "counts": merge_counts(shard_counts),
        "per_shard": {
            s["shard"]: {
                k: s[k] for k in ("input", "records_read", "docs_written", "metadata_written", "records_quarantined")
            }
            for s in shard_counts
        },
    }
    info["shards_reused"] = info["counts"].pop("shards_cached", 0)  # finished by an earlier, killed run
    workspace.mark_done("docs", key, info)
    return info
