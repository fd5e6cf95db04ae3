"""Running contracts through great-expectations: severities, results, catalog, enforcement."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tasks.core.workspace import Workspace
from tasks.validation.contracts._inputs import (
    _gx,
)
from tasks.validation.contracts.documents import documents_contract, ingest_counts
from tasks.validation.model import (
    EXPECTATIONS,
    Check,
    Contract,
    ExpectationOutcome,
    ValidationFailed,
    ValidationResult,
)

# ---------------------------------------------------------------- running


def check_severity_names(overrides: Mapping[str, str]) -> None:
    """Fail early on a recipe's `validation:` key that names no expectation (a typo)."""
    unknown = [
        k
        for k in overrides
        if k not in EXPECTATIONS
        and k.rsplit(".", 1)[0] not in EXPECTATIONS
        and not any(n.startswith(k + ".") for n in EXPECTATIONS)
        and k not in {"documents", "signals", "dataset", "token_shards"}
    ]
    if unknown:
        raise ValueError(f"recipe validation: unknown expectation name(s) {unknown}; known: {', '.join(EXPECTATIONS)}")
    bad = {k: v for k, v in overrides.items() if v not in ("warn", "fail")}
    if bad:
        raise ValueError(f"recipe validation: severity must be warn or fail, got {bad}")


def _severity(name: str, default: str, overrides: Mapping[str, str]) -> str:
    # the most specific override wins: a.b.c, then a.b, then a
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in overrides:
            return overrides[key]
    return default


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _describe(
    check: Check, kwargs: dict, result: dict, sample_ids: list[str], id_label: str, exception: str | None
) -> tuple[str, str]:
    if exception:
        return "error", f"{check.name}: could not be evaluated: {exception}"
    observed = result.get("observed_value")
    if observed is None and result.get("partial_unexpected_list"):
        observed = result["partial_unexpected_list"][:3]
    expect = ""
    if "min_value" in kwargs or "max_value" in kwargs:
        expect = f"expected in [{kwargs.get('min_value', '-inf')}, {kwargs.get('max_value', 'inf')}]"
    elif "value_set" in kwargs:
        expect = f"expected one of {list(kwargs['value_set'])[:5]}"
    elif "column_set" in kwargs:
        missing = (result.get("details") or {}).get("mismatched") or {}
        expect = f"mismatched columns {_jsonable(missing)}" if missing else f"expected columns {kwargs['column_set']}"
    elif "regex" in kwargs:
        expect = "expected to match the url pattern"
    count = result.get("unexpected_count")
    column = kwargs.get("column")
    if count is not None and check.batch in ("rows", "sequences", "shards", "mixture") and column:
        ids = f"; sample {id_label}: {', '.join(sample_ids)}" if sample_ids else ""
        return (
            json.dumps(_jsonable(observed)),
            f"{check.name}: {count:,} of {result.get('element_count', 0):,} rows, column {column} "
            f"({expect}; e.g. {_jsonable(result.get('partial_unexpected_list', [])[:3])}){ids}",
        )
    if column and result.get("partial_unexpected_list"):
        observed = result["partial_unexpected_list"][0]
    return json.dumps(_jsonable(observed)), f"{check.name}: observed {_jsonable(observed)} ({expect})"


def run_contract(
    contract: Contract,
    *,
    key: str,
    workspace: Workspace | None = None,
    severities: Mapping[str, str] | None = None,
    sample_ids: int = 5,
) -> ValidationResult:
    """Validate a contract with great-expectations; build Data Docs into
    `<ws>/validation/<key>/data_docs/` when a workspace is given."""
    gx = _gx()
    _quiet_gx_loggers()
    t0 = time.time()
    overrides = dict(severities or {})
    ctx, docs_dir = _context(gx, workspace, key)
    source = ctx.data_sources.add_pandas("winnow")
    outcomes: list[ExpectationOutcome] = []
    for batch, frame in contract.frames.items():
        checks = [c for c in contract.checks if c.batch == batch]
        if checks:
            outcomes += _run_batch(gx, ctx, source, contract, batch, frame, checks, sample_ids, overrides)
    index_html = None
    if docs_dir is not None and workspace is not None:
        with workspace.claim("validation", key):  # a concurrent suite validating the same data waits
            ctx.build_data_docs(site_names=["winnow"])
        index_html = str(docs_dir / "index.html")
    order = {c.name: i for i, c in enumerate(contract.checks)}
    outcomes.sort(key=lambda o: order.get(o.expectation, 0))
    success = not any(not o.success and o.severity == "fail" for o in outcomes)
    return ValidationResult(
        contract.suite,
        key,
        success,
        outcomes,
        contract.n_rows,
        contract.rows_validated,
        index_html,
        round(time.time() - t0, 3),
    )


def _quiet_gx_loggers() -> None:
    # GE sets some of its own loggers to INFO at import ("Created temporary directory ..."
    # once per contract), which the package logger's level does not reach; the context
    # module `_context` uses is imported first so that its loggers are quieted too.
    import great_expectations.data_context.types.base  # noqa: F401

    gx_loggers = [n for n in logging.Logger.manager.loggerDict if n.split(".")[0] == "great_expectations"]
    for name in ["great_expectations", *gx_loggers]:
        logging.getLogger(name).setLevel(logging.ERROR)


