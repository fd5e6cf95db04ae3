"""Does the ranking of arms at a small rung predict the ranking at the reference rung?
The proxy ladder's accuracy statistics (DataDecide, Magnusson et al. 2025), over plain
metric -> arm -> value mappings.

- `decision_accuracy`: over every pair of arms the largest rung separates, the fraction
  whose order the small rung gets right (a tie at the small rung counts one half: a coin
  flip). Agreement of order does not depend on whether the metric is higher- or
  lower-is-better, so no direction is needed.
- `accuracy_interval`: a 95% percentile interval on a decision accuracy from a bootstrap
  over *arms* (a replicate draws n arms with replacement and scores every pair of distinct
  drawn arms, once per way the pair was drawn). Arms, not pairs: the n(n-1)/2 pairs share
  arms, so resampling pairs as if independent would make the interval too narrow.
- `weighted_decision_accuracy`: each pair counts by how confidently the reference rung
  separates it, weight |2 P_ref(A>B) - 1| (P from the reference's paired bootstrap over
  eval items and seeds, tasks/report/stats.py): 0 for a coin flip, 1 for a sure order.
- `noise_ceiling`: how often two seeds of the reference rung agree with each other on the
  order of the arms (decision accuracy of seed i against seed j, over every ordered pair of
  seeds): what a smaller rung could be expected to reach at best.
- `kendall_tau`: Kendall's tau-b between the two rungs' scores (scipy), with its p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import combinations

import numpy as np

from tasks.report.stats import LEVEL, N_BOOT


def decision_accuracy(small: Mapping[str, float], large: Mapping[str, float]) -> tuple[float, int]:
    """(accuracy, pairs): pairs of arms present in both whose order the small rung
    predicts, among the pairs the large rung separates. NaN accuracy when there is none."""
    arms = sorted(a for a in small if a in large and is_finite(small[a]) and is_finite(large[a]))
    agree, pairs = 0.0, 0
    for a, b in combinations(arms, 2):
        target = _sign(large[a] - large[b])
        if target == 0:
            continue  # the reference cannot tell them apart: nothing to predict
        pairs += 1
        guess = _sign(small[a] - small[b])
        agree += 1.0 if guess == target else 0.5 if guess == 0 else 0.0
    return (agree / pairs if pairs else math.nan), pairs


PairWeight = Callable[[str, str], float]


def _pair_matrices(
    small: Mapping[str, float], large: Mapping[str, float], weight: PairWeight | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The arms scored (finite) at both rungs, and for every pair i < j the reference
    separates: agree[i, j] (1, 1/2 for a tie at the small rung, 0) and its weight w[i, j]
    (1 without `weight`); w is 0 for every other cell. NaN weight: unknown."""
    arms = sorted(a for a in small if a in large and is_finite(small[a]) and is_finite(large[a]))
    n = len(arms)
    agree, w = np.zeros((n, n)), np.zeros((n, n))
    for i, j in combinations(range(n), 2):
        a, b = arms[i], arms[j]
        target = _sign(large[a] - large[b])
        if target == 0:
            continue
        guess = _sign(small[a] - small[b])
        agree[i, j] = 1.0 if guess == target else 0.5 if guess == 0 else 0.0
        w[i, j] = 1.0 if weight is None else weight(a, b)
    return arms, agree, w


def p_better_weight(p_better: Mapping[str, Mapping[str, float]]) -> PairWeight:
    """w(A, B) = |2 P(A better than B) - 1| from the reference rung's paired bootstrap:
    0 when the reference cannot tell the two apart (a coin flip), 1 when it always orders
    them one way; NaN when the pair has no P."""

    def weight(a: str, b: str) -> float:
        p = p_better.get(a, {}).get(b)
        return abs(2.0 * float(p) - 1.0) if p is not None and is_finite(p) else math.nan

    return weight


def weighted_decision_accuracy(
    small: Mapping[str, float], large: Mapping[str, float], p_better: Mapping[str, Mapping[str, float]]
) -> float:
    """Decision accuracy where every pair the reference separates counts by its weight
    `p_better_weight` (sum of weight x agreement over sum of weights). NaN when no pair has
    weight, or when a separated pair has no P at the reference."""
    _, agree, w = _pair_matrices(small, large, p_better_weight(p_better))
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return math.nan
    return float((w * agree).sum() / total)


def accuracy_interval(
    small: Mapping[str, float],
    large: Mapping[str, float],
    p_better: Mapping[str, Mapping[str, float]] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile `level` interval of the (weighted, with `p_better`) decision accuracy
    under a bootstrap over arms: each replicate draws the n arms with replacement; a pair
    of distinct drawn arms counts count_a x count_b times (an arm drawn twice is never
    compared with itself); replicates with no separated pair are left out. Resampling arms
    keeps the dependence between pairs that share an arm. (NaN, NaN) without a pair."""
    arms, agree, w = _pair_matrices(small, large, None if p_better is None else p_better_weight(p_better))
    n = len(arms)
    if n < 2 or not w.any() or not np.isfinite(w).all():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(float)  # (B, arm)
    num = np.einsum("ba,ac,bc->b", counts, w * agree, counts)
    den = np.einsum("ba,ac,bc->b", counts, w, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    if np.isnan(reps).all():
        return math.nan, math.nan
    q = (1 - level) / 2
    return float(np.nanquantile(reps, q)), float(np.nanquantile(reps, 1 - q))


NO_CEILING = "n/a (one seed at the reference rung)"


def noise_ceiling(per_seed: Mapping[int, Mapping[str, float]]) -> tuple[float, int]:
    """(ceiling, seed pairs): the decision accuracy of one reference seed's ranking against
    another's, averaged over every ordered pair of seeds (i against j and j against i, so
    the answer does not depend on which seed is called the reference), and the number of
    unordered seed pairs. (NaN, 0) with fewer than two seeds. Each seed is one training
    run, noisier than the mean over seeds the ladder compares with, so this is a
    conservative (low) ceiling."""
    seeds = sorted(s for s, v in per_seed.items() if any(is_finite(x) for x in v.values()))
    if len(seeds) < 2:
        return math.nan, 0
    accs = []
    for i in seeds:
        for j in seeds:
            if i != j:
                acc, pairs = decision_accuracy(per_seed[i], per_seed[j])
                if pairs:
                    accs.append(acc)
    n_pairs = len(seeds) * (len(seeds) - 1) // 2
    return (float(np.mean(accs)) if accs else math.nan), n_pairs


def kendall_tau(small: Mapping[str, float], large: Mapping[str, float]) -> tuple[float, float]:
    """Kendall's tau-b and its two-sided p-value over the arms scored at both rungs."""
    from scipy.stats import kendalltau

    arms = sorted(a for a in small if a in large and is_finite(small[a]) and is_finite(large[a]))
    if len(arms) < 2:
        return math.nan, math.nan
    res = kendalltau([small[a] for a in arms], [large[a] for a in arms])
    return float(res.statistic), float(res.pvalue)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def is_finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)
