"""The dataset contract (a recipe's dataset), plain or with a recipe's bounds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from tasks.core.sqlfiles import load_sql
from tasks.validation.contracts._inputs import (
    _as_table,
    _duck,
    _gx,
    _keep_per_million,
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
    max_duplicate_rate: float | None = 0.0,
    eval_index: Any | None = None,
    min_overlaps: int = 1,
    max_rows: int | None = 1_000_000,
) -> Contract:
    """Contract on a recipe's dataset (doc_id, source, url, text, repeat).

    `source_docs`: source name -> its documents (for `id_from_its_source` and languages);
    `eval_index`: a tasks.decontam.decontaminate.NgramIndex (for `decontaminated`)."""
    E = _gx().expectations
    table = _as_table(dataset)
    n_rows = table.num_rows
    if "repeat" not in table.column_names:
        table = table.append_column("repeat", pa.array(np.ones(n_rows, np.int64)))
    if eval_index is not None:
        from tasks.decontam.decontaminate import scan_table

        overlap = scan_table(table, eval_index).n_matches
    else:
        overlap = np.zeros(n_rows, np.int64)
    table = table.append_column("eval_overlap", pa.array(overlap))
    src_parts = []
    for name, docs in (source_docs or {}).items():
        t = _as_table(docs, columns=["doc_id", "language"])
        src_parts.append(
            pa.table(
                {"doc_id": t["doc_id"], "source": pa.array([name] * t.num_rows, pa.string()), "language": t["language"]}
            )
        )
    src = (
        pa.concat_tables(src_parts)
        if src_parts
        else pa.table(
            {
                "doc_id": pa.array([], pa.string()),
                "source": pa.array([], pa.string()),
                "language": pa.array([], pa.string()),
            }
        )
    )
    con = _duck(dataset=table.select(["doc_id", "source", "text", "repeat", "eval_overlap"]), source_docs=src)
    rows = con.execute(
        load_sql("validation/dataset_rows"), {"keep_per_million": _keep_per_million(n_rows, max_rows)}
    ).df()
    facts_row = con.execute(load_sql("validation/dataset_facts")).df().iloc[0].to_dict()
    mixture = con.execute(load_sql("validation/dataset_mixture")).df()
    con.close()
    frames: dict[str, pd.DataFrame] = {"rows": rows}
    checks = [
        Check(
            "dataset.doc_id_unique",
            "rows",
            E.ExpectColumnValuesToBeBetween(column="doc_id_occurrences", min_value=1, max_value=1),
        ),
        Check("dataset.text_not_empty", "rows", E.ExpectColumnValuesToBeBetween(column="text_chars", min_value=1)),
    ]
    if source_docs is not None:
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
    if eval_index is not None:
        checks.append(
            Check(
                "dataset.decontaminated",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="eval_overlap", min_value=0, max_value=min_overlaps - 1),
            )
        )
    n = int(facts_row["n_rows"])
    facts = {
        "n_rows": n,
        "duplicate_rate": 0.0 if n == 0 else 1.0 - int(facts_row["distinct_texts"]) / n,
        "token_estimate": float(facts_row["chars_with_repeats"]) / chars_per_token,
    }
    frames["facts"] = pd.DataFrame([facts])
    if token_budget:
        checks.append(
            Check(
                "dataset.token_estimate_within_budget",
                "facts",
                E.ExpectColumnValuesToBeBetween(
                    column="token_estimate", min_value=0, max_value=token_budget * (1 + budget_slack)
                ),
            )
        )
    if max_duplicate_rate is not None:
        checks.append(
            Check(
                "dataset.duplicate_rate_below_bound",
                "facts",
                E.ExpectColumnValuesToBeBetween(column="duplicate_rate", min_value=0.0, max_value=max_duplicate_rate),
            )
        )
    if mixture_weights:
        total_w = sum(mixture_weights.values()) or 1.0
        total_c = float(mixture["chars"].sum()) or 1.0
        realised = dict(zip(mixture["source"], mixture["chars"].astype(float) / total_c))
        mix = pd.DataFrame(
            [
                {
                    "source": s,
                    "target": w / total_w,
                    "share": realised.get(s, 0.0),
                    "deviation": abs(realised.get(s, 0.0) - w / total_w),
                }
                for s, w in sorted({**{k: 0.0 for k in realised}, **mixture_weights}.items())
            ]
        )
        frames["mixture"] = mix
        checks.append(
            Check(
                "dataset.mixture_as_asked",
                "mixture",
                E.ExpectColumnValuesToBeBetween(column="deviation", min_value=0.0, max_value=mixture_tolerance),
            )
        )
    return Contract("dataset", frames, checks, n_rows, min(n_rows, len(rows)))


def dataset_contract_for_recipe(dataset, recipe, *, source_docs=None, eval_index=None, **overrides) -> Contract:
    """`dataset_contract` with the bounds a tasks.recipe.Recipe asks for: token budget,
    allowed languages, mixture weights, and the duplicate-rate bound (`dedup.options.
    max_duplicate_rate`, default 0 when exact dedup ran, unchecked otherwise)."""
    dup = recipe.dedup.options.get("max_duplicate_rate", 0.0 if recipe.dedup.exact else None)
    kwargs = dict(
        token_budget=recipe.token_budget,
        allowed_languages=recipe.language.allowed,
        mixture_weights=recipe.mixture.weights,
        max_duplicate_rate=dup,
    )
    kwargs.update(overrides)
    return dataset_contract(dataset, source_docs=source_docs, eval_index=eval_index, **kwargs)