def _context(gx: Any, workspace: Workspace | None, key: str) -> tuple[Any, Path | None]:
    """An ephemeral GE context without progress bars, with the Data Docs site under
    `<ws>/validation/<key>/data_docs/` when a workspace is given (and that folder)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if workspace is None:
        return ctx, None
    docs_dir = workspace.stage_dir("validation", key) / "data_docs"
    ctx.add_data_docs_site(
        site_name="winnow",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return ctx, docs_dir


def _run_batch(
    gx: Any,
    ctx: Any,
    source: Any,
    contract: Contract,
    batch: str,
    frame: Any,
    checks: list[Check],
    sample_ids: int,
    overrides: Mapping[str, str],
) -> list[ExpectationOutcome]:
    """One frame of the contract validated against its checks (one GE suite)."""
    asset = source.add_dataframe_asset(batch)
    definition = asset.add_batch_definition_whole_dataframe(batch)
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{contract.suite}.{batch}"))
    by_name: dict[str, Check] = {}
    for check in checks:
        check.expectation.meta = {"name": check.name}
        suite.add_expectation(check.expectation)
        by_name[check.name] = check
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=f"{contract.suite}.{batch}", data=definition, suite=suite)
    )
    id_col = (
        contract.id_column
        if contract.id_column in frame.columns
        else (frame.columns[0] if batch in ("shards", "mixture") else None)
    )
    fmt: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": sample_ids}
    if id_col:
        fmt["unexpected_index_column_names"] = [id_col]
    res = vd.run(batch_parameters={"dataframe": frame}, result_format=fmt)
    return [_outcome(r, by_name, batch, frame, id_col, sample_ids, overrides) for r in res.results]


def _outcome(
    r: Any,
    by_name: Mapping[str, Check],
    batch: str,
    frame: Any,
    id_col: str | None,
    sample_ids: int,
    overrides: Mapping[str, str],
) -> ExpectationOutcome:
    """One GE expectation result as an ExpectationOutcome, with up to `sample_ids` ids
    of the rows that failed it."""
    name = str((r.expectation_config.meta or {}).get("name"))  # set on every expectation above
    check = by_name[name]
    result = r.result or {}
    exc = (
        (r.exception_info or {}).get("exception_message") if (r.exception_info or {}).get("raised_exception") else None
    )
    ids = []
    if id_col:
        for row in result.get("partial_unexpected_index_list") or []:
            if isinstance(row, dict) and id_col in row:
                ids.append(str(row[id_col]))
    ids = list(dict.fromkeys(ids))[:sample_ids]
    observed, message = _describe(check, dict(r.expectation_config.kwargs), result, ids, id_col or "id", exc)
    unexpected = result.get("unexpected_count")
    if unexpected is None:
        unexpected = 0 if r.success else 1
    return ExpectationOutcome(
        expectation=name,
        expectation_type=r.expectation_config.type,
        batch=batch,
        severity=_severity(name, check.severity, overrides),
        success=bool(r.success),
        unexpected_count=int(unexpected),
        element_count=int(result.get("element_count") or len(frame)),
        observed=observed,
        sample_ids=ids,
        message=message,
    )


def enforce(result: ValidationResult) -> ValidationResult:
    """Raise ValidationFailed when an expectation of severity `fail` failed."""
    if not result.success:
        raise ValidationFailed(result)
    return result


def record_validation(catalog, result: ValidationResult) -> None:
    """Write a result into the catalog tables validation_runs / validation_results
    (sql/catalog/schema/30_validation.sql). Flow process only."""
    catalog.insert(
        "validation_runs",
        [
            {
                "run_id": result.run_id,
                "suite": result.suite,
                "key": result.key,
                "success": result.success,
                "n_rows": result.n_rows,
                "rows_validated": result.rows_validated,
                "n_expectations": len(result.outcomes),
                "n_failed": len(result.failures),
                "n_warned": len(result.warnings),
                "data_docs": result.data_docs,
                "seconds": result.seconds,
                "finished_at": datetime.fromisoformat(result.finished_at).replace(tzinfo=None),
            }
        ],
        replace=True,
    )
    catalog.insert(
        "validation_results",
        [
            {"run_id": result.run_id, "suite": result.suite, "key": result.key, **{k: v for k, v in asdict(o).items()}}
            for o in result.outcomes
        ],
        replace=True,
    )


def validate(
    contract: Contract,
    *,
    key: str,
    workspace: Workspace | None = None,
    severities: Mapping[str, str] | None = None,
    catalog=None,
) -> ValidationResult:
    """Run, record (when a catalog is given) and enforce: the one call a flow makes."""
    result = run_contract(contract, key=key, workspace=workspace, severities=severities)
    if catalog is not None:
        record_validation(catalog, result)
    return enforce(result)


# ---------------------------------------------------------------- entry points for flows


def validate_documents_dir(
    docs_dir: str, key: str, workspace_root: str, severities: dict | None = None, **options
) -> dict:
    """Documents contract over `docs/<key>/shard-*.parquet` with the `_SUCCESS` accounting;
    returns the ValidationResult as a dict (the flow records and enforces it). Plain
    function: flows/validate.py wraps it in a Prefect task."""
    d = Path(docs_dir)
    contract = documents_contract(sorted(d.glob("shard-*.parquet")), counts=ingest_counts(d), **options)
    return run_contract(
        contract, key=key, workspace=Workspace.from_env(workspace_root), severities=severities
    ).as_dict()


def record_and_enforce(catalog, result: dict | ValidationResult) -> ValidationResult:
    """In the flow process: store a task's result in the catalog, then fail the flow
    (ValidationFailed, one-screen summary) if a `fail` expectation failed."""
    if isinstance(result, dict):
        result = ValidationResult.from_dict(result)
    record_validation(catalog, result)
    return enforce(result)
