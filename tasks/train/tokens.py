"""Token shards: a curated dataset tokenised, joined by EOS, packed into fixed-length
sequences in a memmap, shuffled with a seed, with the mixture plan honoured.

Two steps, so that the expensive one is parallel:
1. `tokenize_part(part, tokenizer_dir, out_dir)` — one call per dataset part file
   (the flow maps it over Dask workers): every document becomes its tokens + EOS,
   written as `docs/<part>.tokens.npy` (flat uint16/uint32) + `docs/<part>.index.parquet`
   (doc_id, source, repeat, phase, offset, n_tokens).
2. `pack(...)` — in one process: documents are expanded by their `repeat` count
   (upsampling), shuffled with the seed within their phase, concatenated and cut into
   `seq_len`-token sequences (the tail shorter than one sequence is dropped and
   counted), the sequences shuffled again within their phase, and phases laid out in
   PHASE order so that the "final" phase (an annealing mix) comes last.

Layout under `tokens/<dataset_hash16>-<tokenizer_hash16>/`:
  docs/…                          per-part token streams, `_SUCCESS` once all are done
  L<seq_len>-s<seed>/tokens.bin   (n_sequences, seq_len) uint16 if vocab < 65536 else uint32
  L<seq_len>-s<seed>/meta.json    n_tokens, n_sequences, seq_len, dtype, vocab_size, eos_id,
                                  per-source counts, phase blocks, …; `_SUCCESS` last.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.hashing import hash_file, hash_json, short
from tasks.core.workspace import SUCCESS, Workspace, write_json_atomic

TOKENS_VERSION = "pack-1"
DEFAULT_PHASE = "main"
_ENCODE_BATCH = 256


def phase_rank(phase: str) -> tuple[int, str]:
    """Order of phases in the token stream: main first, others by name, final last."""
    return (0 if phase == DEFAULT_PHASE else 2 if phase == "final" else 1, phase)


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)


def dataset_parts(dataset_dir: str | Path) -> list[Path]:
    parts = sorted(Path(dataset_dir).glob("part-*.parquet"))
    if not parts:
        raise FileNotFoundError(f"dataset {dataset_dir}: no part-*.parquet files")
    return parts


def dataset_hash(dataset_dir: str | Path) -> str:
    """Content hash of a dataset's part files (name + bytes), independent of where it lies."""
    return hash_json(sorted((p.name, hash_file(p)) for p in dataset_parts(dataset_dir)))


def tokens_key(dataset_digest: str, tokenizer_digest: str) -> str:
    return f"{short(dataset_digest)}-{short(tokenizer_digest)}"


# ---------------------------------------------------------------- step 1: per part


