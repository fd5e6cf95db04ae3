"""The dataset contract (a recipe's dataset), plain or with a recipe's bounds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.sqlfiles import load_sql
from tasks.validation.contracts._inputs import (
    _as_table,
    _between,
    _duck,
    _gx,
    _keep_per_million,
    _parquet_files,
)
from tasks.validation.model import (
    Check,
    Contract,
)


def dataset_contract(
    dataset: pa.Table | str | Path | Sequence[str | Path],
    *,
    source_docs: Mapping[str, pa.Table | str | Path | Sequence[str | Path]] | None = None,
    token_budget: int | None = None,
    chars_per_token: float = 4.0,
    budget_slack: float = 0.05,
    allowed_languages: Iterable[str] | None = None,
    mixture_weights: Mapping[str, float] | None = None,
    mixture_tolerance: float = 0.05,
    phase_weights: Mapping[str, Mapping[str, float]] | None = None,
    default_weight: float = 0.0,
    group_by: str = "source",
    groups: pa.Table | None = None,
    doc_tokens: pa.Table | None = None,
    max_duplicate_rate: float | None = 0.0,
    eval_index: Any | None = None,
    min_overlaps: int = 1,
    max_rows: int | None = 1_000_000,
) -> Contract:
    """Contract on a recipe's dataset (doc_id, source, url, text, repeat[, phase]).

    `source_docs`: source name -> its documents (for `id_from_its_source` and languages);
    `eval_index`: a tasks.decontam.index.NgramIndex (for `decontaminated`).

    The mixture (`mixture_weights` over the whole dataset, or `phase_weights` per value of
    its `phase` column; groups missing from the weights weigh `default_weight`) is measured
    in the unit the mixer filled it in (tasks/selection/mixing.py): real tokens per copy
    when `doc_tokens` (doc_id, n_tokens) is given, else characters. Groups are the values
    of `group_by`: a dataset column (source), else `groups` (doc_id, <group_by>: topics),
    else that column of the source documents (domain)."""
    table = _with_overlap(_as_table(dataset), eval_index)
    n_rows = table.num_rows
    rows, facts = _rows_and_facts(table, _source_rows(source_docs), max_rows, chars_per_token)
    frames: dict[str, pd.DataFrame] = {"rows": rows, "facts": pd.DataFrame([facts])}
    checks = [
        *_row_checks(source_docs is not None, allowed_languages, eval_index is not None, min_overlaps),
        *_fact_checks(token_budget, budget_slack, max_duplicate_rate),
    ]
    asked = _asked_weights(mixture_weights, phase_weights)
    if asked:
        units, unit = _mixture_units(table, doc_tokens)
        mix_rows = pa.table(
            {
                "phase": _phases(table, asked),
                "group": _mixture_groups(table, group_by, groups, source_docs),
                "units": units,
                "repeat": table["repeat"],
            }
        )
        con = _duck(mixture_rows=mix_rows)
        realised = con.execute(load_sql("validation/dataset_mixture")).df()
        con.close()
        frames["mixture"] = _mixture_frame(realised, asked, default_weight, unit, group_by)
        checks.append(
            _between(
                "dataset.mixture_as_asked",
                "mixture",
                f"{unit}_share_deviation",
                min_value=0.0,
                max_value=mixture_tolerance,
            )
        )
    return Contract("dataset", frames, checks, n_rows, min(n_rows, len(rows)))


def _with_overlap(table: pa.Table, eval_index: Any | None) -> pa.Table:
    """The dataset with `repeat` (1 when absent) and `eval_overlap` (matching eval n-grams
    per row; 0 without an index)."""
    n_rows = table.num_rows
    if "repeat" not in table.column_names:
        table = table.append_column("repeat", pa.array(np.ones(n_rows, np.int64)))
    if eval_index is not None:
        from tasks.decontam.decontaminate import scan_table

        overlap = scan_table(table, eval_index).n_matches
    else:
        overlap = np.zeros(n_rows, np.int64)
    return table.append_column("eval_overlap", pa.array(overlap))


def _source_rows(source_docs: Mapping[str, pa.Table | str | Path | Sequence[str | Path]] | None) -> pa.Table:
    """(doc_id, source, language) of every source document (empty without sources)."""
    src_parts = []
    for name, docs in (source_docs or {}).items():
        t = _as_table(docs, columns=["doc_id", "language"])
        src_parts.append(
            pa.table(
                {"doc_id": t["doc_id"], "source": pa.array([name] * t.num_rows, pa.string()), "language": t["language"]}
            )
        )
    if src_parts:
        return pa.concat_tables(src_parts)
    return pa.table(
        {
            "doc_id": pa.array([], pa.string()),
            "source": pa.array([], pa.string()),
            "language": pa.array([], pa.string()),
        }
    )


def _rows_and_facts(
    table: pa.Table, src: pa.Table, max_rows: int | None, chars_per_token: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The per-row frame (a sample past `max_rows`) and the whole dataset's facts
    (n_rows, duplicate_rate, token_estimate), both from DuckDB over the rows and sources."""
    n_rows = table.num_rows
    rows_in = table.select(["doc_id", "source", "text", "repeat", "eval_overlap"])
    phase = table.column("phase") if "phase" in table.column_names else pa.nulls(n_rows, pa.string())
    con = _duck(dataset=rows_in.append_column("phase", phase), source_docs=src)
    rows = con.execute(
        load_sql("validation/dataset_rows"), {"keep_per_million": _keep_per_million(n_rows, max_rows)}
    ).df()
    facts_row = con.execute(load_sql("validation/dataset_facts")).df().iloc[0].to_dict()
    con.close()
    n = int(facts_row["n_rows"])
    facts = {
        "n_rows": n,
        "duplicate_rate": 0.0 if n == 0 else 1.0 - int(facts_row["distinct_texts"]) / n,
        "token_estimate": float(facts_row["chars_with_repeats"]) / chars_per_token,
    }
    return rows, facts


