"""The WARC/WET/WAT reader (fastwarc). A corrupt gzip member stops fastwarc's iterator, so
the reader finds where that member starts, reports it, and restarts at the next member
that decompresses (WARC files are one gzip member per record)."""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

from tasks.ingest.records import Bad, Content, Metadata, Other, ReadOptions, Record, open_binary, parse_date


def _gzip_member(f: BinaryIO, start: int, head_bytes: int = 4096) -> tuple[int | None, bytes, str | None]:
    """(end offset or None, first decompressed bytes, error) of the gzip member at `start`."""
    f.seek(start)
    d = zlib.decompressobj(31)
    head = bytearray()
    pos = start
    while True:
        chunk = f.read(1 << 16)
        if not chunk:
            return None, bytes(head), "file ends inside the gzip member"
        try:
            out = d.decompress(chunk)
        except zlib.error as e:
            return None, _readable_prefix(f, start, head_bytes), str(e)
        if len(head) < head_bytes:
            head += out[: head_bytes - len(head)]
        if d.eof:
            return pos + len(chunk) - len(d.unused_data), bytes(head), None
        pos += len(chunk)


def _readable_prefix(f: BinaryIO, start: int, head_bytes: int) -> bytes:
    """What decompresses cleanly at the start of a broken member (usually its WARC headers)."""
    f.seek(start)
    d, out = zlib.decompressobj(31), bytearray()
    data = f.read(1 << 16)
    try:
        for i in range(0, len(data), 64):
            out += d.decompress(data[i : i + 64])
            if len(out) >= head_bytes:
                break
    except zlib.error:
        pass
    return bytes(out[:head_bytes])


def _next_member(f: BinaryIO, after: int) -> int | None:
    """Offset of the next gzip member after `after` whose start decompresses to a WARC header."""
    pos = after
    carry = b""
    f.seek(pos)
    while True:
        block = f.read(1 << 20)
        if not block:
            return None
        data = carry + block
        base = pos - len(carry)
        i = data.find(b"\x1f\x8b\x08")
        while i >= 0:
            cand = base + i
            f.seek(cand)
            try:
                out = zlib.decompressobj(31).decompress(f.read(4096), 16)
            except zlib.error:
                out = b""
            if out.startswith(b"WARC/"):
                return cand
            i = data.find(b"\x1f\x8b\x08", i + 1)
        pos += len(block)
        carry = data[-2:]
        f.seek(pos)


_HDR = re.compile(rb"^(WARC-Type|WARC-Record-ID|WARC-Target-URI):\s*(.*?)\s*$", re.M | re.I)


_SANE = re.compile(r"^[\x21-\x7e]+$")


