"""The ingest flow end to end (Prefect + a one-worker Dask LocalCluster): resume after a
kill, catalog rows, and the second run served from cache."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CRAWL


@pytest.mark.slow
def test_ingest_flow_resumes_records_and_caches(workspace, catalog):
    from flows.ingest import _plan, run_ingest
    from tasks.ingest.ingest import IngestOptions, ingest_shard

    sources = [str(CRAWL / "wget-sample-000*.warc.gz"), str(CRAWL / "whirlwind.warc.wet.gz")]
    opts = IngestOptions()
    ws, files, name, options, key = _plan(
        sources,
        "crawl",
        str(workspace.root),
        opts.extractor,
        "https://data.commoncrawl.org/",
        opts.max_payload_bytes,
        opts.max_text_chars,
    )
    # A killed earlier run had finished shard 1 only.
    ingest_shard(files[1], ws.stage_dir("docs", key), 1, options.key(), name)

    first = run_ingest(sources, "crawl", workspace.root, workers=1)
    assert not first["cached"] and first["shards_reused"] == 1 and first["source_key"] == key
    c = first["counts"]
    assert c["balanced"] and c["records_read"] == 22 + 15 + 1 and c["docs_written"] == 38
    assert c["other_records"]["request"] == 37

    second = run_ingest(list(reversed(sources)), "crawl", workspace.root)
    assert second["cached"] and second["docs_hash"] == first["docs_hash"]
    runs = catalog.table("ingest_runs").to_pylist()
    assert sorted(r["cached"] for r in runs) == [False, True]
    assert all(r["docs_written"] == 38 and r["docs_hash"] == first["docs_hash"] for r in runs)
    assert all(json.loads(r["fallback_by_reason"]) == c["fallback_by_reason"] for r in runs)  # a column since issue 23
    (src,) = catalog.table("sources").to_pylist()
    assert src["n_files"] == 3 and src["docs_hash"] == first["docs_hash"]