def _row_checks(
    with_sources: bool, allowed_languages: Iterable[str] | None, with_index: bool, min_overlaps: int
) -> list[Check]:
    """Checks on the `rows` frame: unique ids, text, and, given what they need, ids from
    their sources, allowed languages, no eval overlap."""
    E = _gx().expectations
    checks = [
        _between("dataset.doc_id_unique", "rows", "doc_id_occurrences", min_value=1, max_value=1),
        _between("dataset.text_not_empty", "rows", "text_chars", min_value=1),
    ]
    if with_sources:
        checks.append(
            Check(
                "dataset.id_from_its_source",
                "rows",
                E.ExpectColumnValuesToBeInSet(column="in_source", value_set=[True]),
            )
        )
        if allowed_languages:
            checks.append(
                Check(
                    "dataset.language_allowed",
                    "rows",
                    E.ExpectColumnValuesToBeInSet(column="language", value_set=sorted(allowed_languages)),
                )
            )
    if with_index:
        checks.append(
            _between("dataset.decontaminated", "rows", "eval_overlap", min_value=0, max_value=min_overlaps - 1)
        )
    return checks


def _fact_checks(token_budget: int | None, budget_slack: float, max_duplicate_rate: float | None) -> list[Check]:
    """Checks on the `facts` frame: the token estimate within the budget, the duplicate rate."""
    checks = []
    if token_budget:
        checks.append(
            _between(
                "dataset.token_estimate_within_budget",
                "facts",
                "token_estimate",
                min_value=0,
                max_value=token_budget * (1 + budget_slack),
            )
        )
    if max_duplicate_rate is not None:
        checks.append(
            _between(
                "dataset.duplicate_rate_below_bound",
                "facts",
                "duplicate_rate",
                min_value=0.0,
                max_value=max_duplicate_rate,
            )
        )
    return checks


UNITS = {"token": "real tokens of the suite tokenizer per copy", "char": "characters per copy"}


def _asked_weights(
    weights: Mapping[str, float] | None, phase_weights: Mapping[str, Mapping[str, float]] | None
) -> dict[str, Mapping[str, float]]:
    """Phase -> the weights asked of it; "" is the whole dataset."""
    if phase_weights:
        return {p: w for p, w in phase_weights.items() if w}
    return {"": weights} if weights else {}