def _header_fields(head: bytes) -> dict[str, str]:
    """WARC header fields readable in a broken member's prefix (garbled values dropped)."""
    out = {}
    for k, v in _HDR.findall(head.split(b"\r\n\r\n")[0]):
        value = v.decode("ascii", "replace")
        if _SANE.match(value) and (k.lower() != b"warc-record-id" or value.endswith(">")):
            out[k.decode().lower()] = value
    return out


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP chunked transfer encoding (wget WARCs keep it); raw body if malformed."""
    out, i = bytearray(), 0
    while True:
        j = body.find(b"\r\n", i)
        if j < 0:
            return body
        try:
            size = int(body[i:j].split(b";")[0].strip() or b"x", 16)
        except ValueError:
            return body
        if size == 0:
            return bytes(out)
        out += body[j + 2 : j + 2 + size]
        i = j + 2 + size + 2


class _Oversized(ValueError):
    """A payload that decompresses to more than the cap (stopped there)."""


def _inflate(body: bytes, wbits: int, cap: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(body, cap + 1)
    if len(out) > cap:
        raise _Oversized
    if not d.eof:  # as zlib.decompress: a stream cut short is an error
        raise zlib.error("incomplete or truncated stream")
    return out


def _content_decode(body: bytes, encoding: str | None, cap: int) -> bytes:
    """Undo a Content-Encoding, never producing more than `cap` bytes: a few MB of gzip can
    inflate to gigabytes (a decompression bomb), which would stall the worker or kill it."""
    enc = (encoding or "").lower().strip()
    if enc in ("gzip", "x-gzip"):
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as g:  # all members, CRC checked, as gzip.decompress
            out = g.read(cap + 1)
        if len(out) > cap:
            raise _Oversized
        return out
    if enc == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, cap)
        except zlib.error:
            return _inflate(body, -15, cap)
    if enc == "br":
        import brotli  # optional; a payload we cannot decode is quarantined by the caller

        d = brotli.Decompressor()
        try:
            out = d.process(body, output_buffer_limit=cap + 1)
        except brotli.error as e:  # not an OSError: reported as a bad payload like the others
            raise OSError(f"brotli: {e}") from e
        if len(out) > cap:
            raise _Oversized
        if not d.is_finished():
            raise OSError("brotli: truncated stream")
        return out
    return body


def _target_uri(value: str | None) -> str | None:
    """WARC-Target-URI without the <...> some writers (wget, WARC/1.0 drafts) put around it."""
    if value is None:
        return None
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def _read_capped(rec, pos: int, rid: str, url: str | None, what: str, options) -> bytes | Bad:
    """A record's body, or why not: over the size cap (not read at all), or shorter than
    its declared Content-Length (a truncated file)."""
    declared = rec.content_length
    if declared > options.max_payload_bytes:
        return Bad(
            pos,
            "oversized_payload",
            f"{what} of {declared:,} bytes exceeds the {options.max_payload_bytes:,}-byte cap",
            rid,
            url,
        )
    body = rec.reader.read()
    if len(body) < declared:
        return Bad(pos, "truncated_record", f"{what} has {len(body):,} of {declared:,} declared bytes", rid, url)
    return body


def _warc_record(rec, pos: int, options: ReadOptions, fastwarc) -> Record:
    rtype = rec.record_type
    WT = fastwarc.WarcRecordType
    rid = rec.record_id or f"offset:{pos}"
    url = _target_uri(rec.headers.get("WARC-Target-URI"))
    if rtype == WT.response:
        if not rec.is_http:
            return Bad(pos, "non_html", f"response record is not HTTP ({rec.headers.get('Content-Type')})", rid, url)
        try:
            rec.parse_http(auto_decode="none")
        except OSError as e:
            return Bad(pos, "bad_http", f"unparseable HTTP headers: {e}", rid, url)
        body = _read_capped(rec, pos, rid, url, "payload", options)
        if isinstance(body, Bad):
            return body
        h = rec.http_headers
        try:
            if (h.get("Transfer-Encoding") or "").lower() == "chunked":
                body = _dechunk(body)
            body = _content_decode(body, h.get("Content-Encoding"), options.max_payload_bytes)
        except _Oversized:
            return Bad(
                pos,
                "oversized_payload",
                f"decoded payload exceeds the {options.max_payload_bytes:,}-byte cap "
                f"(Content-Encoding {h.get('Content-Encoding')}, {len(body):,} bytes encoded)",
                rid,
                url,
            )
        except (OSError, EOFError, zlib.error, ImportError) as e:
            return Bad(
                pos, "bad_http_payload", f"cannot undo Content-Encoding {h.get('Content-Encoding')}: {e}", rid, url
            )
        if len(body) > options.max_payload_bytes:
            return Bad(
                pos,
                "oversized_payload",
                f"decoded payload of {len(body):,} bytes exceeds the {options.max_payload_bytes:,}-byte cap",
                rid,
                url,
            )
        return Content(
            "warc", pos, rid, url, rec.record_date, rec.http_content_type, rec.http_charset, h.status_code, payload=body
        )
    if rtype == WT.conversion:
        body = _read_capped(rec, pos, rid, url, "text", options)
        if isinstance(body, Bad):
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            return Bad(pos, "undecodable", f"WET text is not UTF-8: {e}", rid, url)
        return Content("wet", pos, rid, url, rec.record_date, "text/plain", "utf-8", None, text=text)
    if rtype == WT.metadata and (rec.headers.get("Content-Type") or "").startswith("application/json"):
        declared = rec.content_length
        body = rec.reader.read()
        if len(body) < declared:
            return Bad(pos, "truncated_record", f"record has {len(body):,} of {declared:,} declared bytes", rid, url)
        try:
            return Metadata(_wat_row(json.loads(body), pos, rid, url, rec.record_date))
        except (ValueError, TypeError, AttributeError) as e:
            return Bad(pos, "bad_json", f"WAT metadata is not a WAT JSON envelope: {e}", rid, url)
    return Other(str(rtype))


def _wat_row(j: dict, pos: int, rid: str, url: str | None, date: datetime | None) -> dict[str, Any]:
    env = j["Envelope"]
    hm = env.get("WARC-Header-Metadata") or {}
    pm = env.get("Payload-Metadata") or {}
    resp = pm.get("HTTP-Response-Metadata") or {}
    req = pm.get("HTTP-Request-Metadata") or {}
    status = (resp.get("Response-Message") or {}).get("Status")
    html = resp.get("HTML-Metadata") or {}
    links = [l.get("url") or l.get("href") or "" for l in html.get("Links") or [] if isinstance(l, dict)]
    return {
        "record_offset": pos,
        "record_id": rid,
        "url": hm.get("WARC-Target-URI") or url,
        "crawl_date": parse_date(hm.get("WARC-Date")) or date,
        "http_status": int(str(status)) if str(status or "").isdigit() else None,
        "http_headers": json.dumps(resp.get("Headers") or req.get("Headers") or {}, ensure_ascii=False),
        "html_title": (html.get("Head") or {}).get("Title"),
        "n_links": len(links),
        "links": links,
    }


def read_warc(uri: str, options: ReadOptions = ReadOptions()) -> Iterator[Record]:
    import fastwarc.warc as fw

    with open_binary(uri) as f:
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0, io.SEEK_END)
        size = f.tell()
        start = 0
        while True:
            f.seek(start)
            last: int | None = None  # offset of the last record taken from this iterator
            in_record = False
            try:
                for rec in fw.ArchiveIterator(
                    f, record_types=fw.WarcRecordType.any_type, parse_http=False, verify_digests=False
                ):
                    pos = rec.stream_pos if rec.stream_pos >= start else start + rec.stream_pos
                    last, in_record = pos, True
                    out = _warc_record(rec, pos, options, fw)
                    in_record = False
                    yield out
            except OSError as e:
                error = str(e)
            else:
                # fastwarc stops quietly at a member cut short or at bytes it cannot parse.
                if gz:
                    tail = start if last is None else _gzip_member(f, last)[0]
                    if tail is not None and tail < size:
                        _, head, err = _gzip_member(f, tail)
                        h = _header_fields(head)
                        yield Bad(
                            tail,
                            "truncated_record",
                            f"{size - tail:,} bytes at the end are not a complete WARC record"
                            f"{' (' + err + ')' if err else ''}",
                            h.get("warc-record-id"),
                            h.get("warc-target-uri"),
                        )
                return
            if not gz:
                yield Bad(
                    last if last is not None else start,
                    "corrupt_record",
                    f"WARC parsing stopped: {error}; the rest of this uncompressed file is unreadable",
                )
                return
            if in_record:
                assert last is not None  # set together with in_record
                bad_start = last
            else:
                bad_start = start if last is None else (_gzip_member(f, last)[0] or last)
            end, head, err = _gzip_member(f, bad_start)
            h = _header_fields(head)
            if end is None:
                reason = "truncated_record" if err == "file ends inside the gzip member" else "corrupt_gzip"
                yield Bad(bad_start, reason, f"{error}: {err}", h.get("warc-record-id"), h.get("warc-target-uri"))
                nxt = _next_member(f, bad_start + 1)
            else:  # the member itself is fine: the record inside it is malformed
                yield Bad(
                    bad_start,
                    "corrupt_record",
                    f"unreadable WARC record: {error}",
                    h.get("warc-record-id"),
                    h.get("warc-target-uri"),
                )
                nxt = end if end < size else None
            if nxt is None:
                return
            start = nxt
