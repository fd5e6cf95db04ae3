"""The arm flow refuses to evaluate an arm whose dataset and token contracts left no
`validation_runs` row (flows.ablation.contracts_ran): removing a contract call from
arm_flow fails the arm instead of passing silently."""

from __future__ import annotations

from datetime import datetime

import pytest


def _row(key: str) -> dict:
    return {
        "run_id": f"run-{key}",
        "suite": key.split("-")[0],
        "key": key,
        "success": True,
        "n_rows": 1,
        "rows_validated": 1,
        "n_expectations": 1,
        "n_failed": 0,
        "n_warned": 0,
        "data_docs": None,
        "seconds": 0.1,
        "finished_at": datetime(2026, 1, 1),
    }


def test_contracts_ran_names_the_missing_contract(workspace, catalog):
    from flows.ablation import ContractsMissing, contracts_ran

    keys = ["dataset-abc", "tokens-def-ghi"]
    catalog.insert("validation_runs", [_row("dataset-abc")])
    with pytest.raises(ContractsMissing, match="tokens-def-ghi"):
        contracts_ran(workspace, keys)
    catalog.insert("validation_runs", [_row("tokens-def-ghi"), _row("dataset-other")])
    rows = contracts_ran(workspace, keys)
    assert sorted(r["key"] for r in rows) == keys
