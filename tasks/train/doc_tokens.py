"""Real token counts per document with the suite tokenizer, so budgets are cut in tokens
the model will see, not in a chars/4 estimate.

A document counts `len(encode(text)) + 1` tokens (its EOS), or 0 when it encodes to
nothing: exactly what tasks/train/tokens.py `tokenize_part` writes for it, so a dataset
cut to B counted tokens packs to B tokens (less the tail shorter than one sequence).

Counts are computed once per (source documents, tokenizer) and kept as a column
(`doc_tokens/<docs_hash16>-<tokenizer_hash16>/counts.parquet`: doc_id, n_tokens); every
arm and every rung of a ladder reads the same file. Documents whose text a curate step
rewrote (line dedup, masking) are recounted on the fly with `count_texts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.docsref import DocsRef
from tasks.core.hashing import short
from tasks.core.workspace import Workspace

COUNTS_VERSION = "doc-tokens-1"
_BATCH = 1024


@dataclass(frozen=True)
class SuiteTokenizer:
    """The tokenizer that counts budgets: its folder, content hash and vocabulary."""

    folder: Path
    digest: str
    vocab_size: int

    def load(self):
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(self.folder / "tokenizer.json"))


def suite_tokenizer(workspace: Workspace, vocab_size: int) -> SuiteTokenizer:
    """The suite tokenizer for `vocab_size` (trained once, cached: tasks/train/tokenizer.py)."""
    from tasks.train.tokenizer import build_tokenizer

    digest, folder = build_tokenizer(workspace, vocab_size)
    return SuiteTokenizer(Path(folder), digest, vocab_size)


def count_texts(tokenizer, texts: list[str | None]) -> np.ndarray:
    """Tokens per text as packed: encoded length + 1 for EOS, 0 for empty or null text."""
    out = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _BATCH):
        batch = [t if isinstance(t, str) else "" for t in texts[start : start + _BATCH]]
        for j, enc in enumerate(tokenizer.encode_batch(batch, add_special_tokens=False)):
            n = len(enc.ids)
            out[start + j] = n + 1 if n else 0
    return out


def counts_key(docs: DocsRef, tok: SuiteTokenizer) -> str:
    return counts_key_of(docs.docs_hash, tok.digest)


def counts_key_of(docs_hash: str, tokenizer_hash: str) -> str:
    return f"{short(docs_hash)}-{short(tokenizer_hash)}"


def stored_counts(workspace: Workspace, docs_hash: str, tokenizer_hash: str) -> Path | None:
    """The counts file of one source under one tokenizer if a curate run wrote it, else
    None (computes nothing: for readers such as flows.diff)."""
    key = counts_key_of(docs_hash, tokenizer_hash)
    path = workspace.stage_dir("doc_tokens", key) / "counts.parquet"
    return path if workspace.is_done("doc_tokens", key) and path.exists() else None


def dataset_token_counts(
    workspace: Workspace, parts: Sequence[Path], docs: Sequence[DocsRef], tokenizer_hash: str
) -> pa.Table | None:
    """doc_id, n_tokens (one copy, EOS included) of every document of a dataset's `parts`
    under the tokenizer `tokenizer_hash`: the counts curate stored for `docs` where the
    dataset's text is its source's, the rest (text a curate step rewrote, or a source
    without stored counts) encoded here. These are the counts curate's mixer and budget cut
    with. None when some text needs encoding and the tokenizer is not in the workspace."""
    import duckdb

    from tasks.core.sqlfiles import render_sql, string_list

    shards, counts_files = [], []
    for ref in docs:
        path = stored_counts(workspace, ref.docs_hash, tokenizer_hash)
        if path is not None:
            shards += list(ref.shards)
            counts_files.append(path)
    if counts_files:
        sql = render_sql(
            "inspect/diff_stored_tokens",
            dataset=string_list(list(parts)),
            docs=string_list(shards),
            counts=string_list(counts_files),
        )
        with duckdb.connect() as con:
            table = con.sql(sql).to_arrow_table()
    else:
        table = pa.concat_tables([pq.read_table(p, columns=["doc_id", "text"]) for p in parts])
        table = table.append_column("n_tokens", pa.nulls(table.num_rows, pa.int64()))
    stored = table.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.float64)  # NaN: to encode
    todo = np.flatnonzero(np.isnan(stored))
    n = np.nan_to_num(stored).astype(np.int64)
    if len(todo):
        folder = workspace.stage_dir("tokenizers", short(tokenizer_hash))
        if not (folder / "tokenizer.json").exists():
            return None
        tok = SuiteTokenizer(folder, tokenizer_hash, 0).load()
        n[todo] = count_texts(tok, table.column("text").take(pa.array(todo)).to_pylist())
    out = pa.table({"doc_id": table.column("doc_id"), "n_tokens": pa.array(n, pa.int64())})
    per_doc = out.group_by("doc_id").aggregate([("n_tokens", "max")])  # a document in two phases: one count
    return pa.table({"doc_id": per_doc.column("doc_id"), "n_tokens": per_doc.column("n_tokens_max")})


def doc_token_counts(workspace: Workspace, docs: DocsRef, tok: SuiteTokenizer) -> Path:
    """The counts file of one source under one tokenizer (computed on first use)."""
    key = counts_key(docs, tok)
    folder = workspace.stage_dir("doc_tokens", key)
    path = folder / "counts.parquet"
    if workspace.is_done("doc_tokens", key) and path.exists():
        return path
    with workspace.claim("doc_tokens", key) as claim:  # concurrent arms of one source: one counts
        if claim.todo or not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tokenizer = tok.load()
            ids, counts = [], []
            for shard in docs.shards:
                pf = pq.ParquetFile(shard)
                for batch in pf.iter_batches(batch_size=8192, columns=["doc_id", "text"]):
                    ids.append(batch.column("doc_id"))
                    counts.append(count_texts(tokenizer, batch.column("text").to_pylist()))
            table = pa.table(
                {
                    "doc_id": pa.chunked_array(ids, pa.string()) if ids else pa.array([], pa.string()),
                    "n_tokens": pa.array(np.concatenate(counts) if counts else np.zeros(0, np.int64), pa.int64()),
                }
            )
            tmp = folder / ".counts.parquet.tmp"
            pq.write_table(table, tmp)
            tmp.replace(path)
            workspace.mark_done(
                "doc_tokens",
                key,
                {
                    "source": docs.name,
                    "docs_hash": docs.docs_hash,
                    "tokenizer_hash": tok.digest,
                    "documents": table.num_rows,
                    "tokens": int(pa.compute.sum(table.column("n_tokens")).as_py() or 0),
                    "version": COUNTS_VERSION,
                },
            )
    return path
