"""Export (tasks/export/): every format read back by its own reader, the manifest's
hashes, resume shard by shard, and bad input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.export import export as E
from tasks.export import formats as F
from tests.dedup_helpers import cc_texts

N_DOCS = 120
SHARD = 50  # 3 shards: 50, 50, 20


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A curated dataset folder of real CC documents (small row groups, some repeated
    twice as a mixture upsamples), and a suite-style tokenizer trained on other ones."""
    from tasks.core.workspace import Workspace
    from tasks.train.tokenizer import build_tokenizer

    root = tmp_path_factory.mktemp("export")
    texts = cc_texts()
    ws = Workspace.from_env(root / "ws")
    _, tok_dir = build_tokenizer(ws, 1024, texts[200:400])
    d = root / "datasets" / "k"
    d.mkdir(parents=True)
    table = pa.table(
        {
            "doc_id": [f"d{i:04d}" for i in range(N_DOCS)],
            "source": ["cc"] * N_DOCS,
            "url": [f"https://example.org/{i}" for i in range(N_DOCS)],
            "text": texts[:N_DOCS],
            "repeat": pa.array([2 if i % 17 == 0 else 1 for i in range(N_DOCS)], pa.int32()),
        }
    )
    pq.write_table(table, d / "part-00000.parquet", row_group_size=32)  # shards straddle row groups
    (d / "_SUCCESS").write_text("{}")
    (d / "card.md").write_text("# test card\n")  # as tasks/report/cards.py writes beside a dataset
    (d / "card.json").write_text(json.dumps({"title": "test card"}))
    return d, str(tok_dir), table


def _expected(table: pa.Table) -> list[dict]:
    """The rows every format must hold: each document `repeat` times, in order."""
    return [
        {k: r[k] for k in ("doc_id", "url", "source", "text")} for r in table.to_pylist() for _ in range(r["repeat"])
    ]


def _export(dataset, out, fmt, map_fn=None):
    d, tok, _ = dataset
    return E.export_dataset(d, out, fmt, tok, {"recipe": "r"}, None, map_fn, shard_docs=SHARD)


def _winnow_ids(tok_dir: str, texts: list[str]) -> list[list[int]]:
    """Token ids as winnow's training tokenizer gives them, EOS after each document."""
    from tasks.train.tokenizer import load_tokenizer

    tok = load_tokenizer(tok_dir)
    return [tok.encode(t, add_special_tokens=False) + [tok.eos_token_id] for t in texts]


def test_megatron_files_read_back_by_megatrons_reader(dataset, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset

    result = _export(dataset, tmp_path / "m", "megatron")
    got = []
    for i in range(3):
        ds = IndexedDataset(str(tmp_path / "m" / f"shard-{i:05d}"))
        got += [ds[j].tolist() for j in range(len(ds))]
    rows = _expected(dataset[2])
    assert got == _winnow_ids(dataset[1], [r["text"] for r in rows])
    assert result.manifest["rows"] == len(rows) and result.manifest["documents"] == N_DOCS
    assert result.manifest["tokens"] == sum(len(x) for x in got)
    assert result.manifest["tokenizer"]["eod_id"] == got[0][-1]


def test_hf_folder_read_by_load_dataset(dataset, tmp_path):
    import datasets

    _export(dataset, tmp_path / "hf", "hf")
    ds = datasets.load_dataset(str(tmp_path / "hf"), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.to_list() == _expected(dataset[2])
    assert "test card" in (tmp_path / "hf" / "README.md").read_text()


def test_parquet_and_jsonl_read_back(dataset, tmp_path):
    import zstandard

    _export(dataset, tmp_path / "p", "parquet")
    parts = sorted((tmp_path / "p").glob("shard-*.parquet"))
    assert pa.concat_tables(pq.read_table(p) for p in parts).to_pylist() == _expected(dataset[2])
    _export(dataset, tmp_path / "j", "jsonl")
    rows = []
    for p in sorted((tmp_path / "j").glob("shard-*.jsonl.zst")):
        with zstandard.ZstdDecompressor().stream_reader(open(p, "rb")) as r:
            rows += [json.loads(line) for line in io.TextIOWrapper(r, encoding="utf-8")]
    assert rows == _expected(dataset[2])


def test_manifest_hashes_every_file_and_the_card_sits_beside(dataset, tmp_path):
    _export(dataset, tmp_path / "p", "parquet")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert set(manifest["files"]) == {f"shard-{i:05d}.parquet" for i in range(3)} | {"card.json", "card.md"}
    for name, f in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "p" / name).read_bytes()).hexdigest() == f["sha256"]
    assert json.loads((tmp_path / "p" / "card.json").read_text())["title"] == "test card"


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*")}


def test_rerun_rewrites_nothing_and_a_deleted_shard_is_redone_alone(dataset, tmp_path):
    out = tmp_path / "m"
    first = _export(dataset, out, "megatron")
    assert (first.written, first.skipped) == (3, 0)
    before = _mtimes(out)
    again = _export(dataset, out, "megatron")
    assert (again.written, again.skipped) == (0, 3) and _mtimes(out) == before
    (out / "shard-00001.bin").unlink()
    third = _export(dataset, out, "megatron")
    assert (third.written, third.skipped) == (1, 2)
    after = _mtimes(out)
    changed = sorted(n for n in after if after[n] != before.get(n))
    assert changed == ["shard-00001.bin", "shard-00001.idx"]
    assert third.manifest["files"] == first.manifest["files"]  # same bytes again


def test_killed_export_resumes_without_rewriting_finished_shards(dataset, tmp_path, monkeypatch):
    out = tmp_path / "p"
    real = F.WRITERS["parquet"]

    def dies_in_shard_2(paths, rows, ids, vocab):
        if "00002" in paths[0].name:
            paths[0].write_bytes(b"PAR1 half a file")  # killed halfway through writing it
            raise KeyboardInterrupt("killed")
        real(paths, rows, ids, vocab)

    monkeypatch.setitem(F.WRITERS, "parquet", dies_in_shard_2)
    with pytest.raises(KeyboardInterrupt):
        _export(dataset, out, "parquet")
    assert not (out / "manifest.json").exists()  # an incomplete export has no manifest
    monkeypatch.setitem(F.WRITERS, "parquet", real)
    before = _mtimes(out)
    assert set(before) == {"shard-00000.parquet", "shard-00001.parquet"}  # shard 2 only under a temporary name
    assert (out / ".tmp-shard-00002.parquet").exists()
    done = _export(dataset, out, "parquet")
    assert (done.written, done.skipped) == (1, 2)
    assert all(_mtimes(out)[n] == t for n, t in before.items())
    assert pq.read_table(out / "shard-00002.parquet").num_rows == 20 + 2  # whole: rows 100-119, 102 and 119 twice
    assert not list(out.glob(".tmp-*"))


def test_corrupt_or_missing_dataset_part_is_named_and_nothing_is_exported(dataset, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "_SUCCESS").write_text("{}")
    (d / "part-00000.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(ValueError, match="part-00000.parquet"):
        E.export_dataset(d, tmp_path / "out", "parquet", dataset[1], {})
    assert not list((tmp_path / "out").glob("shard-*")) and not (tmp_path / "out" / "manifest.json").exists()
    os.remove(d / "part-00000.parquet")
    with pytest.raises(ValueError, match="no finished dataset"):
        E.export_dataset(d, tmp_path / "out", "parquet", dataset[1], {})
