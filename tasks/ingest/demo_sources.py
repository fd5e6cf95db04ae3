"""The demo's extra sources, built at setup from registry packages (never from git):

- `python-docs.warc.gz`: the Python 3.11 documentation web site (Debian `python3.11-doc`,
  ~530 HTML pages) written as a WARC of HTTP responses, so it goes through the same
  ingestion path as crawl (extraction, language ID, accounting);
- `wiki-leads.jsonl.gz`: the *train* split of the Wikipedia leads (tasks/core/reference.py) in
  dolma JSONL form. The held-out split is never written here.

The ladder pool (recipes/suites/ladder.yaml) adds three more documentation sites the same
way, so upper rungs repeat their data less (docs/decisions.md states the pool in tokens):
- `postgres-docs.warc.gz`: the PostgreSQL 15 manual (Debian `postgresql-doc-15`, 1,169 pages);
- `kernel-docs.warc.gz`: the Linux 6.1 kernel documentation (Debian `linux-doc-6.1`, 3,185 pages);
- `debian-handbook.warc.gz`: The Debian Administrator's Handbook, English (Debian
  `debian-handbook`, en-US, 127 pages).
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

from tasks.core.external import debian_package, external_dir
from tasks.core.reference import wiki_leads

DOCS_PACKAGE = "python3.11-doc"
DOCS_BASE_URL = "https://docs.python.org/3.11/"


def sources_dir() -> Path:
    path = external_dir() / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class DocSite:
    """A documentation web site shipped in a Debian package, written out as a WARC."""

    name: str  # output file: <name>.warc.gz
    package: str
    html_root: str  # the site's folder inside the package
    base_url: str  # where the site lives on the web (the WARC's target URIs)


DOC_SITES: dict[str, DocSite] = {
    "python-docs": DocSite("python-docs", DOCS_PACKAGE, "usr/share/doc/python3.11/html", DOCS_BASE_URL),
    "postgres-docs": DocSite(
        "postgres-docs",
        "postgresql-doc-15",
        "usr/share/doc/postgresql-doc-15/html",
        "https://www.postgresql.org/docs/15/",
    ),
    "kernel-docs": DocSite(
        "kernel-docs",
        "linux-doc-6.1",
        "usr/share/doc/linux-doc-6.1/html",
        "https://www.kernel.org/doc/html/v6.1/",
    ),
    "debian-handbook": DocSite(
        "debian-handbook",
        "debian-handbook",
        "usr/share/doc/debian-handbook/html/en-US",
        "https://debian-handbook.info/browse/stable/",
    ),
}
LADDER_SITES = ("postgres-docs", "kernel-docs", "debian-handbook")


# A fixed capture date: the pages come from a pinned Debian package, not a crawl.
_WARC_DATE = "2024-01-01T00:00:00Z"


def _fixed_headers(url: str, body: bytes) -> dict[str, str]:
    """Record id and date from the page itself. warcio's defaults (a random uuid4, the
    current time) gave every fresh setup other doc_ids (ingest hashes the record id), so
    a seeded random sample, and the default suite's leaderboard, changed from clone to clone."""
    import hashlib
    import uuid

    digest = hashlib.sha256(url.encode() + b"\0" + body).hexdigest()
    return {"WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, digest)}>", "WARC-Date": _WARC_DATE}


def build_site_warc(site: DocSite) -> Path:
    """Every HTML page of `site` as an HTTP response record, in path order."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = sources_dir() / f"{site.name}.warc.gz"
    if out.exists():
        return out
    html_root = debian_package(site.package) / site.html_root
    pages = sorted(p for p in html_root.rglob("*.html") if p.is_file() and not p.is_symlink())
    if not pages:
        raise FileNotFoundError(f"{site.package}: no HTML pages under {html_root}")
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for page in pages:
            url = site.base_url + page.relative_to(html_root).as_posix()
            body = page.read_bytes()
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict=_fixed_headers(url, body),
            )
            writer.write_record(record)
    tmp.replace(out)
    return out


def build_docs_warc(package: str = DOCS_PACKAGE) -> Path:
    """The Python documentation site (the default pool's `docs` source)."""
    if package != DOCS_PACKAGE:
        raise ValueError(f"build_docs_warc builds {DOCS_PACKAGE}; use build_site_warc(DocSite(...)) for {package}")
    return build_site_warc(DOC_SITES["python-docs"])


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


def prepare_ladder() -> None:
    """The ladder pool's extra documentation sites (a few MB from Debian)."""
    print("ladder sources: " + ", ".join(str(build_site_warc(DOC_SITES[n])) for n in LADDER_SITES))
