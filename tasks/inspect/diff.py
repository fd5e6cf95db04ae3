"""Arm diff: which documents one arm's dataset holds and another's does not.

For datasets A and B: the documents only in A and only in B, each side counted by source,
URL domain and language with its tokens, the share of the side's tokens they make up, and
a seeded sample of each side to read. Tokens are real tokens of the suite tokenizer that
cut the dataset (recorded in its stats.json), times repeats, as the budget counted them;
only a dataset without a recorded tokenizer falls back to characters / 4, and says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.sqlfiles import Sql, ident, load_sql, number_literal, render_sql, string_list
from tasks.core.workspace import SUCCESS, Workspace
from tasks.curate.steps import CHARS_PER_TOKEN
from tasks.inspect.resolve import FoundDataset

TOP = 10  # groups shown per breakdown
SNIPPET_CHARS = 300


@dataclass
class Group:
    value: str
    documents: int
    tokens: float


@dataclass
class Side:
    label: str  # the arm (or dataset) this side is
    key: str
    documents: int  # in the whole dataset
    tokens: float
    only_documents: int  # not in the other dataset
    only_tokens: float
    by_source: list[Group] = field(default_factory=list)
    by_domain: list[Group] = field(default_factory=list)
    by_language: list[Group] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    token_unit: str = "estimated tokens (characters / 4)"

    @property
    def only_token_share(self) -> float:
        return self.only_tokens / self.tokens if self.tokens else 0.0


@dataclass
class ArmDiff:
    a: Side
    b: Side
    common_documents: int

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["a"]["only_token_share"] = self.a.only_token_share
        out["b"]["only_token_share"] = self.b.only_token_share
        return out


def _files(ref: FoundDataset) -> Sql:
    parts = sorted(ref.dir.glob("part-*.parquet"))
    if not parts:
        raise FileNotFoundError(f"dataset {ref.key} ({ref.dir}) has no part files")
    return string_list(parts)


def _signal_files(ws: Workspace, refs: list[FoundDataset]) -> list[str]:
    files = []
    for ref in refs:
        for key in json.loads((ref.dir / "_SUCCESS").read_text()).get("signals", []):
            if ws.is_done("signals", key):
                info = ws.read_done("signals", key)
                files += [str(ws.stage_dir("signals", key) / s) for s in info["shards"]]
    return sorted(set(files))


def _stored_sources(ws: Workspace, ref: FoundDataset, tokenizer_hash: str) -> tuple[list[Path], list[Path]]:
    """(source shards, stored counts files): for each source of the dataset whose documents
    and curate-time token counts under `tokenizer_hash` (tasks/train/doc_tokens.py) are
    still in the workspace."""
    from tasks.train.doc_tokens import stored_counts

    shards_by_hash: dict[str, list[Path]] = {}
    for marker in (ws.root / "docs").glob(f"*/{SUCCESS}"):
        info = json.loads(marker.read_text())
        shards_by_hash.setdefault(str(info.get("docs_hash")), [marker.parent / s for s in info.get("shards", [])])
    shards, counts = [], []
    for key in json.loads((ref.dir / SUCCESS).read_text()).get("signals", []):
        if not ws.is_done("signals", key):
            continue
        docs_hash = str(ws.read_done("signals", key).get("docs_hash"))
        path = stored_counts(ws, docs_hash, tokenizer_hash)
        if path is not None and shards_by_hash.get(docs_hash):
            shards += shards_by_hash[docs_hash]
            counts.append(path)
    return shards, counts


def real_token_counts(ws: Workspace, ref: FoundDataset) -> pa.Table | None:
    """doc_id -> tokens (encoded text + EOS, times repeats) with the tokenizer that cut the
    dataset's budget, or None when the dataset records none (or its folder is gone).

    The counts curate stored per source document are read where the document's text is
    the source's (encoding is the slow part); a document a curate step rewrote, or one of
    a source without stored counts, is encoded here."""
    from tasks.train.doc_tokens import count_texts

    info = ref.stats.get("tokenizer") or {}
    digest = str(info.get("hash") or "")
    if not digest:
        return None
    parts = sorted(ref.dir.glob("part-*.parquet"))
    shards, counts_files = _stored_sources(ws, ref, digest)
    if counts_files:
        sql = render_sql(
            "inspect/diff_stored_tokens",
            dataset=string_list(parts),
            docs=string_list(shards),
            counts=string_list(counts_files),
        )
        with duckdb.connect() as con:
            table = con.sql(sql).to_arrow_table()
    else:
        table = pa.concat_tables([pq.read_table(p, columns=["doc_id", "text", "repeat"]) for p in parts])
        table = table.append_column("n_tokens", pa.nulls(table.num_rows, pa.int64()))
    stored = table.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.float64)  # NaN: to count
    todo = np.flatnonzero(np.isnan(stored))
    n = np.nan_to_num(stored).astype(np.int64)
    if len(todo):
        folder = ws.stage_dir("tokenizers", digest[:16])
        if not (folder / "tokenizer.json").exists():
            return None
        from tokenizers import Tokenizer

        texts = table.column("text").take(pa.array(todo)).to_pylist()
        n[todo] = count_texts(Tokenizer.from_file(str(folder / "tokenizer.json")), texts)
    repeats = [r if r is not None else 1 for r in table.column("repeat").to_pylist()]
    return pa.table({"doc_id": table.column("doc_id"), "tokens": n * repeats})


def _token_table(con: duckdb.DuckDBPyConnection, ws: Workspace, ref: FoundDataset, name: str) -> str:
    """Register `name` (doc_id, tokens) for the SQL; returns the unit it counts in."""
    counts = real_token_counts(ws, ref)
    unit = f"real tokens (suite tokenizer, vocabulary {ref.stats.get('tokenizer', {}).get('vocab_size', 0):,})"
    if counts is None:
        counts, unit = pa.table({"doc_id": pa.array([], pa.string()), "tokens": pa.array([], pa.int64())}), ""
    con.register(name, counts)
    return unit


def diff_datasets(ws: Workspace, a: FoundDataset, b: FoundDataset, n: int = 5, seed: int = 0) -> ArmDiff:
    con = duckdb.connect()
    try:
        sig = _signal_files(ws, [a, b])
        per_token = number_literal(CHARS_PER_TOKEN, cast=None)
        if sig:
            con.execute(render_sql("inspect/diff_signals_view", files=string_list(sig)))
        else:
            con.execute(load_sql("inspect/diff_no_signals"))
        sides = []
        for this, other, table in ((a, b, "only_a"), (b, a, "only_b")):
            unit = _token_table(con, ws, this, f"{table}_tokens")
            sql = {"tokens": ident(f"{table}_tokens"), "chars_per_token": per_token}
            con.execute(render_sql("inspect/diff_only", out=table, this=_files(this), other=_files(other), **sql))
            docs, tokens = con.execute(render_sql("inspect/diff_totals", files=_files(this), **sql)).fetchall()[0]
            only_docs, only_tokens = con.execute(render_sql("inspect/diff_only_totals", table=table)).fetchall()[0]
            side = Side(this.label, this.key, int(docs), float(tokens), int(only_docs), float(only_tokens))
            side.token_unit = unit or side.token_unit
            for column in ("source", "domain", "language"):
                rows = con.execute(
                    render_sql("inspect/diff_groups", table=table, column=column), {"limit": TOP}
                ).fetchall()
                setattr(side, f"by_{column}", [Group(str(v), int(d), float(t)) for v, d, t in rows])
            cur = con.execute(
                render_sql("inspect/diff_sample", table=table),
                {"n": n, "seed": str(seed), "max_chars": SNIPPET_CHARS},
            )
            cols = [c[0] for c in cur.description]
            side.sample = [dict(zip(cols, r)) for r in cur.fetchall()]
            sides.append(side)
        common = sides[0].documents - sides[0].only_documents
    finally:
        con.close()
    return ArmDiff(sides[0], sides[1], int(common))


def to_markdown(d: ArmDiff) -> str:
    a, b = d.a, d.b
    lines = [
        f"# {a.label} vs {b.label}",
        "",
        f"{d.common_documents:,} documents in both. "
        f"Only in {a.label}: {a.only_documents:,} documents, {a.only_tokens:,.0f} tokens "
        f"({100 * a.only_token_share:.1f}% of its {a.tokens:,.0f}). "
        f"Only in {b.label}: {b.only_documents:,} documents, {b.only_tokens:,.0f} tokens "
        f"({100 * b.only_token_share:.1f}% of its {b.tokens:,.0f}).",
        "",
        "Tokens: "
        + (a.token_unit if a.token_unit == b.token_unit else f"{a.label}: {a.token_unit}; {b.label}: {b.token_unit}")
        + ".",
    ]
    for title, attr in (("source", "by_source"), ("URL domain", "by_domain"), ("language", "by_language")):
        lines += ["", f"## Only-in documents by {title}", ""]
        lines += [f"| {title} | only in {a.label}: docs | tokens | only in {b.label}: docs | tokens |"]
        lines += ["|---|---:|---:|---:|---:|"]
        ga = {g.value: g for g in getattr(a, attr)}
        gb = {g.value: g for g in getattr(b, attr)}
        for v in list(dict.fromkeys([*ga, *gb])):
            x, y = ga.get(v), gb.get(v)
            lines.append(
                f"| {v} | {x.documents if x else 0:,} | {x.tokens if x else 0:,.0f} "
                f"| {y.documents if y else 0:,} | {y.tokens if y else 0:,.0f} |"
            )
    for side in (a, b):
        lines += ["", f"## Sample only in {side.label}", ""]
        if not side.sample:
            lines.append("(none)")
        for i, r in enumerate(side.sample, 1):
            text = " ".join((r["text"] or "").split())
            lines.append(
                f"{i}. `{r['doc_id']}` {r['source']} {r['url'] or ''} ({r['language']}, {r['tokens']:,.0f} tokens)"
            )
            lines.append(f"   > {text[:SNIPPET_CHARS]}")
    return "\n".join(lines) + "\n"


def to_json(d: ArmDiff) -> str:
    return json.dumps(d.as_dict(), indent=2, ensure_ascii=False, default=str)
