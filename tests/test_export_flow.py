"""`python -m flows.export` end to end (one curate + export flow run, then a rerun by
recipe name): the whole pool without the budget cut, substring dedup's removed spans in
the exclusion sample, Megatron files that hold the curated texts."""

from __future__ import annotations

import json
import warnings

import pyarrow.parquet as pq
import yaml

from tasks.core.docsref import resolve_docs
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs


def test_export_cli_whole_pool_then_resume_by_name(workspace, cc_docs_table, tmp_path, capsys):
    from flows.export import main
    from tasks.train.tokenizer import load_tokenizer

    crawl = cc_docs_table.slice(0, 150)
    write_docs(workspace, "crawl", crawl, shard_rows=60)
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    recipe = {
        "name": "graduate",
        "sources": ["crawl"],
        "dedup": {"exact": True, "substring": {"min_len": 100}},
        "token_budget": 2000,  # dropped: the export takes the whole pool
        "train": {"preset": "nano"},
    }
    path = tmp_path / "graduate.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    args = ["--out", str(out), "--format", "megatron", "--workspace", str(workspace.root), "--shard-docs", "40"]
    main([str(path), *args])
    manifest = json.loads((out / "manifest.json").read_text())
    (dataset_dir,) = [p.parent for p in workspace.root.glob("datasets/*/_SUCCESS")]
    stats = json.loads((dataset_dir / "stats.json").read_text())
    assert manifest["token_budget"] is None and "budget" not in stats["steps"]
    assert manifest["documents"] == stats["documents"] > 100 and manifest["shards"] == -(-stats["documents"] // 40)
    reasons = set(pq.read_table(dataset_dir / "exclusions.parquet").column("reason").to_pylist())
    assert "dedup.substring.spans" in reasons  # the real crawl repeats boilerplate spans
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    tok = load_tokenizer(manifest["tokenizer"]["name_or_path"])
    shard = IndexedDataset(str(out / "shard-00000"))  # kept alive: items are views into its mmap
    first = shard[0].tolist()
    text = pq.read_table(dataset_dir / "part-00000.parquet").column("text")[0].as_py()
    assert first == tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]
    assert {"card.md", "card.json"} <= set(manifest["files"])
    capsys.readouterr()
    main(["graduate", *args])  # by recipe name, from the catalog: every shard is there
    assert json.loads(capsys.readouterr().out.splitlines()[0])["written"] == 0
