"""The matched-token contract: a suite's arms differ only in which documents they keep.

Every arm's dataset is cut to the suite's token budget in real tokens of the suite
tokenizer (tasks/curate/steps.py budget_step), and every arm trains the same number of
tokens, so epochs are equal. This contract checks both on what the stages recorded:

- `matched_tokens.within_budget`   each arm's unique tokens (each document once) within
                                   [budget x (1 - tolerance), budget]; an arm whose pool is
                                   too small for the budget fails here;
- `matched_tokens.unique_tokens_matched`  unique tokens within `tolerance` of the
                                   suite's largest arm (DataComp's rule: only the data varies);
- `matched_tokens.train_tokens_equal`  every arm trained exactly the same number of tokens.

`check_matched_tokens` runs it (great-expectations, recorded in the catalog like every
contract) and raises `TokenBudgetError` whose message names the arm, its pool and the
budget when the budget cannot be met.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from tasks.validation.contracts._inputs import _gx
from tasks.validation.model import Check, Contract, ValidationFailed, ValidationResult
from tasks.validation.runner import run_contract

DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class ArmTokens:
    """One arm's token accounting (curate stats + the training summary)."""

    arm: str
    unique_tokens: int  # the dataset, each document once, suite tokenizer (EOS included)
    pool_tokens: int  # what the arm's filters left to fill the budget from
    train_tokens: int | None = None  # tokens trained; None before training


class TokenBudgetError(ValidationFailed):
    """The matched-token contract failed; the message says which arm and why."""

    def __init__(self, result: ValidationResult, reasons: list[str]):
        self.reasons = reasons
        RuntimeError.__init__(self, "\n".join(reasons + [result.summary()]))
        self.result = result

    def __reduce__(self):  # picklable across processes (Prefect states, Dask)
        return (TokenBudgetError, (self.result, self.reasons))


def matched_tokens_contract(
    arms: Sequence[ArmTokens], token_budget: int, tolerance: float = DEFAULT_TOLERANCE
) -> Contract:
    if not arms:
        raise ValueError("matched-token contract: no arms to check")
    if token_budget <= 0 or not 0 <= tolerance < 1:
        raise ValueError(
            f"matched-token contract: budget {token_budget} must be > 0 and tolerance {tolerance} in [0, 1)"
        )
    E = _gx().expectations
    top = max(a.unique_tokens for a in arms)
    trained = [a.train_tokens for a in arms if a.train_tokens is not None]
    rows = pd.DataFrame(
        [
            {
                "arm": a.arm,
                "unique_tokens": int(a.unique_tokens),
                "pool_tokens": int(a.pool_tokens),
                "below_largest": 1.0 - a.unique_tokens / top if top else 0.0,
                "train_tokens": int(a.train_tokens) if a.train_tokens is not None else -1,
                "train_tokens_minus_max": int(a.train_tokens - max(trained)) if a.train_tokens is not None else 0,
            }
            for a in arms
        ]
    )
    checks = [
        Check(
            "matched_tokens.within_budget",
            "rows",
            E.ExpectColumnValuesToBeBetween(
                column="unique_tokens", min_value=int(token_budget * (1 - tolerance)), max_value=int(token_budget)
            ),
        ),
        Check(
            "matched_tokens.unique_tokens_matched",
            "rows",
            E.ExpectColumnValuesToBeBetween(column="below_largest", min_value=0.0, max_value=float(tolerance)),
        ),
    ]
    if trained:
        checks.append(
            Check(
                "matched_tokens.train_tokens_equal",
                "rows",
                E.ExpectColumnValuesToBeBetween(column="train_tokens_minus_max", min_value=0, max_value=0),
            )
        )
    return Contract("matched_tokens", {"rows": rows}, checks, len(rows), len(rows), id_column="arm")


def reasons(arms: Sequence[ArmTokens], token_budget: int, tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    """One plain sentence per arm that breaks the contract (empty when it holds)."""
    out = []
    low = token_budget * (1 - tolerance)
    top = max((a.unique_tokens for a in arms), default=0)
    trained = [a.train_tokens for a in arms if a.train_tokens is not None]
    for a in arms:
        if a.pool_tokens < low:
            out.append(
                f"arm {a.arm!r}: its pool is too small for the token budget: {a.pool_tokens:,} tokens of the "
                f"suite tokenizer are left after its filters, the budget is {token_budget:,} (at least "
                f"{int(low):,} needed); grow the pool (more sources) or lower token_budget"
            )
        elif not low <= a.unique_tokens <= token_budget:
            out.append(
                f"arm {a.arm!r}: {a.unique_tokens:,} unique tokens, outside [{int(low):,}, {token_budget:,}] "
                f"(budget {token_budget:,}, tolerance {tolerance:.0%}) although its pool holds {a.pool_tokens:,}"
            )
        if top and 1 - a.unique_tokens / top > tolerance:
            out.append(
                f"arm {a.arm!r}: {a.unique_tokens:,} unique tokens, {1 - a.unique_tokens / top:.1%} below the "
                f"largest arm ({top:,}); arms must match within {tolerance:.0%}"
            )
        if trained and a.train_tokens is not None and a.train_tokens != max(trained):
            out.append(f"arm {a.arm!r}: trained {a.train_tokens:,} tokens, others {max(trained):,}; epochs differ")
    return out


def check_matched_tokens(
    arms: Sequence[ArmTokens],
    token_budget: int,
    *,
    key: str,
    tolerance: float = DEFAULT_TOLERANCE,
    workspace=None,
    severities: Mapping[str, str] | None = None,
    catalog=None,
) -> ValidationResult:
    """Run, record (when a catalog is given) and enforce the contract; a failure raises
    TokenBudgetError naming the arm (e.g. a pool too small for the budget)."""
    from tasks.validation.runner import record_validation

    contract = matched_tokens_contract(arms, token_budget, tolerance)
    result = run_contract(contract, key=key, workspace=workspace, severities=severities)
    if catalog is not None:
        record_validation(catalog, result)
    if not result.success:
        raise TokenBudgetError(result, reasons(arms, token_budget, tolerance) or [result.summary()])
    return result
