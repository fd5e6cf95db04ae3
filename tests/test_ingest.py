"""Ingestion: sources, every format, every kind of bad input, accounting, resume.

Bad inputs are made from the real files in ../shared/data/crawl inside each test
(truncated, corrupted, re-encoded copies); nothing synthetic stands in for a page.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
import threading
import zlib
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.ingest.ingest import IngestOptions, finish_source, ingest_shard, merge_counts, shard_done
from tasks.ingest.readers import detect_format, read_records
from tasks.ingest.sources import SourceError, describe, resolve_sources, source_key
from tests.conftest import CRAWL

BIG = CRAWL / "webpages-trafilatura-aeb.warc.gz"
WGET0 = CRAWL / "wget-sample-0000.warc.gz"
WGET1 = CRAWL / "wget-sample-0001.warc.gz"
CC = CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz"
# Real pages inside the big WARC (record offsets): a German and a Russian article.
ZEIT_OFFSET = 0  # www.zeit.de, UTF-8 with <meta charset="utf-8">
RUSSIAN_OFFSET = 34068541  # gto-normativy.ru, UTF-8 Cyrillic
NO_MAIN_CONTENT_OFFSET = 3386492  # automobilwoche.de: resiliparse's main-content finds nothing


# ----------------------------------------------------------------------------- helpers


def real_page(offset: int) -> tuple[str, bytes]:
    """(url, HTML bytes) of the response record at `offset` in the big WARC."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(BIG, "rb") as f:
        f.seek(offset)
        rec = next(iter(ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True)))
        return rec.headers.get("WARC-Target-URI"), rec.reader.read()


def response_member(
    url: str,
    body: bytes,
    content_type: str | None = "text/html",
    status: int = 200,
    n: int = 0,
    encoding: str | None = None,
) -> bytes:
    """One gzip member holding a WARC response record (how crawlers write them);
    `encoding` names the body's HTTP Content-Encoding."""
    head = f"HTTP/1.1 {status} X\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    head += f"Content-Encoding: {encoding}\r\n" if encoding else ""
    http = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    warc = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-05-18T01:58:10Z\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
    ).encode()
    return gzip.compress(warc + http + b"\r\n\r\n")


