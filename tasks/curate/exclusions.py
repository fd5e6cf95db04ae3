"""Exclusion samples: a seeded sample of the documents each curate step removed, with why.

datatrove keeps an exclusion writer per filter so that a researcher can read what a rule
dropped; winnow keeps a bounded sample instead of every removed document. After each step
of the curate pipeline, `ExclusionSampler.record` takes the step's removed ids (its input
minus its output), gives each its reason — the first filter rule it failed, the dedup mode
and the kept duplicate it lost to, the eval task and item it matched, the selection score,
the budget — and keeps, per reason, the `n` documents first in hash(doc_id, seed) order
(the same documents on every rerun). `write` puts them in `datasets/<key>/exclusions.parquet`.

Cost: one anti-join and one window over the removed ids per step (no text is read except
for the sampled rows); storage is at most n rows per reason with the first `MAX_TEXT_CHARS`
characters of each text, so it does not grow with the number of documents (see
docs/inspect.md for the measured size).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.sqlfiles import Sql, join_sql, load_sql, render_sql, sql_fragment, string_literal

SAMPLE_N = 20  # documents kept per reason
SAMPLE_SEED = 0
MAX_TEXT_CHARS = 2000  # of each removed document's text; the full length is kept too
KEPT_TEXT_CHARS = 500  # of the kept duplicate's text, for dedup
FILE = "exclusions.parquet"

EXCLUSIONS_SCHEMA = pa.schema(
    [
        ("step", pa.string()),  # the curate step: language, filters, dedup, decontaminate, selection, budget
        ("reason", pa.string()),  # e.g. fineweb.line_punct_ratio, dedup.minhash, decontaminate.arc_easy
        ("removed_for_reason", pa.int64()),  # every document removed for this reason (not only the sample)
        ("sample_rank", pa.int32()),  # 1..n in the seeded order
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("domain", pa.string()),
        ("language", pa.string()),
        ("text", pa.string()),  # the first MAX_TEXT_CHARS characters
        ("text_chars", pa.int64()),
        ("signals", pa.string()),  # JSON: the signal values the reason is about
        ("detail", pa.string()),  # JSON: what the step knows (kept duplicate, eval item, score, ...)
    ]
)

# Signal columns shown for a reason when its predicate names none (language, budget, ...).
_STEP_SIGNALS = {
    "language": ["language", "language_score"],
    "dedup": ["n_chars", "n_words"],
    "decontaminate": ["n_chars", "n_words"],
    "selection": ["n_chars", "n_words"],
    "budget": ["n_chars"],
}


@dataclass(frozen=True)
class SampleConfig:
    n: int = SAMPLE_N
    seed: int = SAMPLE_SEED

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"exclusion sample size must be >= 0, got {self.n}")


def rule_signal_columns(predicate: str, columns: list[str]) -> list[str]:
    """The signal columns a filter predicate reads (word match against the schema)."""
    return [c for c in columns if re.search(rf"\b{re.escape(c)}\b", predicate)]


def first_fail_whens(rules) -> Sql:
    """The branches of a CASE naming the first rule (by key) a document fails, in the
    recipe's order (sql/inspect/filter_reasons.sql)."""
    from tasks.signals.filters import keep_predicate

    return join_sql(
        (
            sql_fragment(
                "curate/fragments/rule_first_fail", keep=keep_predicate(r.predicate), order=string_literal(r.key)
            )
            for r in rules
        ),
        " ",
    )