def _phases(table: pa.Table, asked: Mapping[str, Mapping[str, float]]) -> pa.Array:
    if set(asked) == {""}:
        return pa.array([""] * table.num_rows, pa.string())
    if "phase" not in table.column_names:
        raise ValueError(
            f"mixture weights are given per phase ({', '.join(asked)}) but the dataset has no phase column "
            f"(columns: {', '.join(table.column_names)})"
        )
    return pc.fill_null(pc.cast(table["phase"], pa.string()), "").combine_chunks()


def _mixture_units(table: pa.Table, doc_tokens: pa.Table | None) -> tuple[pa.Array, str]:
    """Per row, one copy's size in the mixture's unit: real tokens when counted, else characters."""
    if doc_tokens is None:
        chars = pc.fill_null(pc.utf8_length(pc.cast(table["text"], pa.string())), 0)
        return pc.cast(chars, pa.int64()).combine_chunks(), "char"
    at = _positions_of_every(
        table["doc_id"], doc_tokens, "doc_tokens has no token count", "; count them with the dataset's tokenizer"
    )
    return pc.cast(doc_tokens["n_tokens"].take(at), pa.int64()).combine_chunks(), "token"


def _positions_of_every(ids: pa.ChunkedArray, lookup: pa.Table, what: str, hint: str = "") -> pa.Array:
    """Row of `lookup` (by doc_id) for each id; a ValueError naming a few ids it lacks."""
    at = pc.index_in(ids, value_set=lookup["doc_id"])
    missing = pc.filter(ids, pc.is_null(at))
    if len(missing):
        raise ValueError(
            f"{what} for {len(missing):,} dataset documents (e.g. {', '.join(map(str, missing.to_pylist()[:3]))}){hint}"
        )
    return at


def _column_of(docs: pa.Table | str | Path | Sequence[str | Path], column: str) -> bool:
    if isinstance(docs, pa.Table):
        return column in docs.column_names
    return column in pq.read_schema(_parquet_files(docs)[0]).names


def _mixture_groups(
    table: pa.Table,
    group_by: str,
    groups: pa.Table | None,
    source_docs: Mapping[str, pa.Table | str | Path | Sequence[str | Path]] | None,
) -> pa.Array:
    """Each row's mixture group; null values are "" (as the mixer's group_values)."""
    if groups is not None:
        if not {"doc_id", group_by} <= set(groups.column_names):
            raise ValueError(f"groups needs columns doc_id and {group_by!r}, has {', '.join(groups.column_names)}")
        values = groups[group_by].take(_positions_of_every(table["doc_id"], groups, f"groups has no {group_by}"))
    elif group_by in table.column_names:
        values = table[group_by]
    elif source_docs and all(_column_of(d, group_by) for d in source_docs.values()):
        # doc_ids not in their source are the id_from_its_source check's finding: group ""
        lookup = pa.concat_tables([_as_table(d, columns=["doc_id", group_by]) for d in source_docs.values()])
        values = lookup[group_by].take(pc.index_in(table["doc_id"], value_set=lookup["doc_id"]))
    else:
        raise ValueError(
            f"the mixture groups by {group_by!r} but neither the dataset, `groups` nor the source documents "
            f"have that column (dataset columns: {', '.join(table.column_names)})"
        )
    return pc.fill_null(pc.cast(values, pa.string()), "").combine_chunks()


