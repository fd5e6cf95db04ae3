"""Mixture search: from proxies trained on Dirichlet-sampled mixtures, fit a regressor from
mixture weights to the decision metric, say how well it predicts held-out mixtures, and
predict the best mixture (RegMix, Liu et al. 2024; CLIMB, Diao et al. 2025).

- `sample_simplex`: points from a symmetric Dirichlet over the groups (rows sum to 1).
- `make_model`: `quadratic` (default: ridge regression on the weights and their pairwise
  products, a Scheffé-style mixture model that can have an interior optimum), `linear`
  (RegMix's linear model: the optimum is a vertex), `gbm` (gradient-boosted trees, the
  scikit-learn stand-in for CLIMB's LightGBM) or `gp` (a Gaussian process).
- `held_out`: leave-one-out (or K-fold) predictions, their mean absolute error and
  Spearman correlation with the observations.
- `predict_optimum`: the model over a dense Dirichlet sample; the optimum is the mean of
  the `top_k` best candidates (RegMix averages its top 100: steadier than one argmax), a
  point of the simplex, rounded like the sweep's weights.
- `search`: the three above over a sweep's scored points; `save_model` pickles the fit.

Pure numpy / scikit-learn; flows/sweep.py trains the arms and the predicted optimum.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tasks.report.render import json_safe as _clean
from tasks.sweep.design import round_simplex

ModelKind = Literal["quadratic", "linear", "gbm", "gp"]
MODELS: tuple[str, ...] = ("quadratic", "linear", "gbm", "gp")


def sample_simplex(n: int, groups: int, alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """(n, groups) mixture weights from Dirichlet(alpha, ..., alpha): every row >= 0, sums to 1."""
    if n <= 0 or groups < 2 or alpha <= 0:
        raise ValueError(f"need n > 0, at least 2 groups and alpha > 0; got n={n}, groups={groups}, alpha={alpha}")
    return np.random.default_rng(seed).dirichlet(np.full(groups, float(alpha)), size=n)


def make_model(kind: str, seed: int = 0) -> Any:
    """An unfitted scikit-learn regressor of the named kind."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    alphas = np.logspace(-6, 2, 17)
    if kind == "linear":
        return RidgeCV(alphas=alphas)
    if kind == "quadratic":
        return make_pipeline(PolynomialFeatures(2, include_bias=False), RidgeCV(alphas=alphas))
    if kind == "gbm":
        return GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05, random_state=seed)
    if kind == "gp":
        kernel = ConstantKernel(1.0) * RBF(length_scale=0.5) + WhiteKernel(1e-3, noise_level_bounds=(1e-8, 1e1))
        return GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed)
    raise ValueError(f"unknown mixture model {kind!r}; known: {', '.join(MODELS)}")