class ExclusionSampler:
    """Collects the sampled exclusions of one curate run (see the module docstring)."""

    def __init__(self, con, config: SampleConfig | None = None, rule_columns: dict[str, list[str]] | None = None):
        self.con = con
        self.config = config or SampleConfig()
        self.rule_columns = rule_columns or {}  # reason -> signal columns to show
        self.rows: list[dict[str, Any]] = []  # complete rows (after `table()` / `write()`)
        self.removed: dict[str, int] = {}  # reason -> documents removed
        self._pending: list[tuple[str, dict[str, Any], list[str]]] = []  # sampled, not yet looked up

    def record(self, step: str, before: str, after: str, explained: Explained | None) -> None:
        """Sample what `step` removed: ids in table `before` and not in table `after`."""
        if self.config.n == 0:
            return
        table = explained.table if explained is not None else None
        if table is None or table.num_rows == 0:
            table = pa.table({"doc_id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
        if table.num_columns == 2:  # the sample query needs one detail column, even an empty one
            table = table.append_column("note", pa.nulls(table.num_rows, pa.string()))
        default_reason = (explained.default_reason if explained is not None else None) or step
        self.con.register("_explained", table)
        try:
            sampled = self.con.sql(
                render_sql("inspect/sample_removed", before=before, after=after),
                params={"n": self.config.n, "seed": str(self.config.seed), "default_reason": default_reason},
            ).to_arrow_table()
        finally:
            self.con.unregister("_explained")
        if sampled.num_rows == 0:
            return
        extra = [c for c in sampled.column_names if c not in ("doc_id", "reason", "removed_for_reason", "sample_rank")]
        for r in sampled.to_pylist():
            self.removed[r["reason"]] = int(r["removed_for_reason"])
            self._pending.append((step, r, extra))

    def record_rewritten(self, step: str, explained: Explained | None) -> None:
        """Sample the documents `step` kept but rewrote (`explained.rewritten`), per reason."""
        table = explained.rewritten if explained is not None else None
        if self.config.n == 0 or table is None or table.num_rows == 0:
            return
        self.con.register("_rewritten", table)
        try:
            sampled = self.con.sql(
                load_sql("inspect/sample_rewritten"), params={"n": self.config.n, "seed": str(self.config.seed)}
            ).to_arrow_table()
        finally:
            self.con.unregister("_rewritten")
        extra = [c for c in sampled.column_names if c not in ("doc_id", "reason", "removed_for_reason", "sample_rank")]
        for r in sampled.to_pylist():
            self.removed[r["reason"]] = int(r["removed_for_reason"])
            self._pending.append((step, r, extra))

    def _resolve(self) -> None:
        """Texts, signals, kept duplicates and eval items of every sampled row, looked up
        once per curate run (one scan of the documents, not one per step)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        kept_ids = [r["kept_doc_id"] for _, r, _ in pending if r.get("kept_doc_id")]
        docs = self._documents(sorted({r["doc_id"] for _, r, _ in pending} | set(kept_ids)))
        items = _eval_item_texts(
            {(r["task"], r["item_id"]) for _, r, _ in pending if r.get("task") and r.get("item_id")}
        )
        for step, r, extra in pending:
            d = docs.get(r["doc_id"], {})
            signals = json.loads(d.get("signals") or "{}")
            cols = self.rule_columns.get(r["reason"]) or _STEP_SIGNALS.get(step, ["n_chars", "n_words"])
            detail = {c: _clean(r[c]) for c in extra if r[c] is not None and c != "note"}
            kept = docs.get(r.get("kept_doc_id") or "")
            if kept:
                detail["kept_url"], detail["kept_text"] = kept["url"], (kept["text"] or "")[:KEPT_TEXT_CHARS]
            if (r.get("task"), r.get("item_id")) in items:
                detail["item_text"] = items[(r["task"], r["item_id"])]
            self.rows.append(
                {
                    "step": step,
                    "reason": r["reason"],
                    "removed_for_reason": int(r["removed_for_reason"]),
                    "sample_rank": int(r["sample_rank"]),
                    "doc_id": r["doc_id"],
                    "source": d.get("source"),
                    "url": d.get("url"),
                    "domain": d.get("domain"),
                    "language": d.get("language"),
                    "text": d.get("text"),
                    "text_chars": d.get("text_chars"),
                    "signals": json.dumps({c: _clean(signals.get(c)) for c in cols}),
                    "detail": json.dumps(detail, default=str),
                }
            )

    def _documents(self, ids: list[str]) -> dict[str, dict]:
        self.con.register("_sampled_ids", pa.table({"doc_id": pa.array(ids, pa.string())}))
        try:
            t = self.con.sql(load_sql("inspect/sampled_docs"), params={"max_chars": MAX_TEXT_CHARS}).to_arrow_table()
        finally:
            self.con.unregister("_sampled_ids")
        return {r["doc_id"]: r for r in t.to_pylist()}

    def table(self) -> pa.Table:
        self._resolve()
        return pa.Table.from_pylist(self.rows, schema=EXCLUSIONS_SCHEMA)

    def write(self, folder: Path) -> Path:
        """`folder/exclusions.parquet` (written whole, then moved into place)."""
        path = Path(folder) / FILE
        tmp = path.with_name(f".{FILE}.tmp")
        pq.write_table(self.table(), tmp, compression="zstd")
        tmp.replace(path)
        return path


@dataclass(frozen=True)
class Explained:
    """A step's explanation of its removals: `table` has doc_id, reason and any detail
    columns (kept_doc_id, task, item_id, score, ...); `default_reason` names the removed
    documents the table does not list (the step's name when None)."""

    table: pa.Table
    default_reason: str | None = None
    # documents the step kept but cut text out of (doc_id, reason, detail columns), sampled
    # like removals so that removed spans can be read too (dedup.substring.spans)
    rewritten: pa.Table | None = None


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, float):
        return round(v, 6)
    return v


def _eval_item_texts(keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The text of the eval items decontamination matched (first 500 characters)."""
    if not keys:
        return {}
    import pyarrow.compute as pc

    from tasks.decontam.index import default_eval_items

    items = default_eval_items()
    tasks = {t for t, _ in keys}
    items = items.filter(pc.is_in(items.column("task"), value_set=pa.array(sorted(tasks), pa.string())))
    out = {}
    for r in items.to_pylist():
        k = (r["task"], str(r["item_id"]))
        if k in keys:
            out[k] = (r["text"] or "")[:KEPT_TEXT_CHARS]
    return out


# ---------------------------------------------------------------- reading


def read_exclusions(dataset_dir: Path) -> pa.Table:
    path = Path(dataset_dir) / FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no exclusion sample (the dataset was curated before samples were kept); "
            "rerun with `python -m flows.ablation --force datasets` or `python -m flows.curate RECIPE`"
        )
    return pq.read_table(path)


def matches_step(reason: str, step: str, wanted: str) -> bool:
    """`--step X` selects a step (dedup), a filter (fineweb) or one reason (fineweb.line_punct_ratio)."""
    return wanted in (step, reason) or reason.startswith(wanted + ".")


# ---------------------------------------------------------------- rendering

SNIPPET_CHARS = 300  # of each text in the markdown view


def select(table: pa.Table, step: str | None = None, n: int | None = None) -> list[dict[str, Any]]:
    """The sampled rows, optionally of one step/filter/reason, at most `n` per reason."""
    rows = table.to_pylist()
    if step:
        rows = [r for r in rows if matches_step(r["reason"], r["step"], step)]
        if not rows:
            known = sorted({r["reason"] for r in table.to_pylist()})
            raise LookupError(f"no exclusions for --step {step!r}; reasons sampled: {', '.join(known) or 'none'}")
    if n is not None:
        rows = [r for r in rows if r["sample_rank"] <= n]
    return rows


def _snippet(text: str | None, chars: int = SNIPPET_CHARS) -> str:
    t = " ".join((text or "").split())
    return t[:chars] + ("…" if len(t) > chars else "")


def to_markdown(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"# {title}", ""]
    if not rows:
        return "\n".join(lines + ["Nothing was removed.", ""])
    reasons: dict[str, list[dict]] = {}
    for r in rows:
        reasons.setdefault(r["reason"], []).append(r)
    lines += ["| step | reason | removed | sampled |", "|---|---|---:|---:|"]
    lines += [f"| {g[0]['step']} | {k} | {g[0]['removed_for_reason']:,} | {len(g)} |" for k, g in reasons.items()]
    for reason, group in reasons.items():
        lines += ["", f"## {group[0]['step']} · {reason} — {group[0]['removed_for_reason']:,} removed", ""]
        for r in group:
            signals = json.loads(r["signals"] or "{}")
            detail = json.loads(r["detail"] or "{}")
            head = f"{r['sample_rank']}. `{r['doc_id']}` {r['source'] or ''} {r['url'] or ''}".rstrip()
            lines.append(f"{head} ({r['language'] or '?'}, {r['text_chars'] or 0:,} chars)")
            if signals:
                lines.append("   - signals: " + ", ".join(f"{k}={_fmt(v)}" for k, v in signals.items()))
            if "kept_doc_id" in detail or "cluster_size" in detail:
                kept = detail.get("kept_doc_id")
                who = (
                    f"`{kept}` {detail.get('kept_url') or ''}".rstrip() if kept else "a document of an earlier dataset"
                )
                lines.append(f"   - lost to {who} (cluster of {detail.get('cluster_size')})")
                if detail.get("kept_text"):
                    lines.append(f"   - kept text: {_snippet(detail['kept_text'], 160)}")
            if "task" in detail:
                lines.append(
                    f"   - matched {detail['task']} item {detail.get('item_id')} "
                    f"({detail.get('n_matches')} n-grams): {_snippet(detail.get('item_text'), 160)}"
                )
            rest = {k: v for k, v in detail.items() if k not in _SHOWN_DETAIL}
            if rest:
                lines.append("   - " + ", ".join(f"{k}={_fmt(v)}" for k, v in rest.items()))
            lines.append(f"   > {_snippet(r['text'])}")
    return "\n".join(lines) + "\n"


_SHOWN_DETAIL = {"kept_doc_id", "kept_url", "kept_text", "cluster_size", "task", "item_id", "n_matches", "item_text"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def to_json(rows: list[dict[str, Any]]) -> str:
    out = [{**r, "signals": json.loads(r["signals"] or "{}"), "detail": json.loads(r["detail"] or "{}")} for r in rows]
    return json.dumps(out, indent=2, ensure_ascii=False)
