"""Data contracts at every hand-off, as great-expectations 1.x suites written in code.

- `model`      expectation names (`EXPECTATIONS`), `Check`, `Contract`, `ExpectationOutcome`,
               `ValidationResult`, `ValidationFailed`. This package sets GX analytics off
               before any great_expectations import.
- `contracts`  one function per hand-off, each returning a `Contract` (pandas frames `rows`,
               `schema`, `facts` plus the GX expectations to run on them):
  - `documents_contract`  ingest output: schema and types, unique doc_id, non-empty text,
                           language_score in [0, 1], lengths within caps, url parseable,
                           record accounting balanced.
  - `signals_contract`    signals output: expected columns present, fractions in [0, 1],
                           no NaN (undefined cases must be 0 or null), one row per document.
  - `dataset_contract`    a recipe's dataset: unique ids, every id from its own source,
                           token estimate within budget, languages, the mixture as asked
                           (in real tokens where the dataset records them:
                           `recipe_mixture_inputs`), duplicate rate below the bound, no
                           eval n-gram overlap.
  - `token_shards_contract` training input: ids < vocab, EOS-separated documents, total
                           tokens as recorded (`token_shards_contract_for_packed`:
                           on a packed folder, from its meta.json).
  - `matched_tokens`      a suite's arms cut to the same token budget.
  Exact per-record flags are computed by DuckDB over *all* rows; the `rows` frame keeps
  every offending row even when the rest is sampled. Text never enters pandas.
- `runner`     `run_contract` validates through an ephemeral GX context and builds Data Docs
               into `<ws>/validation/<key>/data_docs/`; `record_validation` writes the result
               to the catalog (flow process only); `enforce` raises `ValidationFailed` when an
               expectation of severity `fail` failed. A recipe's `validation: {name: warn|fail}`
               overrides severities; a name also matches every expectation below it.

Callers: `from tasks import validation as V`.
"""

import os

# The package runs before any of its modules: GX analytics off before great_expectations loads.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from tasks.validation.contracts import (
    MixtureInputs,
    dataset_contract,
    dataset_contract_for_recipe,
    documents_contract,
    ingest_counts,
    recipe_mixture_inputs,
    signals_contract,
    token_shards_contract,
    token_shards_contract_for_packed,
)
from tasks.validation.model import (
    EXPECTATIONS,
    URL_REGEX,
    Check,
    Contract,
    ExpectationOutcome,
    ValidationFailed,
    ValidationResult,
)
from tasks.validation.runner import (
    check_severity_names,
    enforce,
    record_and_enforce,
    record_validation,
    run_contract,
    validate,
    validate_documents_dir,
)

__all__ = [
    "EXPECTATIONS",
    "URL_REGEX",
    "Check",
    "Contract",
    "ExpectationOutcome",
    "MixtureInputs",
    "ValidationFailed",
    "ValidationResult",
    "check_severity_names",
    "dataset_contract",
    "dataset_contract_for_recipe",
    "documents_contract",
    "enforce",
    "ingest_counts",
    "record_and_enforce",
    "record_validation",
    "recipe_mixture_inputs",
    "run_contract",
    "signals_contract",
    "token_shards_contract",
    "token_shards_contract_for_packed",
    "validate",
    "validate_documents_dir",
]
