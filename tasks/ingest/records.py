"""What the ingest readers yield: one record type per outcome (`Content`, `Metadata`,
`Bad`, `Other`), the read options, and the file opener and date parsing the readers share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import fsspec


@dataclass
class Content:
    format: str  # warc | wet | jsonl | parquet
    offset: int
    record_id: str
    url: str | None = None
    date: datetime | None = None
    content_type: str | None = None
    charset: str | None = None
    http_status: int | None = None
    payload: bytes | None = None  # raw HTML bytes (WARC responses)
    text: str | None = None  # ready text (WET, JSONL, Parquet)


@dataclass
class Metadata:
    row: dict[str, Any]


@dataclass
class Bad:
    offset: int
    reason: str
    detail: str
    record_id: str | None = None
    url: str | None = None


@dataclass
class Other:
    record_type: str


Record = Content | Metadata | Bad | Other


@dataclass(frozen=True)
class ReadOptions:
    max_payload_bytes: int = 10_000_000


def open_binary(uri: str) -> BinaryIO:
    """A seekable binary file object for a local path or an fsspec URL."""
    if "://" not in uri:
        return open(uri, "rb", buffering=1 << 20)
    return fsspec.open(uri, "rb", compression=None).open()


def parse_date(value: Any) -> datetime | None:
    """A record's date (ISO text, RFC 2822, epoch seconds or milliseconds) in UTC; None if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    s = str(value).strip().replace("Z", "+00:00")
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            d = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)
