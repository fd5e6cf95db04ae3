"""The matched-token contract (tasks/validation/contracts/matched_tokens.py): arms cut to the same
real-token budget within 1% pass; a mismatched arm, unequal training tokens, or a pool too
small for the budget are refused, the last one with a message that says so."""

from __future__ import annotations

import pytest

from tasks.validation.contracts.matched_tokens import ArmTokens, TokenBudgetError, check_matched_tokens, reasons

BUDGET = 400_000


def _arm(name, unique, pool=2_000_000, trained=1_200_128):
    return ArmTokens(name, unique, pool, trained)


def test_matched_arms_pass():
    arms = [_arm("a", 399_990), _arm("b", 396_500), _arm("c", BUDGET)]
    result = check_matched_tokens(arms, BUDGET, key="t")
    assert result.success and {o.expectation for o in result.outcomes} == {
        "matched_tokens.within_budget",
        "matched_tokens.unique_tokens_matched",
        "matched_tokens.train_tokens_equal",
    }
    assert reasons(arms, BUDGET) == []


def test_a_mismatched_arm_is_refused():
    # 2% short of the others: outside the 1% tolerance on both expectations
    arms = [_arm("a", 399_000), _arm("short", 391_000), _arm("c", 399_500)]
    with pytest.raises(TokenBudgetError) as err:
        check_matched_tokens(arms, BUDGET, key="t")
    failed = {o.expectation: o for o in err.value.result.failures}
    assert set(failed) == {"matched_tokens.within_budget", "matched_tokens.unique_tokens_matched"}
    assert failed["matched_tokens.unique_tokens_matched"].sample_ids == ["short"]
    assert failed["matched_tokens.unique_tokens_matched"].unexpected_count == 1
    assert "arm 'short'" in str(err.value) and "below the largest arm" in str(err.value)


def test_over_budget_and_unequal_training_are_refused():
    with pytest.raises(TokenBudgetError) as err:
        check_matched_tokens([_arm("over", BUDGET + 1), _arm("b", BUDGET)], BUDGET, key="t")
    assert [o.expectation for o in err.value.result.failures] == ["matched_tokens.within_budget"]
    with pytest.raises(TokenBudgetError) as err:
        check_matched_tokens([_arm("a", BUDGET), _arm("b", BUDGET, trained=1_200_000)], BUDGET, key="t")
    assert [o.expectation for o in err.value.result.failures] == ["matched_tokens.train_tokens_equal"]
    assert "epochs differ" in str(err.value)


def test_a_pool_too_small_for_the_budget_fails_saying_so():
    with pytest.raises(TokenBudgetError) as err:
        check_matched_tokens([ArmTokens("tiny_pool", 150_000, 150_000)], BUDGET, key="t")
    msg = str(err.value)
    assert "arm 'tiny_pool': its pool is too small for the token budget" in msg
    assert "150,000" in msg and "400,000" in msg and "396,000" in msg


def test_severity_override_turns_the_refusal_into_a_warning():
    result = check_matched_tokens(
        [ArmTokens("upsampled", 300_000, 300_000)], BUDGET, key="t", severities={"matched_tokens": "warn"}
    )
    assert result.success and [o.expectation for o in result.warnings] == ["matched_tokens.within_budget"]


def test_budget_fill_lands_close_under_the_budget():
    import numpy as np

    from tasks.curate.steps import fill_budget

    # a selection that stopped on the document crossing the budget (the 1,500 one): the
    # greedy fill in order would skip it and end 14% short; dropping the smallest document
    # that covers the 100-token overshoot ends 5% short, never over
    crossing = np.array([600] + [1000] * 8 + [1500])
    keep = fill_budget(crossing, 10_000)
    assert keep.tolist() == [False] + [True] * 9 and crossing[keep].sum() == 9500
    # a large pool: the greedy fill skips what overflows and small documents fill the rest
    pool = np.array([3000] * 10 + [200] * 5)
    keep = fill_budget(pool, 10_000)
    assert pool[keep].sum() == 10_000 and keep[:3].all() and not keep[3:10].any()
    assert fill_budget(np.array([5, 5]), 100).all()  # under the budget: everything


def test_the_refusal_survives_pickling():
    import pickle

    with pytest.raises(TokenBudgetError) as err:
        check_matched_tokens([ArmTokens("tiny_pool", 150_000, 150_000)], BUDGET, key="t")
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value) and again.reasons == err.value.reasons