def _check(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"need weights (n, groups) and values (n,), got {x.shape} and {y.shape}")
    if len(y) < 3:
        raise ValueError(f"a mixture model needs at least 3 observed mixtures, got {len(y)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("weights and values must be finite (leave failed arms out)")


@dataclass(frozen=True)
class HeldOut:
    """Held-out predictions (one per mixture, from a model fitted without it)."""

    predicted: list[float]
    mae: float
    spearman: float  # NaN when either side is constant
    folds: int


def held_out(x: np.ndarray, y: np.ndarray, kind: str = "quadratic", folds: int | None = None, seed: int = 0) -> HeldOut:
    """Leave-one-out (folds None or >= n) or K-fold held-out predictions, MAE, Spearman."""
    from scipy.stats import spearmanr
    from sklearn.base import clone
    from sklearn.model_selection import KFold, LeaveOneOut

    x, y = np.asarray(x, float), np.asarray(y, float)
    _check(x, y)
    k = len(y) if folds is None or folds >= len(y) else folds
    if k < 2:
        raise ValueError(f"held-out error needs at least 2 folds, got {k}")
    split = LeaveOneOut() if k == len(y) else KFold(k, shuffle=True, random_state=seed)
    pred = np.empty_like(y)
    proto = make_model(kind, seed)
    for train, test in split.split(x):
        pred[test] = clone(proto).fit(x[train], y[train]).predict(x[test])
    if np.ptp(pred) == 0 or np.ptp(y) == 0:
        rho = math.nan
    else:
        rho = float(spearmanr(pred, y).statistic)
    return HeldOut([float(p) for p in pred], float(np.mean(np.abs(pred - y))), rho, k)


def fit(x: np.ndarray, y: np.ndarray, kind: str = "quadratic", seed: int = 0) -> Any:
    x, y = np.asarray(x, float), np.asarray(y, float)
    _check(x, y)
    return make_model(kind, seed).fit(x, y)


@dataclass(frozen=True)
class Optimum:
    weights: dict[str, float]  # rounded, sums to 1
    predicted: float  # the model at `weights`
    candidates: int
    top_k: int
    best_candidate: float  # the model at the single best candidate


def predict_optimum(
    model: Any,
    groups: Sequence[str],
    higher_is_better: bool,
    candidates: int = 20_000,
    alpha: float = 1.0,
    top_k: int = 100,
    seed: int = 0,
) -> Optimum:
    """The best mixture the model predicts over `candidates` Dirichlet(alpha) points: the
    mean of the `top_k` best, rounded to the sweep's precision (still on the simplex)."""
    pts = sample_simplex(candidates, len(groups), alpha, seed)
    pred = np.asarray(model.predict(pts), float)
    order = np.argsort(-pred if higher_is_better else pred, kind="stable")
    k = max(1, min(top_k, candidates))
    w = round_simplex(pts[order[:k]].mean(axis=0))
    return Optimum(
        weights={g: float(v) for g, v in zip(groups, w)},
        predicted=float(model.predict(w[None, :])[0]),
        candidates=candidates,
        top_k=k,
        best_candidate=float(pred[order[0]]),
    )


@dataclass
class MixturePoint:
    arm: str
    weights: dict[str, float]
    observed: float | None  # the decision metric (None: the arm failed)
    lo: float | None = None
    hi: float | None = None
    held_out: float | None = None  # the model's prediction without this point
    unique_tokens: float | None = None  # the arm's dataset in real tokens (each document once)


@dataclass
class MixtureSearch:
    """Everything the mixture-search report says (flows/sweep.py fills it from `search`)."""

    suite: str
    metric: str
    higher_is_better: bool
    groups: list[str]
    model: str
    points: list[MixturePoint]
    held: HeldOut
    optimum: Optimum
    optimum_arm: str
    optimum_observed: MixturePoint | None = None
    best_sampled: str | None = None
    vs_best: dict[str, float] | None = None  # paired difference optimum - best sampled
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return _clean(asdict(self))


def _num(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _weights(w: dict[str, float]) -> str:
    return ", ".join(f"{g} {v:.2f}" for g, v in w.items())


def to_markdown(s: MixtureSearch) -> str:
    better = "higher" if s.higher_is_better else "lower"
    h = s.held
    lines = [
        f"## Mixture search: {s.suite}",
        "",
        f"Decision metric `{s.metric}` ({better} is better) of {len(s.points)} proxy mixtures sampled from a "
        f"Dirichlet over {', '.join(s.groups)}; model `{s.model}` from weights to the metric.",
        "",
        f"**Held-out error** ({'leave-one-out' if h.folds == len(s.points) else f'{h.folds}-fold'} over the "
        f"observed mixtures): MAE {_num(h.mae)}, Spearman {_num(h.spearman)}.",
        "",
    ]
    o = s.optimum
    obs = s.optimum_observed
    lines += [
        f"**Predicted optimum** `{s.optimum_arm}` ({_weights(o.weights)}; mean of the top {o.top_k} of "
        f"{o.candidates:,} Dirichlet candidates): predicted {_num(o.predicted)}, "
        + (
            f"observed {_num(obs.observed)} [{_num(obs.lo)}, {_num(obs.hi)}]."
            if obs and obs.observed is not None
            else "not observed (its arm failed or did not run)."
        ),
    ]
    if s.best_sampled and s.vs_best:
        d = s.vs_best
        lines += [
            "",
            f"**Against the best sampled mixture** `{s.best_sampled}`: difference (optimum - best) "
            f"{_num(d['diff'])} [{_num(d['lo'])}, {_num(d['hi'])}] (95% paired bootstrap), "
            f"P(optimum better) {d['p_better']:.3f}.",
        ]
    lines += ["", "| arm | " + " | ".join(s.groups) + " | unique tokens | observed [95%] | held-out prediction |"]
    lines += ["|---|" + "---:|" * len(s.groups) + "---:|---|---:|"]
    rows = sorted(s.points, key=lambda p: (p.observed is None, (-1 if s.higher_is_better else 1) * (p.observed or 0)))
    for p in rows + ([obs] if obs else []):
        cells = [f"{p.weights.get(g, 0.0):.2f}" for g in s.groups]
        label = f"**{p.arm}** (optimum)" if p is obs else p.arm
        lines.append(
            f"| {label} | "
            + " | ".join(cells)
            + (f" | {p.unique_tokens:,.0f}" if p.unique_tokens is not None else " | –")
            + f" | {_num(p.observed)} [{_num(p.lo)}, {_num(p.hi)}] | "
            + (f"{_num(o.predicted)} (fit on all)" if p is obs else _num(p.held_out))
            + " |"
        )
    lines += [""] + [f"- {n}" for n in s.notes]
    return "\n".join(lines).rstrip() + "\n"


def plot_predicted_vs_observed(s: MixtureSearch, path) -> Any:
    """Held-out prediction vs observation per sampled mixture (95% intervals of the
    observation), the optimum's prediction vs its observation, and y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    pts = [(p, p.held_out, p.observed) for p in s.points if p.observed is not None and p.held_out is not None]
    xs: list[float] = [h for _, h, _ in pts if h is not None]
    ys: list[float] = [o for _, _, o in pts if o is not None]
    err = [[o - (p.lo if p.lo is not None else o) for p, _, o in pts if o is not None]]
    err.append([(p.hi if p.hi is not None else o) - o for p, _, o in pts if o is not None])
    ax.errorbar(xs, ys, yerr=np.clip(err, 0, None), fmt="o", capsize=3, label="sampled mixtures (held-out prediction)")
    obs = s.optimum_observed
    allv = xs + ys
    if obs is not None and obs.observed is not None:
        o = obs.observed
        yerr = [[o - (obs.lo if obs.lo is not None else o)], [(obs.hi if obs.hi is not None else o) - o]]
        ax.errorbar(
            [s.optimum.predicted],
            [o],
            yerr=np.clip(yerr, 0, None),
            fmt="*",
            ms=14,
            color="tab:red",
            label="predicted optimum",
        )
        allv += [s.optimum.predicted, o]
    if allv:
        lo, hi = min(allv), max(allv)
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="y = x")
    ax.set_xlabel(f"predicted {s.metric}")
    ax.set_ylabel(f"observed {s.metric}")
    ax.set_title(f"{s.suite}: {s.model} model, MAE {_num(s.held.mae)}, Spearman {_num(s.held.spearman)}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def search(
    points: Sequence[MixturePoint],
    groups: Sequence[str],
    kind: str,
    higher_is_better: bool,
    folds: int | None = None,
    seed: int = 0,
    candidates: int = 20_000,
    alpha: float = 1.0,
    top_k: int = 100,
) -> tuple[Any, HeldOut, Optimum]:
    """The mixture search over the scored `points` (observed not None): their held-out
    predictions (set on each point as `held_out`), the model fitted on all of them and
    its predicted optimum (candidates drawn with `seed + 1`)."""
    seen = [p for p in points if p.observed is not None]
    x = np.asarray([[p.weights.get(g, 0.0) for g in groups] for p in seen], float)
    y = np.asarray([float(p.observed) for p in seen if p.observed is not None], float)
    held = held_out(x, y, kind, folds, seed=seed)
    for point, pred in zip(seen, held.predicted):
        point.held_out = pred
    fitted = fit(x, y, kind, seed=seed)
    opt = predict_optimum(fitted, groups, higher_is_better, candidates, alpha, top_k, seed=seed + 1)
    return fitted, held, opt


def save_model(path: Path, model: Any, groups: Sequence[str], kind: str, metric: str) -> Path:
    """Pickle a fitted mixture model with what it needs to be used again (its groups' order,
    kind and the metric it predicts): `mixture_model-<sweep>.pkl`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"model": model, "groups": groups, "kind": kind, "metric": metric}, f)
    return path


def best_sampled(points: Sequence[MixturePoint], higher_is_better: bool) -> MixturePoint:
    """The best scored sampled mixture (the first of equals)."""
    sign = -1.0 if higher_is_better else 1.0
    return min((p for p in points if p.observed is not None), key=lambda p: sign * float(p.observed or 0.0))
