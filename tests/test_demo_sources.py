"""The demo's generated sources are byte-identical on every setup: ingest hashes each
record id into the doc_id, so random WARC ids changed the default suite's sample (and its
leaderboard) from one fresh clone to the next."""

from __future__ import annotations

import gzip

from tasks.ingest import demo_sources as D


def test_site_warc_is_the_same_bytes_on_every_build(tmp_path, monkeypatch):
    site_root = tmp_path / "pkg"
    html = site_root / "usr/share/doc/site/html"
    (html / "sub").mkdir(parents=True)
    (html / "index.html").write_text("<html><body><p>Index page.</p></body></html>")
    (html / "sub" / "a.html").write_text("<html><body><p>Another page.</p></body></html>")
    monkeypatch.setattr(D, "debian_package", lambda package: site_root)
    site = D.DocSite("site", "site-pkg", "usr/share/doc/site/html", "https://example.org/")
    builds = []
    for i in range(2):
        monkeypatch.setattr(D, "sources_dir", lambda i=i: tmp_path / f"out{i}")
        (tmp_path / f"out{i}").mkdir()
        builds.append(D.build_site_warc(site).read_bytes())
    assert builds[0] == builds[1]
    text = gzip.decompress(builds[0]).decode("utf-8", "replace")
    ids = [line.split(": ", 1)[1].strip() for line in text.splitlines() if line.startswith("WARC-Record-ID")]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(i.startswith("<urn:uuid:") for i in ids)
    assert "WARC-Date: 2024-01-01T00:00:00Z" in text
