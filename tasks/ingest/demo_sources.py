"""The demo's extra sources, built at setup from registry packages (never from git):

- `python-docs.warc.gz`: the Python 3.11 documentation web site (Debian `python3.11-doc`,
  ~530 HTML pages) written as a WARC of HTTP responses, so it goes through the same
  ingestion path as crawl (extraction, language ID, accounting);
- `wiki-leads.jsonl.gz`: the *train* split of the Wikipedia leads (tasks/core/reference.py) in
  dolma JSONL form. The held-out split is never written here.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from tasks.core.external import debian_package, external_dir
from tasks.core.reference import wiki_leads

DOCS_PACKAGE = "python3.11-doc"
DOCS_BASE_URL = "https://docs.python.org/3.11/"


def sources_dir() -> Path:
    path = external_dir() / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_docs_warc(package: str = DOCS_PACKAGE) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = sources_dir() / "python-docs.warc.gz"
    if out.exists():
        return out
    html_root = debian_package(package) / "usr" / "share" / "doc" / "python3.11" / "html"
    pages = sorted(p for p in html_root.rglob("*.html") if p.is_file() and not p.is_symlink())
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for page in pages:
            url = DOCS_BASE_URL + page.relative_to(html_root).as_posix()
            body = page.read_bytes()
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            writer.write_record(record)
    tmp.replace(out)
    return out


def build_wiki_jsonl() -> Path:
    out = sources_dir() / "wiki-leads.jsonl.gz"
    if out.exists():
        return out
    table = wiki_leads("train")
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for title, text, topic in zip(*(table.column(c).to_pylist() for c in ("title", "text", "topic"))):
            url = "https://en.wikipedia.org/wiki/" + title.replace(" ", "_")
            f.write(
                json.dumps({"id": title, "text": text, "source": "wikipedia", "metadata": {"url": url, "topic": topic}})
                + "\n"
            )
    tmp.replace(out)
    return out


def prepare() -> None:
    print(f"demo sources: {build_docs_warc()}, {build_wiki_jsonl()}")
