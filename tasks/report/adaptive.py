"""Adaptive seeds: add seeds only to the arms still plausibly best, until decided.

The rule of a suite's `decide: {p, max_seeds, budget_minutes}` (tasks/suite.py), without
Prefect: the flow (flows/ablation.py) passes how to get the current verdict (the report
built from the catalog) and how to run a round of arm x seed jobs (ordinary cached,
tracked arm runs). Each round gives one more seed to every contender (tasks/report/
decide.py `contenders`: not separated from the leader at p, below the seed cap; when the
time left does not fit them all, the leader and the rivals least separated from it go
first). It stops when the leader is separated from every other arm, when no contender is
below the cap, when not one more run fits the budget, or when a run of the round failed
(it would fail again at every added seed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tasks.report.decide import Decision, contenders


@dataclass(frozen=True)
class Rule:
    p: float = 0.95
    max_seeds: int = 3
    budget_minutes: float | None = None


@dataclass
class Rounds:
    """What the adaptive rule did: the jobs of each round and why it stopped."""

    rounds: list[list[tuple[str, int]]] = field(default_factory=list)
    reason: str = ""

    @property
    def jobs(self) -> list[tuple[str, int]]:
        return [j for r in self.rounds for j in r]


def next_seed(arm: str, done: Sequence[tuple[str, int]]) -> int:
    """The arm's next seed: one past the largest it has run (failed runs included)."""
    return max((s for a, s in done if a == arm), default=-1) + 1


def add_seeds(
    verdict: Callable[[], Decision | None],
    run_round: Callable[[list[tuple[str, int]]], list[bool]],
    done: Sequence[tuple[str, int]],
    rule: Rule,
    started: float,
    first_round_s: float,
    first_round_jobs: int,
    width: int = 1,
    clock: Callable[[], float] = time.monotonic,
) -> Rounds:
    """Run rounds of one more seed per contender. `verdict()` is the current decision,
    `run_round(jobs)` runs arm x seed jobs and says which succeeded; `done` the jobs run
    so far; `started` the suite run's start on `clock`; the first round's wall time and
    job count estimate what a round costs (`width` jobs run at once)."""
    out = Rounds()
    done = list(done)
    per_slot = first_round_s / max(1, math.ceil(first_round_jobs / width))
    while True:
        dec = verdict()
        if dec is None:
            out.reason = "No arm has per-item scores."
            return out
        if dec.decided:
            return out
        todo = contenders(dec, rule.max_seeds)
        if not todo:
            out.reason = f"Seed cap reached ({rule.max_seeds} per arm)."
            return out
        elapsed = clock() - started
        if rule.budget_minutes is not None:
            # as many contenders as fit the time left, the most plausible first (the leader,
            # then the rivals least separated from it)
            slots = int((60 * rule.budget_minutes - elapsed) // per_slot) if per_slot > 0 else len(todo)
            fit = max(0, slots) * width
            if fit == 0:
                out.reason = (
                    f"Time budget reached ({rule.budget_minutes:g} min; {elapsed / 60:.1f} min spent, "
                    f"a run takes ~{per_slot / 60:.1f} min)."
                )
                return out
            todo = todo[:fit]
        jobs = [(a, next_seed(a, done)) for a in todo]
        t0 = clock()
        ok = run_round(jobs)
        out.rounds.append(jobs)
        done += jobs
        per_slot = (clock() - t0) / max(1, math.ceil(len(jobs) / width))
        broken = [f"{a}-seed{s}" for (a, s), good in zip(jobs, ok) if not good]
        if broken:
            out.reason = f"Stopped adding seeds: {', '.join(broken)} failed."
            return out