def tokenize_part(part: str | Path, tokenizer_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Tokenise one dataset part file; returns its summary (also written next to it).

    Idempotent: a part whose index file exists is not redone (files are published
    with an atomic rename, so an existing one is complete).
    """
    from tokenizers import Tokenizer

    part, out_dir = Path(part), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = part.name.removesuffix(".parquet")
    tokens_path, index_path = out_dir / f"{stem}.tokens.npy", out_dir / f"{stem}.index.parquet"
    summary_path = out_dir / f"{stem}.summary.json"
    if index_path.exists() and tokens_path.exists() and summary_path.exists():
        return json.loads(summary_path.read_text())

    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    eos_id = _eos_id(tokenizer_dir)
    dtype = dtype_for(tok.get_vocab_size())
    table = pq.read_table(part)
    missing = {"doc_id", "source", "text"} - set(table.column_names)
    if missing:
        raise ValueError(f"dataset part {part}: missing column(s) {', '.join(sorted(missing))}")
    n = table.num_rows
    texts = table.column("text").to_pylist()
    repeats = table.column("repeat").to_pylist() if "repeat" in table.column_names else [1] * n
    phases = table.column("phase").to_pylist() if "phase" in table.column_names else [None] * n

    chunks, lengths, bad = [], np.zeros(n, dtype=np.int64), 0
    for start in range(0, n, _ENCODE_BATCH):
        batch = texts[start : start + _ENCODE_BATCH]
        batch = [t if isinstance(t, str) else "" for t in batch]
        for j, enc in enumerate(tok.encode_batch(batch, add_special_tokens=False)):
            ids = enc.ids
            if not ids:  # empty or null text: nothing to learn, counted
                bad += 1
                continue
            ids.append(eos_id)
            lengths[start + j] = len(ids)
            chunks.append(np.asarray(ids, dtype=dtype))
    flat = np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if n else np.zeros(0, dtype=np.int64)

    rep = np.asarray([max(0, int(r)) if r is not None else 1 for r in repeats], dtype=np.int64)
    index = pa.table(
        {
            "doc_id": table.column("doc_id"),
            "source": table.column("source"),
            "repeat": pa.array(rep, pa.int64()),
            "phase": pa.array([p or DEFAULT_PHASE for p in phases], pa.string()),
            "offset": pa.array(offsets, pa.int64()),
            "n_tokens": pa.array(lengths, pa.int64()),
            "n_bytes": pa.array([len(t.encode("utf-8")) if isinstance(t, str) else 0 for t in texts], pa.int64()),
        }
    )
    tmp_tokens = out_dir / f".{stem}.tokens.{os.getpid()}.npy"
    np.save(tmp_tokens, flat)
    os.replace(tmp_tokens, tokens_path)
    tmp_index = out_dir / f".{stem}.index.{os.getpid()}.parquet"
    pq.write_table(index, tmp_index)
    os.replace(tmp_index, index_path)
    summary = {
        "part": part.name,
        "n_docs": n,
        "n_empty": bad,
        "n_tokens": int(flat.size),
        "n_bytes": int(index.column("n_bytes").to_numpy().sum()),
    }
    write_json_atomic(summary_path, summary)
    return summary


def _eos_id(tokenizer_dir: str | Path) -> int:
    from tokenizers import Tokenizer

    from tasks.train.tokenizer import EOS

    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    eos = tok.token_to_id(EOS)
    if eos is None:
        raise ValueError(f"tokenizer {tokenizer_dir} has no {EOS} token")
    return eos


# ---------------------------------------------------------------- step 2: pack


def pack(
    docs_dir: str | Path,
    out_dir: str | Path,
    seq_len: int,
    seed: int,
    vocab_size: int,
    eos_id: int,
    prefixes: list[list[np.ndarray]] | None = None,
    groups: list[list[str]] | None = None,
) -> dict[str, Any]:
    """Pack the tokenised parts in `docs_dir` into `out_dir/tokens.bin` + `meta.json`.

    `prefixes` (per part, per row: tokens put before the document, tasks/train/metadata.py)
    also writes `metadata.mask`, 1 where a position holds a prefix token. `groups` (per part,
    per row: a group name, tasks/train/online_mix.py) packs each group into its own block
    (`meta["groups"]`) instead of each phase."""
    docs_dir, out_dir = Path(docs_dir), Path(out_dir)
    index_files = sorted(docs_dir.glob("*.index.parquet"))
    if not index_files:
        raise FileNotFoundError(f"{docs_dir}: no tokenised parts (*.index.parquet)")
    dtype = dtype_for(vocab_size)
    streams = []  # per part: the flat token array (memory-mapped .npy)
    docs = []  # rows: (part_idx, offset, n_tokens, repeat, phase, source, n_bytes)
    for i, idx_path in enumerate(index_files):
        stem = idx_path.name.removesuffix(".index.parquet")
        streams.append(np.load(docs_dir / f"{stem}.tokens.npy", mmap_mode="r"))
        t = pq.read_table(idx_path).to_pydict()
        for j, (off, nt, rep, ph, src, nb) in enumerate(
            zip(t["offset"], t["n_tokens"], t["repeat"], t["phase"], t["source"], t["n_bytes"])
        ):
            if nt > 0 and rep > 0:
                docs.append((i, off, nt, rep, ph if groups is None else groups[i][j], src, nb, j))
    if groups is not None and len({p for ph in _phases_of(index_files) for p in ph}) > 1:
        raise ValueError(f"{docs_dir}: online mixing packs by group; a dataset with phases cannot use it")

    per_source: dict[str, dict[str, int]] = {}
    for _, _, nt, rep, _, src, nb, _ in docs:
        s = per_source.setdefault(src, {"docs": 0, "tokens": 0, "tokens_upsampled": 0, "bytes": 0})
        s["docs"] += 1
        s["tokens"] += nt
        s["tokens_upsampled"] += nt * rep
        s["bytes"] += nb

    rng = np.random.default_rng(seed)
    phases = sorted({d[4] for d in docs}, key=phase_rank)
    blocks, mask_blocks, phase_blocks, dropped, prefix_total = [], [], {}, 0, 0
    start_seq = 0
    for phase in phases:
        members = [d for d in docs if d[4] == phase]
        # Upsampling: each copy of a document is a separate item of the shuffle, so the
        # copies spread through the phase instead of sitting next to each other.
        order = np.repeat(np.arange(len(members)), [d[3] for d in members])
        rng.shuffle(order)
        pre = [prefixes[d[0]][d[7]] if prefixes else _NO_PREFIX for d in members]
        total = int(sum(members[k][2] + len(pre[k]) for k in order))
        prefix_total += sum(len(pre[k]) for k in order)
        n_seq = total // seq_len
        dropped += total - n_seq * seq_len
        stream = np.empty(n_seq * seq_len, dtype=dtype)
        marks = np.zeros(stream.size if prefixes else 0, dtype=np.uint8)
        pos = 0
        for k in order:
            if pos >= stream.size:
                break
            part_idx, off, nt, *_ = members[k]
            for piece, is_prefix in ((pre[k], 1), (streams[part_idx][off : off + nt], 0)):
                take = min(len(piece), stream.size - pos)
                stream[pos : pos + take] = piece[:take]
                if is_prefix:
                    marks[pos : pos + take] = 1
                pos += take
        perm = rng.permutation(n_seq)
        blocks.append(stream.reshape(n_seq, seq_len)[perm])
        if prefixes:
            mask_blocks.append(marks.reshape(n_seq, seq_len)[perm])
        phase_blocks[phase] = [start_seq, start_seq + n_seq]
        start_seq += n_seq

    n_sequences = start_seq
    if n_sequences == 0:
        raise ValueError(f"{docs_dir}: fewer than seq_len={seq_len} tokens in the dataset; nothing to pack")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".tokens.{os.getpid()}.bin"
    mm = np.memmap(tmp, dtype=dtype, mode="w+", shape=(n_sequences, seq_len))
    row = 0
    for seqs in blocks:
        mm[row : row + len(seqs)] = seqs
        row += len(seqs)
    mm.flush()
    del mm
    os.replace(tmp, out_dir / "tokens.bin")
    prefix_tokens = _write_mask(out_dir, mask_blocks, (n_sequences, seq_len)) if prefixes else 0
    meta = {
        "n_tokens": n_sequences * seq_len,
        "n_sequences": n_sequences,
        "seq_len": seq_len,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "eos_id": eos_id,
        "seed": seed,
        "n_docs": len(docs),
        "n_doc_copies": int(sum(d[3] for d in docs)),
        "tokens_dropped_tail": int(dropped),
        "per_source": per_source,
        "phases": phase_blocks if groups is None else {DEFAULT_PHASE: [0, n_sequences]},
        "version": TOKENS_VERSION,
    }
    if groups is not None:
        meta["groups"] = phase_blocks
    if prefixes:
        meta["metadata_tokens"] = prefix_tokens  # positions holding a prefix (loss-masked)
        meta["metadata_tokens_total"] = int(prefix_total)  # the dropped tail's included
    write_json_atomic(out_dir / "meta.json", meta)
    write_json_atomic(out_dir / SUCCESS, {"n_sequences": n_sequences})
    return meta


_NO_PREFIX = np.zeros(0, dtype=np.int64)


def _phases_of(index_files: list[Path]) -> list[list[str]]:
    return [pq.read_table(p, columns=["phase"]).column("phase").unique().to_pylist() for p in index_files]


def _write_mask(out_dir: Path, mask_blocks: list[np.ndarray], shape: tuple[int, int]) -> int:
    """`metadata.mask` beside tokens.bin (same rows); returns how many positions are set."""
    tmp = out_dir / f".metadata.{os.getpid()}.mask"
    mm = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape)
    mm[:] = np.concatenate(mask_blocks) if mask_blocks else 0
    n = int(mm.sum(dtype=np.int64))
    mm.flush()
    del mm
    os.replace(tmp, out_dir / "metadata.mask")
    return n


def pack_dir(tokens_dir: Path, seq_len: int, seed: int, variant: str = "") -> Path:
    """`L<seq_len>-s<seed>`, plus `-<variant>` for a metadata or grouped packing."""
    return tokens_dir / (f"L{seq_len}-s{seed}" + (f"-{variant}" if variant else ""))


def load_tokens(packed_dir: str | Path) -> tuple[np.memmap, dict[str, Any]]:
    """The packed sequences (read-only memmap, shape (n_sequences, seq_len)) and meta."""
    packed_dir = Path(packed_dir)
    meta = json.loads((packed_dir / "meta.json").read_text())
    data = np.memmap(
        packed_dir / "tokens.bin", dtype=np.dtype(meta["dtype"]), mode="r", shape=(meta["n_sequences"], meta["seq_len"])
    )
    return data, meta


def tokenize_dataset(
    workspace: Workspace,
    dataset_dir: str | Path,
    tokenizer_dir: str | Path,
    seq_len: int,
    seed: int,
    dataset_digest: str | None = None,
    tokenizer_digest: str | None = None,
    part_mapper=None,
    metadata: str | None = None,
    group_by: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Both steps, cached in the workspace. `part_mapper(parts, tokenizer_dir, docs_dir)`
    runs step 1 over the parts (the flow passes a Dask map); default: in this process.
    `metadata` ("url" | "domain") packs each document behind its metadata prefix, `group_by`
    ("source" | "domain") packs each group apart; each is its own packed folder beside the
    plain one, which stays as it was."""
    from tasks.train.tokenizer import tokenizer_hash_of

    dataset_digest = dataset_digest or dataset_hash(dataset_dir)
    tokenizer_digest = tokenizer_digest or tokenizer_hash_of(tokenizer_dir)
    key = tokens_key(dataset_digest, tokenizer_digest)
    root = workspace.stage_dir("tokens", key)
    # Claimed as a whole (step 1 and every packing): a concurrent suite waits, then reuses.
    with workspace.claim("tokens", key):
        docs_dir = root / "docs"
        if not (docs_dir / SUCCESS).exists():
            parts = dataset_parts(dataset_dir)
            if part_mapper is None:
                summaries = [tokenize_part(p, tokenizer_dir, docs_dir) for p in parts]
            else:
                summaries = part_mapper(parts, tokenizer_dir, docs_dir)
            write_json_atomic(
                docs_dir / SUCCESS,
                {
                    "dataset_hash": dataset_digest,
                    "tokenizer_hash": tokenizer_digest,
                    "parts": summaries,
                    "n_tokens": sum(s["n_tokens"] for s in summaries),
                },
            )
        variant = "-".join(v for v in (metadata and f"meta_{metadata}", group_by and f"by_{group_by}") if v)
        out = pack_dir(root, seq_len, seed, variant)
        if (out / SUCCESS).exists():
            meta = json.loads((out / "meta.json").read_text())
        else:
            meta = _pack_variant(dataset_dir, docs_dir, out, tokenizer_dir, seq_len, seed, metadata, group_by)
        meta = dict(meta, tokens_key=key, dataset_hash=dataset_digest, tokenizer_hash=tokenizer_digest)
        meta["pack_variant"] = variant
        if not (root / SUCCESS).exists():
            workspace.mark_done("tokens", key, {"dataset_hash": dataset_digest, "tokenizer_hash": tokenizer_digest})
    return out, meta


def _pack_variant(
    dataset_dir, docs_dir: Path, out: Path, tokenizer_dir, seq_len: int, seed: int, metadata, group_by
) -> dict[str, Any]:
    from tokenizers import Tokenizer

    from tasks.train.metadata import prefix_tokens
    from tasks.train.online_mix import group_labels

    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    parts = dataset_parts(dataset_dir)
    prefixes = prefix_tokens(parts, tok, metadata) if metadata else None
    groups = group_labels(parts, group_by) if group_by else None
    return pack(docs_dir, out, seq_len, seed, tok.get_vocab_size(), _eos_id(tokenizer_dir), prefixes, groups)


def training_order(meta: dict[str, Any], n_needed: int, seed: int) -> np.ndarray:
    """Indices of the sequences to train on, in order, for `n_needed` sequences.

    Every phase gets its share of the budget (its fraction of the packed sequences) and
    the phases follow each other in PHASE order, so a run shorter than one epoch still
    ends on the "final" mix, and a longer one repeats each phase's sequences (epochs,
    reshuffled per epoch) before moving on. Deterministic in (meta, n_needed, seed).
    """
    n_total = meta["n_sequences"]
    blocks = sorted(meta.get("phases", {"main": [0, n_total]}).items(), key=lambda kv: phase_rank(kv[0]))
    sizes = [b - a for _, (a, b) in blocks]
    shares = _apportion(n_needed, sizes)
    out = []
    for (_, (a, b)), share in zip(blocks, shares):
        size = b - a
        full, rest = divmod(share, size) if size else (0, 0)
        for epoch in range(full + (1 if rest else 0)):
            # Epoch 0 keeps the packed (already shuffled) order; later epochs reshuffle.
            perm = np.arange(size) if epoch == 0 else np.random.default_rng([seed, epoch]).permutation(size)
            out.append(a + (perm if epoch < full else perm[:rest]))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def _apportion(n: int, sizes: Sequence[int]) -> list[int]:
    """Split n proportionally to sizes (largest remainder), summing exactly to n."""
    total = sum(sizes)
    raw = [n * s / total for s in sizes]
    shares = [int(r) for r in raw]
    for i in sorted(range(len(sizes)), key=lambda i: raw[i] - shares[i], reverse=True)[: n - sum(shares)]:
        shares[i] += 1
    return shares
