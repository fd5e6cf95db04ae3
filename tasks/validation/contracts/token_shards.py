"""The token-shards contract (training input)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.validation.contracts._inputs import (
    _between,
)
from tasks.validation.model import (
    Contract,
)


def token_shards_contract_for_packed(packed_dir: str | Path) -> Contract:
    """The contract on one packed folder (`tokens/<key>/L<seq_len>-s<seed>/`): its `.bin`
    shards against what its meta.json recorded (vocabulary, EOS, dtype, whole sequences)."""
    packed_dir = Path(packed_dir)
    meta = json.loads((packed_dir / "meta.json").read_text())
    return token_shards_contract(
        sorted(packed_dir.glob("*.bin")),
        vocab_size=meta["vocab_size"],
        eos_id=meta["eos_id"],
        dtype=meta["dtype"],
        seq_len=meta["seq_len"],
        expected_tokens=meta["n_sequences"] * meta["seq_len"],
    )


def token_shards_contract(
    shards: Sequence[str | Path],
    *,
    vocab_size: int,
    eos_id: int,
    dtype: str = "uint16",
    seq_len: int | None = None,
    expected_tokens: int | None = None,
    expected_documents: int | None = None,
) -> Contract:
    """Contract on packed token shards (`.bin` memmaps of `dtype`). Per sequence (of
    `seq_len` tokens, or 4096 when unknown): ids < vocab, no empty document (EOS EOS).
    Whole input: every shard a whole number of tokens, EOS present, totals as recorded."""
    itemsize = np.dtype(dtype).itemsize
    chunk = seq_len or 4096
    names, seq_index, oov_counts, empty_counts, max_ids, shard_rows = [], [], [], [], [], []
    for path in map(Path, shards):
        size = path.stat().st_size
        n = size // itemsize
        arr = np.memmap(path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
        eos_total = 0
        step = chunk * 1024  # whole sequences per block, bounded memory
        for start in range(0, n, step):
            block = np.asarray(arr[start : start + step])
            pad = (-len(block)) % chunk  # the last, short sequence is padded with a
            if pad:  # valid non-EOS id (0 or 1) to keep the shape
                block = np.concatenate([block, np.full(pad, 0 if eos_id != 0 else 1, block.dtype)])
            seqs = block.reshape(-1, chunk)
            eos = seqs == eos_id
            eos_total += int(eos.sum())
            oov_counts.append((seqs >= vocab_size).sum(1))
            empty_counts.append((eos[:, 1:] & eos[:, :-1]).sum(1))
            max_ids.append(seqs.max(1))
            seq_index.append(np.arange(len(seqs)) + start // chunk)
            names.append(np.full(len(seqs), path.name, dtype=object))
        shard_rows.append({"shard": path.name, "bytes_remainder": size % itemsize, "tokens": n, "eos": eos_total})
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)
    seqs = pd.DataFrame(
        {
            "sequence": [f"{a}#{b}" for a, b in zip(cat(names, object), cat(seq_index, np.int64))],
            "out_of_vocab": cat(oov_counts, np.int64),
            "empty_documents": cat(empty_counts, np.int64),
            "max_id": cat(max_ids, np.int64).astype(np.int64),
        }
    )
    shard_df = pd.DataFrame(shard_rows, columns=["shard", "bytes_remainder", "tokens", "eos"])
    total = int(shard_df["tokens"].sum())
    eos = int(shard_df["eos"].sum())
    facts = {
        "total_tokens": total,
        "eos_total": eos,
        "tokens_minus_expected": total - expected_tokens if expected_tokens is not None else 0,
        "eos_minus_documents": eos - expected_documents if expected_documents is not None else 0,
    }
    frames = {"sequences": seqs, "shards": shard_df, "facts": pd.DataFrame([facts])}
    checks = [
        _between("token_shards.ids_within_vocab", "sequences", "out_of_vocab", min_value=0, max_value=0),
        _between("token_shards.no_empty_documents", "sequences", "empty_documents", min_value=0, max_value=0),
        _between("token_shards.whole_items", "shards", "bytes_remainder", min_value=0, max_value=0),
        _between("token_shards.eos_present", "shards", "eos", min_value=1),
    ]
    if expected_tokens is not None:
        checks.append(
            _between("token_shards.total_tokens_match", "facts", "tokens_minus_expected", min_value=0, max_value=0)
        )
    if expected_documents is not None:
        # packing may end on a document without its EOS: allow one missing
        checks.append(
            _between("token_shards.eos_match_documents", "facts", "eos_minus_documents", min_value=-1, max_value=0)
        )
    return Contract("token_shards", frames, checks, total, total, id_column="sequence")
