"""One export shard in each target format, written under temporary names and moved into
place only when whole (a killed export leaves no partial file under a final name).

- megatron: `shard-NNNNN.bin` / `.idx`, written by megatron-core's own
  `IndexedDatasetBuilder` (the files Megatron-LM, NeMo and OLMo-style trainers read),
  one document per row with the tokenizer's EOD id appended (as winnow packs them);
- jsonl: `shard-NNNNN.jsonl.zst`, one JSON object per row (doc_id, url, source, text);
- parquet: `shard-NNNNN.parquet` with the same columns;
- hf: `data/train-NNNNN.parquet` (+ README.md at the root, written once by the export),
  the layout `datasets.load_dataset(DIR)` reads.
Rows are repeated as the dataset's `repeat` column says (mixture upsampling), so every
format holds the dataset as it trains.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["doc_id", "url", "source", "text"]
FORMATS = ("megatron", "jsonl", "parquet", "hf")
_BATCH = 256


def shard_files(fmt: str, index: int) -> list[str]:
    """The files (relative to the export folder) that shard `index` writes in `fmt`."""
    stem = f"shard-{index:05d}"
    return {
        "megatron": [f"{stem}.bin", f"{stem}.idx"],
        "jsonl": [f"{stem}.jsonl.zst"],
        "parquet": [f"{stem}.parquet"],
        "hf": [f"data/train-{index:05d}.parquet"],
    }[fmt]


def expand_repeats(table: pa.Table) -> pa.Table:
    """Each row `repeat` times, in order (the dataset as it trains)."""
    rep = table.column("repeat").to_numpy(zero_copy_only=False) if "repeat" in table.column_names else None
    rows = table.select(COLUMNS)
    if rep is None or (rep == 1).all():
        return rows
    return rows.take(pa.array(np.repeat(np.arange(rows.num_rows), np.maximum(rep, 0))))


def token_ids(tokenizer, texts: list[str], eod: int) -> list[list[int]]:
    """Each text's ids (no special tokens added) followed by the EOD id."""
    out: list[list[int]] = []
    for start in range(0, len(texts), _BATCH):
        enc = tokenizer(texts[start : start + _BATCH], add_special_tokens=False)["input_ids"]
        out.extend([*ids, eod] for ids in enc)
    return out


def write_shard(fmt: str, out: Path, index: int, rows: pa.Table, ids: list[list[int]] | None, vocab: int) -> None:
    """Shard `index` of `rows` (already expanded) in `fmt` under `out`."""
    names = shard_files(fmt, index)
    final = [out / n for n in names]
    tmp = [p.with_name(f".tmp-{p.name}") for p in final]
    for p in final:
        p.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[fmt](tmp, rows, ids, vocab)
    for t, f in zip(tmp, final, strict=True):
        os.replace(t, f)


def _megatron(paths: list[Path], rows: pa.Table, ids: list[list[int]] | None, vocab: int) -> None:
    with warnings.catch_warnings():  # megatron.core warns that apex/transformer-engine are absent
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import DType, IndexedDatasetBuilder
    assert ids is not None, "the megatron format needs token ids"
    bin_path, idx_path = paths
    builder = IndexedDatasetBuilder(str(bin_path), dtype=DType.optimal_dtype(vocab))
    for doc in ids:
        builder.add_document(np.asarray(doc), [len(doc)])
    builder.finalize(str(idx_path))


def _jsonl(paths: list[Path], rows: pa.Table, ids: list[list[int]] | None, vocab: int) -> None:
    import zstandard

    with open(paths[0], "wb") as f, zstandard.ZstdCompressor(level=10).stream_writer(f) as z:
        for r in rows.to_pylist():
            z.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))


def _parquet(paths: list[Path], rows: pa.Table, ids: list[list[int]] | None, vocab: int) -> None:
    pq.write_table(rows, paths[0], compression="zstd")


WRITERS: dict[str, Callable[[list[Path], pa.Table, list[list[int]] | None, int], None]] = {
    "megatron": _megatron,
    "jsonl": _jsonl,
    "parquet": _parquet,
    "hf": _parquet,
}


def hf_readme(name: str, card_md: str) -> str:
    """The dataset card `datasets.load_dataset(DIR)` reads: YAML config naming the files,
    then winnow's data card."""
    head = (
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n---\n"
    )
    return head + f"\n# {name}\n\n" + card_md
