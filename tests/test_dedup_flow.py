"""The dedup flow end to end (one flow run: Prefect start-up dominates)."""

from __future__ import annotations

import json

from tasks.core.catalog import Catalog
from tests.dedup_helpers import write_source


def test_dedup_flow_cli(workspace, cc_docs_table):
    from flows.dedup import main

    write_source(workspace, "cc", cc_docs_table, shards=2)
    argv = [
        "cc",
        "--workspace",
        str(workspace.root),
        "--workers",
        "1",
        "--modes",
        "exact,minhash,lines",
        "--partitions",
        "2",
    ]
    out = main(argv)
    assert not out["cached"] and out["stats"]["removed"]["minhash"] > 0
    assert out["pairs_on"] == "dask" and out["stats"]["minhash"]["partitions"] == 2
    assert (workspace.root / "dedup" / out["key"] / "clusters.parquet").exists()
    assert len(list((workspace.root / "signals").glob("*-minhash-*/_SUCCESS"))) == 1
    runs = Catalog(workspace.catalog_path).query("dedup_runs_for_source", {"source": "cc"})
    assert len(runs) == 1 and runs[0]["input_docs"] == cc_docs_table.num_rows
    assert json.loads(runs[0]["removed"]) == out["stats"]["removed"]