def members(path: Path) -> list[int]:
    """Start offsets of the records (= gzip members) of a WARC file."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as f:
        return [r.stream_pos for r in ArchiveIterator(f, record_types=WarcRecordType.any_type)]


def ingest(path: Path, tmp_path: Path, **opts) -> tuple[dict, list[dict], list[dict]]:
    """Ingest one file; (counts, docs rows, quarantine rows)."""
    out = tmp_path / "docs"
    counts = ingest_shard(describe(str(path)), out, 0, IngestOptions(**opts), "test").to_dict()
    docs = pq.read_table(out / "shard-00000.parquet").to_pylist()
    qpath = out / "quarantine" / "shard-00000.parquet"
    quarantine = pq.read_table(qpath).to_pylist() if qpath.exists() else []
    assert counts["records_read"] == counts["docs_written"] + counts["metadata_written"] + counts["records_quarantined"]
    assert len(docs) == counts["docs_written"] and len(quarantine) == counts["records_quarantined"]
    return counts, docs, quarantine


# ----------------------------------------------------------------------------- sources


def test_sources_glob_dir_url_manifest_and_key(tmp_path):
    a = tmp_path / "in" / "a.warc.gz"
    a.parent.mkdir()
    shutil.copy(WGET0, a)
    shutil.copy(WGET1, tmp_path / "in" / "b.warc.gz")
    by_glob = resolve_sources([str(tmp_path / "in" / "*.warc.gz")])
    by_dir = resolve_sources([str(tmp_path / "in")])
    by_url = resolve_sources([f"file://{a}", str(tmp_path / "in" / "b.warc.gz")])
    assert [f.identity for f in by_glob] == [f.identity for f in by_dir] == [f.identity for f in by_url]
    assert len(by_glob) == 2
    # Same content elsewhere -> same key; options and content change it.
    elsewhere = tmp_path / "moved.warc.gz"
    shutil.copy(WGET0, elsewhere)
    one = resolve_sources([str(a)])
    assert source_key(one, {"x": 1}) == source_key(resolve_sources([str(elsewhere)]), {"x": 1})
    assert source_key(one, {"x": 1}) != source_key(one, {"x": 2})
    elsewhere.write_bytes(elsewhere.read_bytes()[:-10])
    assert source_key(one, {"x": 1}) != source_key(resolve_sources([str(elsewhere)]), {"x": 1})
    # Common Crawl style manifest (gzipped), relative paths against a base URL.
    manifest = tmp_path / "warc.paths.gz"
    manifest.write_bytes(gzip.compress(b"in/a.warc.gz\nin/b.warc.gz\n"))
    from_manifest = resolve_sources([str(manifest)], base_url=f"file://{tmp_path}/")
    assert [f.identity for f in from_manifest] == [f.identity for f in by_glob]
    plain = tmp_path / "list.txt"
    plain.write_text(f"{a}\n")
    assert [f.identity for f in resolve_sources([str(plain)])] == [one[0].identity]
    with pytest.raises(SourceError, match="matches no files"):
        resolve_sources([str(tmp_path / "nothing-*.warc.gz")])
    with pytest.raises(SourceError, match="not a readable file"):
        resolve_sources([str(tmp_path / "missing.warc.gz")])


def test_http_source_is_read_remotely(tmp_path):
    shutil.copy(WGET1, tmp_path / "w.warc.gz")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/w.warc.gz"
        (f,) = resolve_sources([url])
        assert f.uri == url and f.size == WGET1.stat().st_size
        counts = ingest_shard(f, tmp_path / "docs", 0, None, "web").to_dict()
        assert counts["docs_written"] == 15 and counts["records_read"] == 15
    finally:
        server.shutdown()


# ----------------------------------------------------------------------------- formats


def test_warc_responses_become_documents_with_provenance(tmp_path):
    counts, docs, quarantine = ingest(WGET1, tmp_path)
    assert counts["records_read"] == 15 and counts["docs_written"] == 15 and not quarantine
    assert counts["other_records"] == {"metadata": 1, "request": 15, "resource": 2, "warcinfo": 1}
    d = docs[0]
    assert d["format"] == "warc" and d["extractor"] == "resiliparse" and d["language"] == "en"
    assert 0 < d["language_score"] <= 1 and d["url"].startswith("http") and d["domain"]
    assert d["record_id"].startswith("<urn:uuid:") and d["crawl_date"] is not None
    assert d["n_chars"] == len(d["text"]) > 100 and d["n_bytes"] > d["n_chars"]
    assert len({r["doc_id"] for r in docs}) == 15
    # The offset points at the record: reading there gives the same record id.
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(WGET1, "rb") as f:
        f.seek(d["record_offset"])
        assert next(iter(ArchiveIterator(f, record_types=WarcRecordType.any_type))).record_id == d["record_id"]
    # Chunked transfer encoding (wget keeps it) is undone before extraction.
    assert not any(re.match(r"^[0-9a-f]{2,6}\r?$", r["text"].split("\n")[0]) for r in docs)


def test_wet_and_wat(tmp_path):
    counts, docs, _ = ingest(CRAWL / "whirlwind.warc.wet.gz", tmp_path / "wet")
    assert counts["docs_written"] == 1 and docs[0]["format"] == "wet" and docs[0]["extractor"] == "none"
    assert docs[0]["text"].startswith("Escopete") and docs[0]["url"] == "https://an.wikipedia.org/wiki/Escopete"
    counts, docs, _ = ingest(CRAWL / "whirlwind.warc.wat.gz", tmp_path / "wat")
    assert counts["metadata_written"] == 1 and counts["docs_written"] == 0
    meta = pq.read_table(tmp_path / "wat" / "docs" / "metadata" / "shard-00000.parquet").to_pylist()[0]
    assert meta["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert json.loads(meta["http_headers"])["Host"] == "an.wikipedia.org"
    # A response WAT envelope (made from the real one) yields title, status and links.
    wat = gzip.decompress((CRAWL / "whirlwind.warc.wat.gz").read_bytes())
    head, _, rest = wat.partition(b"WARC-Type: metadata")
    block = json.loads(rest.split(b"\r\n\r\n", 1)[1].split(b"\r\n\r\n")[0])
    block["Envelope"]["Payload-Metadata"]["HTTP-Response-Metadata"] = {
        "Response-Message": {"Status": "200"},
        "Headers": {"Content-Type": "text/html"},
        "HTML-Metadata": {
            "Head": {"Title": "Escopete"},
            "Links": [{"url": "https://an.wikipedia.org/"}, {"url": "/wiki/Arma"}],
        },
    }
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with gzip.open(CRAWL / "whirlwind.warc.wat.gz") as f:
        rec = [r for r in ArchiveIterator(f, record_types=WarcRecordType.metadata)][0]
    from tasks.ingest.warc import _wat_row

    row = _wat_row(block, 0, rec.record_id, None, None)
    assert row["html_title"] == "Escopete" and row["http_status"] == 200 and row["n_links"] == 2


def test_jsonl_and_parquet_and_sniffing(tmp_path):
    lines = gzip.decompress(CC.read_bytes()).splitlines()[:40]
    sl = tmp_path / "cc.jsonl.gz"
    sl.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    counts, docs, quarantine = ingest(sl, tmp_path / "j")
    first = json.loads(lines[0])
    assert counts["records_read"] == 40 and docs[0]["record_id"] == first["id"]
    assert docs[0]["url"] == first["metadata"]["warc_url"] and docs[0]["crawl_date"] is not None
    assert docs[0]["text"] == first["text"] and docs[0]["format"] == "jsonl"
    assert all(q["reason"] == "empty_text" for q in quarantine)
    # Parquet with a `text` column (RedPajama style: id, url, text).
    rows = [json.loads(x) for x in lines]
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "url": [r["metadata"]["warc_url"] for r in rows],
            "text": [r["text"] for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "cc.parquet")
    pcounts, pdocs, _ = ingest(tmp_path / "cc.parquet", tmp_path / "p")
    assert pcounts["docs_written"] == counts["docs_written"] and pdocs[0]["format"] == "parquet"
    assert [d["doc_id"] for d in pdocs] == [d["doc_id"] for d in docs]  # same source name + ids
    # Content sniffing when the name says nothing.
    shutil.copy(WGET1, tmp_path / "crawl.bin")
    shutil.copy(sl, tmp_path / "dump.data")
    shutil.copy(tmp_path / "cc.parquet", tmp_path / "table.bin")
    assert detect_format(str(tmp_path / "crawl.bin")) == "warc"
    assert detect_format(str(tmp_path / "dump.data")) == "jsonl"
    assert detect_format(str(tmp_path / "table.bin")) == "parquet"
    (tmp_path / "notes.bin").write_bytes(b"just some words\n")
    assert [r.reason for r in read_records(str(tmp_path / "notes.bin"))] == ["unknown_format"]


# ----------------------------------------------------------------------------- bad input


def test_truncated_warc_mid_record(tmp_path):
    starts = members(WGET0)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(WGET0.read_bytes()[: starts[6] + 3000])  # inside the 3rd response
    counts, docs, quarantine = ingest(cut, tmp_path / "gz")
    assert counts["docs_written"] == 2
    assert [(q["reason"], q["record_offset"]) for q in quarantine] == [("truncated_record", starts[6])]
    assert "declared bytes" in quarantine[0]["detail"] and quarantine[0]["url"]
    # Uncompressed WARC cut in the middle.
    raw = gzip.decompress(WGET0.read_bytes())
    plain = tmp_path / "cut.warc"
    plain.write_bytes(raw[: len(raw) // 2])
    counts, docs, quarantine = ingest(plain, tmp_path / "raw")
    assert counts["docs_written"] >= 5 and [q["reason"] for q in quarantine] == ["truncated_record"]
    # Cut inside the WARC headers of the next record: fastwarc stops quietly; we report the tail.
    head_cut = tmp_path / "headcut.warc.gz"
    head_cut.write_bytes(WGET0.read_bytes()[: starts[7] + 20])
    counts, _, quarantine = ingest(head_cut, tmp_path / "hc")
    assert counts["docs_written"] == 3 and [q["reason"] for q in quarantine] == ["truncated_record"]
    assert quarantine[0]["record_offset"] == starts[7]


def test_corrupt_gzip_member_is_skipped_and_reading_goes_on(tmp_path):
    starts = members(WGET0)
    data = bytearray(WGET0.read_bytes())
    # Member 4 is a response (record 3); flip bytes in the middle of its deflate stream.
    mid = (starts[4] + starts[5]) // 2
    for i in range(mid, mid + 64):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(bytes(data))
    counts, docs, quarantine = ingest(bad, tmp_path)
    assert [q["reason"] for q in quarantine] == ["corrupt_gzip"]
    assert quarantine[0]["record_offset"] == starts[4]
    assert counts["docs_written"] == 21  # the other 21 responses, including all after the bad one
    assert max(d["record_offset"] for d in docs) > starts[4]


def test_encodings_declared_undeclared_and_undecodable(tmp_path):
    url_de, zeit = real_page(ZEIT_OFFSET)
    url_ru, russian = real_page(RUSSIAN_OFFSET)
    meta = re.compile(rb"""<meta[^>]*charset[^>]*>""", re.I)
    de_text = zeit.decode("utf-8")
    ru_text = russian.decode("utf-8")
    latin1_undeclared = meta.sub(b"", zeit).decode("utf-8").encode("latin-1", "xmlcharrefreplace")
    cp1251_declared = ru_text.encode("cp1251", "xmlcharrefreplace")
    cp1251_undeclared = meta.sub(b"", russian).decode("utf-8").encode("cp1251", "xmlcharrefreplace")
    mislabelled = zeit.decode("utf-8").encode("latin-1", "xmlcharrefreplace")  # meta still says utf-8
    binary = zlib.compress(zeit, 9)  # bytes that are no text in any charset
    warc = tmp_path / "enc.warc.gz"
    warc.write_bytes(
        b"".join(
            [
                response_member(url_de, latin1_undeclared, "text/html", n=1),
                response_member(url_ru, cp1251_declared, "text/html; charset=windows-1251", n=2),
                response_member(url_ru + "?2", cp1251_undeclared, "text/html", n=3),
                response_member(url_de + "?2", mislabelled, "text/html", n=4),
                response_member(url_de + "?3", binary, "text/html", n=5),
            ]
        )
    )
    counts, docs, quarantine = ingest(warc, tmp_path)
    by_url = {d["url"]: d for d in docs}
    assert by_url[url_de]["encoding"] in ("cp1252", "iso8859-1", "latin-1", "windows-1252")
    assert "Börsenhändler" in by_url[url_de]["text"] and by_url[url_de]["language"] == "de"
    assert by_url[url_ru]["encoding"] == "cp1251" and by_url[url_ru]["language"] == "ru"
    assert by_url[url_ru + "?2"]["encoding"] == "cp1251" and by_url[url_ru + "?2"]["text"] == by_url[url_ru]["text"]
    assert "Börsenhändler" in by_url[url_de + "?2"]["text"]  # a wrong label falls through to detection
    assert [(q["reason"], q["url"]) for q in quarantine] == [("undecodable", url_de + "?3")]
    # The same text as the original UTF-8 page.
    orig = ingest(_one_page(tmp_path, url_de, zeit), tmp_path / "orig")[1][0]
    assert by_url[url_de]["text"] == orig["text"]
    assert de_text and ru_text


def _one_page(tmp_path, url, body) -> Path:
    p = tmp_path / "one.warc.gz"
    p.write_bytes(response_member(url, body, "text/html; charset=utf-8"))
    return p


def test_empty_giant_non_html_http_error_pages(tmp_path):
    url, zeit = real_page(ZEIT_OFFSET)
    empty = re.sub(rb"<body.*</body>", b"<body></body>", zeit, flags=re.S)
    giant = zeit * (10_000_000 // len(zeit) + 1)  # > 10 MB: over the default cap
    jpeg_like = gzip.compress(zeit)  # real bytes, not HTML
    warc = tmp_path / "mixed.warc.gz"
    warc.write_bytes(
        b"".join(
            [
                response_member(url, zeit, "text/html", n=1),
                response_member(url + "?empty", empty, "text/html", n=2),
                response_member(url + "?giant", giant, "text/html", n=3),
                response_member(url + "?pdf", jpeg_like, "application/pdf", n=4),
                response_member(url + "?untyped", jpeg_like, None, n=5),
                response_member(url + "?404", zeit, "text/html", status=404, n=6),
            ]
        )
    )
    counts, docs, quarantine = ingest(warc, tmp_path)
    assert [d["url"] for d in docs] == [url]
    assert {q["url"]: q["reason"] for q in quarantine} == {
        url + "?empty": "empty_text",
        url + "?giant": "oversized_payload",
        url + "?pdf": "non_html",
        url + "?untyped": "non_html",
        url + "?404": "http_error",
    }
    assert counts["quarantine_by_reason"] == {"empty_text": 1, "http_error": 1, "non_html": 2, "oversized_payload": 1}
    # Text cap: the document is kept, cut, and flagged.
    counts, docs, _ = ingest(warc, tmp_path / "cap", max_text_chars=200, max_payload_bytes=50_000_000)
    big = {d["url"]: d for d in docs}
    assert big[url]["text_truncated"] and big[url]["n_chars"] == 200
    assert big[url + "?giant"]["text_truncated"]


def _encoded_member(url: str, body: bytes, encoding: str, n: int) -> bytes:
    return response_member(url, body, "text/html", 200, n, encoding=encoding)


def test_decompression_bombs_are_quarantined_without_inflating_them(tmp_path):
    """A few KB of Content-Encoding that inflate to 50 MB stop at the 10 MB payload cap (issue 23:
    no record may stall or kill a worker); ordinary encoded pages decode as before."""
    import brotli

    url, zeit = real_page(ZEIT_OFFSET)
    bomb = b"<html><body>" + b"\0" * 50_000_000
    members = [
        _encoded_member(url + "?gzip", gzip.compress(zeit), "gzip", 1),
        _encoded_member(url + "?deflate", zlib.compress(zeit), "deflate", 2),
        _encoded_member(url + "?br", brotli.compress(zeit), "br", 3),
        _encoded_member(url + "?gzip-bomb", gzip.compress(bomb, 1), "gzip", 4),
        _encoded_member(url + "?deflate-bomb", zlib.compress(bomb, 1), "deflate", 5),
        _encoded_member(url + "?br-bomb", brotli.compress(bomb, quality=1), "br", 6),
        _encoded_member(url + "?cut", gzip.compress(zeit)[:-100], "gzip", 7),
    ]
    warc = tmp_path / "encoded.warc.gz"
    warc.write_bytes(b"".join(members))
    counts, docs, quarantine = ingest(warc, tmp_path)
    plain = ingest(_one_page(tmp_path, url, zeit), tmp_path / "plain")[1][0]["text"]
    assert sorted(d["url"] for d in docs) == [url + "?br", url + "?deflate", url + "?gzip"]
    assert all(d["text"] == plain for d in docs)
    assert {q["url"]: q["reason"] for q in quarantine} == {
        url + "?gzip-bomb": "oversized_payload",
        url + "?deflate-bomb": "oversized_payload",
        url + "?br-bomb": "oversized_payload",
        url + "?cut": "bad_http_payload",
    }


def test_article_that_resiliparse_drops_is_kept_by_the_fallback(tmp_path):
    from resiliparse.extract.html2text import extract_plain_text

    url, page = real_page(NO_MAIN_CONTENT_OFFSET)
    from tasks.ingest.decode import decode_html

    html = decode_html(page).text  # this page is windows-1252
    assert not extract_plain_text(html, main_content=True, comments=False, post_meta=False).strip()
    counts, docs, quarantine = ingest(_one_page(tmp_path, url, page), tmp_path)
    assert not quarantine and docs[0]["extractor"] == "trafilatura-fallback"
    assert "Herbert Diess" in docs[0]["text"] and docs[0]["language"] == "de"
    assert counts["fallback_by_reason"] == {"extract_fallback_empty": 1}


def test_pages_too_deep_or_too_large_get_the_plain_extractor_and_are_counted(tmp_path):
    """A page that would stall resiliparse's main content is kept with the plain extractor,
    counted by reason beside the quarantine reasons (issue 23)."""
    from tasks.ingest.extract import MAIN_CONTENT_MAX_CHARS, MAX_DEPTH

    url, zeit = real_page(ZEIT_OFFSET)
    para = b"<p>Der Stadtrat hat am Dienstag nach langer Debatte den neuen Haushalt beschlossen.</p>"
    deep = b"<html><body>" + b"<div>" * (MAX_DEPTH + 10) + para + b"</div>" * (MAX_DEPTH + 10) + b"</body></html>"
    large = b"<html><body>" + para * (MAIN_CONTENT_MAX_CHARS // len(para) + 1) + b"</body></html>"
    warc = tmp_path / "odd.warc.gz"
    warc.write_bytes(
        response_member(url, zeit, "text/html", n=1)
        + response_member(url + "?deep", deep, "text/html; charset=utf-8", n=2)
        + response_member(url + "?large", large, "text/html; charset=utf-8", n=3)
    )
    counts, docs, quarantine = ingest(warc, tmp_path)
    by_url = {d["url"]: d for d in docs}
    assert not quarantine and len(docs) == 3
    assert by_url[url]["extractor"] == "resiliparse"
    assert by_url[url + "?deep"]["extractor"] == by_url[url + "?large"]["extractor"] == "resiliparse-plain-fallback"
    assert "Haushalt beschlossen" in by_url[url + "?deep"]["text"]
    assert counts["fallback_by_reason"] == {"extract_fallback_depth": 1, "extract_fallback_size": 1}
    total = merge_counts([counts, counts])
    assert (
        total["fallback_by_reason"] == {"extract_fallback_depth": 2, "extract_fallback_size": 2} and total["balanced"]
    )


def test_bad_json_lines(tmp_path):
    lines = gzip.decompress(CC.read_bytes()).splitlines()[:10]
    rec = json.loads(lines[2])
    del rec["text"]
    broken = lines[:2] + [
        lines[2][:-20],
        json.dumps(rec).encode(),
        b"[1, 2]",
        b"",
        lines[3],
        lines[4].replace(b'"text":', b'"text": 7, "x":', 1),
        b"\xff\xfe not utf-8",
    ]
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join(broken) + b"\n")
    counts, docs, quarantine = ingest(path, tmp_path)
    assert [(q["reason"], q["record_offset"]) for q in quarantine] == [
        ("bad_json", 2),
        ("missing_text", 3),
        ("bad_json", 4),
        ("missing_text", 7),
        ("undecodable", 8),
    ]
    assert counts["other_records"] == {"blank_line": 1} and counts["docs_written"] == 3
    # A gzip JSONL cut short: the lines before are kept, the cut is reported.
    gz = gzip.compress(b"\n".join(lines) + b"\n")
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gz[: len(gz) * 2 // 3])
    counts, docs, quarantine = ingest(cut, tmp_path / "cut")
    assert counts["docs_written"] >= 3 and quarantine[-1]["reason"] == "truncated_record"
    # Parquet without a text column: every row is quarantined, none lost.
    pq.write_table(pa.table({"id": ["a", "b"], "body": ["x", "y"]}), tmp_path / "notext.parquet")
    counts, _, quarantine = ingest(tmp_path / "notext.parquet", tmp_path / "pq")
    assert counts["records_read"] == 2 and {q["reason"] for q in quarantine} == {"missing_text"}


# ----------------------------------------------------------------------------- resume


def test_killed_run_redoes_only_unfinished_shards(tmp_path, workspace):
    files = resolve_sources([str(WGET0), str(WGET1), str(CRAWL / "whirlwind.warc.wet.gz")])
    out = workspace.stage_dir("docs", "k")
    first = [ingest_shard(f, out, i, None, "crawl") for i, f in enumerate(files)]
    assert not any(c.cached for c in first)
    # A kill after shard 1 started: its marker and output are gone, its writer's temp file
    # (named for a pid that has exited) remains. Another run's writer is alive right now
    # (this process) on shard 2's temp name: a clean-up must leave that one alone.
    from tasks.core.workspace import host_id, temp_sibling

    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    (out / "_shards" / "shard-00001.json").unlink()
    dead = out / f".shard-00001.parquet.{host_id()}.{gone}.tmp"
    (out / "shard-00001.parquet").rename(dead)
    live = temp_sibling(out / "shard-00002.parquet")
    live.write_bytes(b"being written")
    again = [ingest_shard(f, out, i, None, "crawl") for i, f in enumerate(files)]
    assert [c.cached for c in again] == [True, False, True]
    assert again[1].docs_written == first[1].docs_written
    # A marker for another input (a different file now at this index) does not count.
    assert shard_done(out, 0, "another-identity") is None
    info = finish_source(workspace, "k", "crawl", again, [f.uri for f in files])
    assert not dead.exists() and live.exists()  # only the provably dead writer's file is removed
    from tasks.core.docsref import resolve_docs

    ref = resolve_docs(workspace, "crawl")
    assert ref.docs_hash == info["docs_hash"] and len(ref.shards) == 3
    assert info["counts"]["balanced"] and info["counts"]["docs_written"] == 22 + 15 + 1


def test_full_disk_mid_shard_loses_nothing_and_rerun_finishes(tmp_path, workspace, monkeypatch):
    """ENOSPC while writing shard 1: shard 0 stays published, shard 1 leaves no file that
    looks finished (no output, no marker), and a rerun with space writes only shard 1."""
    import errno

    import tasks.ingest.ingest as ingest_mod

    files = resolve_sources([str(WGET0), str(WGET1)])
    out = workspace.stage_dir("docs", "disk")
    ingest_shard(files[0], out, 0, None, "crawl")
    real_replace = ingest_mod.os.replace

    def full_disk(src, dst, *a, **kw):
        if "shard-00001" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(ingest_mod.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        ingest_shard(files[1], out, 1, None, "crawl")
    monkeypatch.setattr(ingest_mod.os, "replace", real_replace)
    assert (out / "shard-00000.parquet").exists() and shard_done(out, 0, files[0].identity)
    assert not (out / "shard-00001.parquet").exists() and not (out / "_shards" / "shard-00001.json").exists()
    assert not list(out.glob(".shard-00001*"))  # the half-written temp file is cleaned up
    again = [ingest_shard(f, out, i, None, "crawl") for i, f in enumerate(files)]
    assert [c.cached for c in again] == [True, False]
    c = again[1].to_dict()
    assert c["docs_written"] == 15 and c["records_read"] == c["docs_written"] + c["records_quarantined"] + c.get(
        "metadata_written", 0
    )


def test_lines_a_host_repeats_on_most_pages_are_removed_per_shard(tmp_path):
    """The cross-page pass: a host's menu and footer lines go, its articles' text stays."""

    def page(i: int) -> bytes:
        return (
            f"<html><body><main><article><p>Home | News | Sport | Weather</p>"
            f"<p>Story {i}: the council met on Tuesday and talked about the budget for a very long time.</p>"
            f"<p>Story {i} goes on with more sentences, so that it is a real article of real prose.</p>"
            f"<p>Subscribe to the Example Herald weekly digest</p></article></main></body></html>"
        ).encode()

    path = tmp_path / "site.warc.gz"
    other = b"<html><body><main><article><p>Home | News | Sport | Weather</p><p>Another site with its own text here.</p></article></main></body></html>"
    path.write_bytes(
        b"".join(response_member(f"https://herald.example/story-{i}", page(i), n=i) for i in range(6))
        + response_member("https://other.example/a", other, n=99)
    )
    counts, docs, _ = ingest(path, tmp_path / "on")
    by_url = {d["url"]: d["text"] for d in docs}
    for i in range(6):
        text = by_url[f"https://herald.example/story-{i}"]
        assert f"Story {i}: the council met" in text and f"Story {i} goes on" in text
        assert "Home | News" not in text and "weekly digest" not in text
    assert "Home | News" in by_url["https://other.example/a"]  # one page of its host: left alone
    assert counts["text_chars"] == sum(len(d["text"]) for d in docs)

    _, off, _ = ingest(path, tmp_path / "off", host_repeat_min_pages=0)
    assert all("Home | News" in d["text"] for d in off)
    with pytest.raises(ValueError, match="host_repeat_min_pages must be 0"):
        IngestOptions(host_repeat_min_pages=1)
