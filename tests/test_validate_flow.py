"""The one flow-level test: `python -m flows.validate` over a hand-made ingest layout."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.docsref import docs_hash_of
from tasks.evaluate.eval_data import eval_items


def test_validate_flow_counts_contaminated_documents(cc_docs_table, workspace, catalog, tmp_path):
    docs = cc_docs_table.filter(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(cc_docs_table["text"])), 0))
    items = eval_items(["lambada"])
    texts = docs["text"].to_pylist()
    texts[5] = texts[5] + "\n" + items["text"][11].as_py()  # one planted LAMBADA passage
    for name, values in (
        ("text", texts),
        ("n_chars", [len(t) for t in texts]),
        ("n_bytes", [len(t.encode()) for t in texts]),
    ):
        i = docs.schema.get_field_index(name)
        docs = docs.set_column(i, docs.schema.field(name), pa.array(values, docs.schema.field(name).type))
    key = "cc-key"
    folder = workspace.stage_dir("docs", key)
    folder.mkdir(parents=True)
    shards = [folder / "shard-00000.parquet", folder / "shard-00001.parquet"]
    pq.write_table(docs.slice(0, 335), shards[0])
    pq.write_table(docs.slice(335), shards[1])
    workspace.mark_done(
        "docs",
        key,
        {
            "name": "cc",
            "docs_hash": docs_hash_of(shards),
            "shards": [s.name for s in shards],
            "counts": {"records_read": 697, "docs_written": docs.num_rows, "records_quarantined": 697 - docs.num_rows},
        },
    )
    items_path = tmp_path / "items.parquet"
    pq.write_table(items, items_path)

    from flows.validate import main

    assert (
        main(["--source", "cc", "--home", str(workspace.root), "--eval-items", str(items_path), "--workers", "0"]) == 0
    )
    run = [r for r in catalog.table("stage_runs").to_pylist() if r["stage"] == "validation"][0]
    info = json.loads(run["info"])
    assert info["docs"] == docs.num_rows and info["contaminated"] == 1 and info["by_task"] == {"lambada": 1}
    assert catalog.table("validation_runs").to_pylist()[0]["success"]
    assert (workspace.root / "validation" / key / "data_docs" / "index.html").exists()
