"""Extrapolation on the ladder: fit each arm's metric over the smaller rungs, predict the
reference rung, and ask whether the predicted ranking beats the single-size one.

Farseer (2025) fits a loss surface L(N, D) on small runs and extrapolates it; DataDecide
(Magnusson et al. 2025) found that the ranking at a single small size predicted the 1B
winner as well as the eight extrapolation methods it tried. This module measures which
holds on a winnow ladder, per metric: predicted against observed at the reference rung, the
error, and the decision accuracy of the predicted ranking beside the single-size rankings.

The law, per metric:  y_arm(C) = E_arm + A_arm * (C / C_ref) ** -alpha,  C = the rung's
training compute (6 N D per arm, tasks/report/ladder_plan.py).

- Why not Chinchilla's E + A/N^a + B/D^b: five unknowns per arm from two to four rungs, and
  on winnow's ladders the pool caps D (every rung of `default` and `ladder_small`), so D is
  the same at every rung and B/D^b cannot be told apart from E. In compute the law has three.
- One exponent per metric, shared by the arms: the arms differ only in their data, so they
  share the size dependence; this also makes alpha identifiable from more points than one
  arm has. With at least 3 smaller rungs alpha is fitted (for each alpha, E and A by linear
  least squares per arm; alpha by a grid over [ALPHA_MIN, ALPHA_MAX] refined by a bounded
  1-D search: variable projection). An arm with 2 values is fitted exactly at that alpha.
- With 2 smaller rungs alpha is fixed at FIXED_ALPHA = 0.34, Chinchilla's exponent of N
  (Hoffmann et al. 2022, approach 3): when D is capped C is proportional to N, so it is the
  exponent in compute too. E and A go through both points.
- With 1 smaller rung (or an arm with one value) there is no law: the prediction is that
  value, so the "predicted" ranking is the single-size one. With none, nothing is predicted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from tasks.report.ladder_accuracy import decision_accuracy, is_finite
from tasks.report.ladder_scores import is_score

FIXED_ALPHA = 0.34
ALPHA_MIN, ALPHA_MAX = 0.01, 2.0

Points = Mapping[str, Sequence[tuple[float, float]]]  # arm -> [(C / C_ref, value)]


@dataclass(frozen=True)
class Law:
    kind: str  # "fitted alpha", "fixed alpha", "single size" or "none"
    alpha: float  # NaN without a law
    coef: dict[str, tuple[float, float]]  # arm -> (E, A) for arms with 2+ values
    single: dict[str, float]  # arm -> its one value (no law for it)

    def predict(self, arm: str, x: float = 1.0) -> float:
        if arm in self.coef:
            e, a = self.coef[arm]
            return e + a * x**-self.alpha
        return self.single.get(arm, math.nan)


@dataclass(frozen=True)
class ExtrapolationRow:
    metric: str
    law: str
    alpha: float
    rungs: int  # smaller rungs with a value for at least one arm
    arms: int  # arms predicted and observed
    mae: float  # mean |predicted - observed| at the reference rung
    mean_rel_error: float  # mean |predicted - observed| / |observed|
    predicted_accuracy: float  # decision accuracy of the predicted ranking
    smallest_accuracy: float  # ... of the smallest rung's ranking
    largest_accuracy: float  # ... of the largest smaller rung's ranking
    pairs: int  # pairs the reference separates
    decision: bool = False


@dataclass(frozen=True)
class ArmPrediction:
    metric: str
    arm: str
    predicted: float
    observed: float

    @property
    def error(self) -> float:
        return self.predicted - self.observed


def _ls(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """(E, A, residual sum of squares) of y = E + A x^-alpha by least squares."""
    design = np.column_stack([np.ones_like(x), x**-alpha])
    (e, a), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(e), float(a), float(np.sum((design @ np.array([e, a]) - y) ** 2))


def _fit_alpha(series: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """The shared exponent minimising the arms' total squared residual (variable projection)."""
    from scipy.optimize import minimize_scalar

    def sse(alpha: float) -> float:
        return sum(_ls(x, y, alpha)[2] for x, y in series.values())

    grid = np.geomspace(ALPHA_MIN, ALPHA_MAX, 200)
    i = int(np.argmin([sse(a) for a in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(sse, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    return float(res.x) if res.fun <= sse(grid[i]) else float(grid[i])


def fit_law(points: Points, fixed_alpha: float = FIXED_ALPHA) -> Law:
    """The metric's law over the arms' smaller-rung values (see the module docstring)."""
    finite = {a: [(x, y) for x, y in ps if is_finite(y)] for a, ps in points.items()}
    series = {
        a: (np.array([x for x, _ in ps], float), np.array([y for _, y in ps], float))
        for a, ps in finite.items()
        if len(ps) >= 2
    }
    single = {a: float(ps[0][1]) for a, ps in finite.items() if len(ps) == 1}
    if not series:
        return Law("single size" if single else "none", math.nan, {}, single)
    rich = {a: s for a, s in series.items() if len(s[0]) >= 3}
    kind, alpha = ("fitted alpha", _fit_alpha(rich)) if rich else ("fixed alpha", fixed_alpha)
    coef = {a: _ls(x, y, alpha)[:2] for a, (x, y) in series.items()}
    return Law(kind, alpha, coef, single)


def extrapolate(
    means: Mapping[str, Mapping[str, Mapping[str, float]]],
    order: Sequence[str],
    flops: Mapping[str, float],
    decision: str | None = None,
    failed: Mapping[str, str] | None = None,
) -> tuple[list[ExtrapolationRow], list[ArmPrediction]]:
    """Per metric the reference rung (`order[-1]`) scores: the law fitted on the smaller
    rungs that did not fail (`means[rung][metric][arm]`, compute `flops[rung]`), its
    predictions at the reference against what it observed, and the rankings' accuracy."""
    failed = failed or {}
    top = order[-1]
    if top in failed or len(order) < 2:
        return [], []
    small = [r for r in order[:-1] if r not in failed and r in means]
    ref = means.get(top, {})
    metrics = sorted((m for m in ref if is_score(m)), key=lambda m: (m != decision, m))
    rows, preds = [], []
    for metric in metrics:
        row, arm_preds = _metric_row(metric, means, small, ref[metric], flops, top)
        rows.append(replace(row, decision=metric == decision))
        preds += arm_preds
    return rows, preds


def _metric_row(
    metric: str,
    means: Mapping[str, Mapping[str, Mapping[str, float]]],
    small: Sequence[str],
    observed: Mapping[str, float],
    flops: Mapping[str, float],
    top: str,
) -> tuple[ExtrapolationRow, list[ArmPrediction]]:
    at = {r: means[r].get(metric, {}) for r in small}
    points = {a: [(flops[r] / flops[top], at[r][a]) for r in small if a in at[r]] for a in observed}
    law = fit_law(points)
    predicted = {a: law.predict(a) for a in observed}
    preds = [ArmPrediction(metric, a, predicted[a], observed[a]) for a in sorted(observed)]
    scored = [p for p in preds if is_finite(p.predicted) and is_finite(p.observed)]
    errs = [abs(p.error) for p in scored]
    rel = [abs(p.error) / abs(p.observed) for p in scored if p.observed != 0]
    acc, pairs = decision_accuracy(predicted, observed)
    first = decision_accuracy(at[small[0]], observed)[0] if small else math.nan
    last = decision_accuracy(at[small[-1]], observed)[0] if small else math.nan
    used = sum(1 for r in small if any(is_finite(v) for v in at[r].values()))
    row = ExtrapolationRow(
        metric, law.kind, law.alpha, used, len(scored), _mean(errs), _mean(rel), acc, first, last, pairs
    )
    return row, preds


def from_ladder_json(result: Mapping) -> tuple[list[ExtrapolationRow], list[ArmPrediction], list[str]]:
    """The extrapolation of a written ladder.json (also one from before this module: its
    `scores` and `rungs` are all it needs): (rows, predictions, rung order)."""
    order = [r["preset"] for r in result["rungs"]]
    flops = {r["preset"]: float(r["flops"]) for r in result["rungs"]}
    means = {
        p: {m: {a: math.nan if v is None else v for a, v in by.items()} for m, by in ms.items()}
        for p, ms in result["scores"].items()
    }
    rows, preds = extrapolate(means, order, flops, result["decision"]["name"], result.get("failed_rungs"))
    return rows, preds, order


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if xs else math.nan


def to_markdown(
    rows: Sequence[ExtrapolationRow], preds: Sequence[ArmPrediction], order: Sequence[str], decision: str | None
) -> str:
    """The report's extrapolation section: one row per metric, then the decision metric's
    prediction per arm."""
    if not rows:
        return ""
    lines = [
        "## Extrapolation to the reference rung",
        "",
        f"Per metric, y = E + A (C/C_ref)^-alpha fitted per arm on {', '.join(order[:-1])} (one alpha per "
        f"metric: fitted with 3+ smaller rungs, {FIXED_ALPHA} with 2; one rung: its value), predicted at "
        f"{order[-1]}. Decision accuracy of the predicted ranking against the observed one, beside the "
        f"rankings of the smallest rung ({order[0]}) and of the largest below the reference ({order[-2]}).",
        "",
        f"| metric | law | alpha | rungs | arms | mean abs error | mean rel error | predicted | {order[0]} "
        f"| {order[-2]} | pairs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        metric = f"**{r.metric}** (decides)" if r.decision else r.metric
        lines.append(
            f"| {metric} | {r.law} | {_n(r.alpha, '.3f')} | {r.rungs} | {r.arms} | {_n(r.mae, '.4g')} | "
            f"{_n(r.mean_rel_error, '.2%')} | {_n(r.predicted_accuracy, '.3f')} | {_n(r.smallest_accuracy, '.3f')} | "
            f"{_n(r.largest_accuracy, '.3f')} | {r.pairs} |"
        )
    shown = [p for p in preds if p.metric == decision]
    if shown:
        lines += [
            "",
            f"`{decision}` at {order[-1]}:",
            "",
            "| arm | predicted | observed | error |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {p.arm} | {_n(p.predicted, '.4f')} | {_n(p.observed, '.4f')} | {_n(p.error, '+.4f')} |" for p in shown
        ]
    return "\n".join(lines) + "\n"


def as_json(rows: Sequence[ExtrapolationRow], preds: Sequence[ArmPrediction]) -> dict:
    """ladder.json's `extrapolation`: the rows and every arm's prediction (NaN stays NaN
    here; ladder_result's writer turns it into null)."""
    return {
        "law": "y = E + A * (C / C_ref) ** -alpha",
        "fixed_alpha": FIXED_ALPHA,
        "rows": [asdict(r) for r in rows],
        "predictions": [{**asdict(p), "error": p.error} for p in preds],
    }


def _n(x: float, fmt: str) -> str:
    return format(x, fmt) if is_finite(x) else "–"