def _mixture_frame(
    realised: pd.DataFrame, asked: Mapping[str, Mapping[str, float]], default_weight: float, unit: str, group_by: str
) -> pd.DataFrame:
    """One row per (phase, group): asked share, realised share, and their distance. The
    first column labels the row (the runner names failing rows by it)."""
    rows = []
    for phase, weights in asked.items():
        got = realised[realised["phase"] == phase]
        amounts = dict(zip(got["group"], got["units"].astype(float)))
        names = sorted(set(weights) | set(amounts))
        w = {g: float(weights.get(g, default_weight)) for g in names}
        total_w = sum(w.values()) or 1.0
        total_u = sum(amounts.values()) or 1.0
        for g in names:
            target, share = w[g] / total_w, amounts.get(g, 0.0) / total_u
            where = f"phase {phase} " if phase else ""
            rows.append(
                {
                    "mixture": f"{where}{group_by} {g!r} asked {target:.3f} got {share:.3f} of {unit}s",
                    "phase": phase,
                    "group": g,
                    "unit": unit,
                    "asked": target,
                    "share": share,
                    f"{unit}_share_deviation": abs(share - target),
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class MixtureInputs:
    """What the mixture check needs beyond the dataset file: per-document real token
    counts (doc_id, n_tokens) and, for topic groups, each document's topic (doc_id, topic)."""

    doc_tokens: pa.Table | None = None
    groups: pa.Table | None = None


def recipe_mixture_inputs(workspace, recipe, dataset_dir: str | Path) -> MixtureInputs:
    """The token counts and groups the recipe's mixer used, read from the workspace: the
    tokenizer the dataset's stats.json records (the counts curate stored, rewritten text
    re-encoded: tasks/train/doc_tokens.py) and the cached topics (tasks/selection/topics.py).
    No tokens when the dataset records no tokenizer; nothing when the recipe asks no weights."""
    import json

    from tasks.core.docsref import resolve_docs

    mix = recipe.mixture
    if not _asked_weights(mix.weights, _recipe_phase_weights(recipe)):
        return MixtureInputs()
    folder = Path(dataset_dir)
    stats_path = folder / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    refs = [resolve_docs(workspace, name) for name in recipe.sources]
    doc_tokens = None
    digest = (stats.get("tokenizer") or {}).get("hash")
    if digest:
        from tasks.train.doc_tokens import dataset_token_counts

        doc_tokens = dataset_token_counts(workspace, sorted(folder.glob("part-*.parquet")), refs, digest)
    groups = None
    if mix.group_by == "topic":
        from tasks.selection.spec import TopicsSpec
        from tasks.selection.topics import source_topics

        groups = source_topics(workspace, refs, mix.topics or TopicsSpec()).table
    return MixtureInputs(doc_tokens, groups)


def _recipe_phase_weights(recipe) -> dict[str, Mapping[str, float]] | None:
    """Per phase, the weights the mixer used (tasks/selection/mixing.py plan_mixture: a
    final phase with its own weights or temperature overrides the main ones); a phase
    mixed by temperature has no weights to check."""
    mix = recipe.mixture
    f = mix.final_phase
    if f is None:
        return None
    final = f.weights if (f.weights is not None or f.temperature is not None) else mix.weights
    out: dict[str, Mapping[str, float]] = {}
    if mix.weights is not None:
        out["main"] = mix.weights
    if final is not None:
        out[f.name] = final
    return out


def dataset_contract_for_recipe(
    dataset, recipe, *, source_docs=None, eval_index=None, mixture: MixtureInputs | None = None, **overrides
) -> Contract:
    """`dataset_contract` with the bounds a tasks.recipe.Recipe asks for: token budget,
    allowed languages, mixture weights (per phase when it has a final phase; grouped as
    it groups; in tokens when `mixture` carries them: `recipe_mixture_inputs`), and the
    duplicate-rate bound (`dedup.options.max_duplicate_rate`, default 0 when exact dedup
    ran, unchecked otherwise)."""
    dup = recipe.dedup.options.get("max_duplicate_rate", 0.0 if recipe.dedup.exact else None)
    mixture = mixture or MixtureInputs()
    phases = _recipe_phase_weights(recipe)
    kwargs = dict(
        token_budget=recipe.token_budget,
        allowed_languages=recipe.language.allowed,
        mixture_weights=None if phases is not None else recipe.mixture.weights,
        phase_weights=phases,
        default_weight=recipe.mixture.default_weight,
        group_by=recipe.mixture.group_by,
        groups=mixture.groups,
        doc_tokens=mixture.doc_tokens,
        max_duplicate_rate=dup,
    )
    kwargs.update(overrides)
    return dataset_contract(dataset, source_docs=source_docs, eval_index=eval_index, **kwargs)
