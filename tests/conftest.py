"""Shared fixtures: real data from ../shared/data, a fresh workspace per test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
CRAWL = SHARED_DATA / "crawl"

# Every test session gets its own Prefect home (database, result storage, settings) and
# no API URL: a flow test must never write into ~/.prefect or a developer's live server,
# nor be answered from their cached task results. Set before anything imports Prefect.
_PREFECT_HOME = tempfile.mkdtemp(prefix="winnow-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILES_PATH", None)
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from tasks.core.workspace import Workspace

    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("WINNOW_REPORTS", str(tmp_path / "reports"))  # the HTML report, never into the repo
    return Workspace.from_env(tmp_path / "ws")


@pytest.fixture
def catalog(workspace):
    from tasks.core.catalog import Catalog

    return Catalog(workspace.catalog_path)


@pytest.fixture(scope="session")
def cc_docs_table():
    """The 697 real CC-MAIN-2019-30 documents (dolma JSONL) as a DOCS-schema table.

    For stage tests that need documents without running ingestion first.
    """
    import gzip
    import json

    import pyarrow as pa
    import xxhash

    from tasks.core.schema import DOCS

    rows = []
    path = CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            rec = json.loads(line)
            meta = rec.get("metadata") or {}
            url = meta.get("url") or meta.get("warc_url") or ""
            text = rec["text"]
            rows.append(
                {
                    "doc_id": xxhash.xxh3_128_hexdigest(f"cc\x00{rec['id']}".encode()),
                    "source": "cc",
                    "url": url,
                    "domain": url.split("/")[2] if url.count("/") >= 2 else "",
                    "text": text,
                    "language": "en",
                    "language_score": 1.0,
                    "crawl_date": None,
                    "content_type": "text/plain",
                    "encoding": "utf-8",
                    "n_bytes": len(text.encode()),
                    "n_chars": len(text),
                    "text_truncated": False,
                    "source_file": str(path),
                    "record_id": str(rec["id"]),
                    "record_offset": line_no,
                    "format": "jsonl",
                    "extractor": "none",
                }
            )
    return pa.Table.from_pylist(rows, schema=DOCS)
