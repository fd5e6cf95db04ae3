"""A proxy ladder's arithmetic: does the ranking of arms at a small size predict the
ranking at the largest size? (DataDecide, Magnusson et al. 2025.)

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
- `rung_scores`: one rung's numbers from the catalog's rows: per metric and seed per arm,
  the suite's decision metric computed from the per-item scores (any decision form:
  one or several texts, `benchmarks`, `lm`, `acc/<task>`), and the arms that failed.
- `train_tokens_for`: the stated token rule: `tokens_per_param x parameters`, capped at
  `max_epochs` passes over the arms' (token-matched) datasets; the trainer runs it in
  whole optimizer steps (its own rounding, `tasks.train.model.training_steps`).
- `train_flops`: 6 N D (Kaplan et al.; N counts every parameter, the tied embedding too).

Pure functions over plain dicts; flows/ladder.py reads the numbers from the catalog.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.report.stats import LEVEL, N_BOOT, MetricDef, suite_summary, task_arrays

if TYPE_CHECKING:
    from tasks.report.model import Decision

# Arm numbers that describe the data or the run, not a score to rank arms by.
NOT_SCORES = {
    "documents",
    "est_tokens",
    "unique_tokens",
    "pool_tokens",
    "kl_reduction",
    "filter_removed",
    "dedup_removed",
    "train_loss",  # each arm's loss on its own data: not comparable across arms
    "train_tokens",
    "tokens",
    "epochs",
}


def is_score(metric: str) -> bool:
    return metric not in NOT_SCORES and not metric.startswith("funnel/")


def decision_accuracy(small: Mapping[str, float], large: Mapping[str, float]) -> tuple[float, int]:
    """(accuracy, pairs): pairs of arms present in both whose order the small rung
    predicts, among the pairs the large rung separates. NaN accuracy when there is none."""
    arms = sorted(a for a in small if a in large and _finite(small[a]) and _finite(large[a]))
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
    arms = sorted(a for a in small if a in large and _finite(small[a]) and _finite(large[a]))
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
        return abs(2.0 * float(p) - 1.0) if p is not None and _finite(p) else math.nan

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
    seeds = sorted(s for s, v in per_seed.items() if any(_finite(x) for x in v.values()))
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

    arms = sorted(a for a in small if a in large and _finite(small[a]) and _finite(large[a]))
    if len(arms) < 2:
        return math.nan, math.nan
    res = kendalltau([small[a] for a in arms], [large[a] for a in arms])
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class TokenPlan:
    n_params: int
    tokens: int  # train.tokens of every arm at this rung: the rule's tokens, never over the cap
    wanted: int  # tokens_per_param x parameters
    capped: bool  # the pool cap bound
    steps: int  # optimizer steps the trainer runs for `tokens`
    trained: int  # steps x tokens per step: `tokens` plus less than one step
    epochs: float  # passes over the (token-matched) dataset that `trained` makes


def train_tokens_for(
    n_params: int, tokens_per_param: float, dataset_tokens: int, max_epochs: float, tokens_per_step: int
) -> TokenPlan:
    """min(tokens_per_param x N, max_epochs x dataset tokens) as the arms' `train.tokens`.

    Not rounded here: the trainer turns train.tokens into whole steps itself, so a rung
    that asks for what a suite arm asks for (the default suite's `train_tokens` is its
    ladder's nano rule) has that arm's training hash and reuses its model."""
    from tasks.train.model import training_steps

    if n_params <= 0 or tokens_per_param <= 0 or dataset_tokens <= 0 or max_epochs <= 0 or tokens_per_step <= 0:
        raise ValueError(
            f"token rule: n_params={n_params}, tokens_per_param={tokens_per_param}, "
            f"dataset_tokens={dataset_tokens}, max_epochs={max_epochs}, tokens_per_step={tokens_per_step} "
            "must all be positive"
        )
    wanted = int(round(tokens_per_param * n_params))
    cap = int(max_epochs * dataset_tokens)
    tokens = max(1, min(wanted, cap))
    steps = training_steps(tokens, tokens_per_step)
    trained = steps * tokens_per_step
    return TokenPlan(n_params, tokens, wanted, wanted > cap, steps, trained, trained / dataset_tokens)


def train_flops(n_params: int, tokens: int) -> float:
    return 6.0 * n_params * tokens


@dataclass(frozen=True)
class Rung:
    preset: str
    suite: Any  # tasks.suite.Suite: the suite at this size (name `<suite>.<preset>`)
    plan: TokenPlan

    @property
    def flops(self) -> float:
        return train_flops(self.plan.n_params, self.plan.trained)


def plan_rungs(suite, ladder) -> list[Rung]:
    """The suite at each preset of `ladder` (a tasks.suite.LadderSpec): one suite
    tokenizer for all rungs (so the token-matched datasets are shared and cached) and
    training tokens by `train_tokens_for`."""
    from tasks.train.model import get_preset, preset_params

    if not suite.token_budget:
        raise ValueError(
            f"suite {suite.name!r}: a ladder needs `token_budget` (the token-matched datasets every rung trains on)"
        )
    vocab = ladder.vocab_size or suite.tokenizer_vocab or get_preset(suite.preset).vocab_size
    rungs = []
    for preset in ladder.presets:
        p = get_preset(preset)
        plan = train_tokens_for(
            preset_params(preset, vocab),
            ladder.tokens_per_param,
            suite.token_budget,
            ladder.max_epochs,
            p.batch_size * p.seq_len,
        )
        update = {
            "name": f"{suite.name}.{preset}",
            "preset": preset,
            "train_tokens": plan.tokens,
            "tokenizer_vocab": vocab,
            "ladder": None,
        }
        rungs.append(Rung(preset, suite.model_copy(update=update), plan))
    return rungs


# Metric heads of the catalog (arm_metrics) -> per-item family of eval_items; the order of
# arms by acc_centered/<task> is the order by acc (centering is the same affine map for
# every arm on one task's items).
ITEM_FAMILY = {"bpb": "bpb", "prob": "prob", "acc": "acc", "acc_centered": "acc"}
HIGHER_IS_BETTER = {"bpb": False, "prob": True, "acc": True}
# The decision metric from the catalog's per-seed numbers when a rung has no per-item scores
# (evaluations from before they were kept): as tasks/report/model.py's fallback.
FALLBACK_PREFIX = {"acc": "acc_centered"}


def item_defs(
    metrics: Iterable[str], items: Sequence[Mapping[str, Any]], decision: Decision | None = None
) -> dict[str, MetricDef]:
    """The item-level definition (tasks/report/stats.py MetricDef) of every metric that has
    one: the decision metric, `bpb/<task>`, `prob/<task>`, `acc/<task>`,
    `acc_centered/<task>` (ordered as acc) and `bpb_mean` (the mean over the held-out
    texts). None for `acc_centered_mean` (a mean of per-task centred values, not of items)."""
    from tasks.evaluate.eval_data import LM_TEXTS

    present = {(r["metric"], r["task"]) for r in items}
    out: dict[str, MetricDef] = {}
    if decision is not None:
        out[decision.name] = MetricDef(decision.metric, tuple(decision.tasks), decision.higher_is_better)
    for m in metrics:
        if m in out:
            continue
        if m == "bpb_mean":
            texts = tuple(t for t in LM_TEXTS if ("bpb", t) in present)
            if texts:
                out[m] = MetricDef("bpb", texts, False)
            continue
        head, _, task = m.partition("/")
        family = ITEM_FAMILY.get(head)
        if family is not None and (family, task) in present:
            out[m] = MetricDef(family, (task,), HIGHER_IS_BETTER[family])
    return out


def item_values(items: Sequence[Mapping[str, Any]], metric: MetricDef) -> dict[int, dict[str, float]]:
    """seed -> arm -> the metric from per-item rows (arm, seed, task, item, metric, value,
    weight): each task's weighted item mean, averaged over the metric's tasks (unweighted).
    Tasks without rows are left out; an arm and seed missing one of the others has no value.
    The mean over seeds of these is the paired bootstrap's point estimate (stats.bootstrap)."""
    rows = [r for r in items if r["metric"] == metric.family and r["task"] in metric.tasks]
    arms = sorted({r["arm"] for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    per_task = []
    for task in metric.tasks:
        ts = task_arrays([r for r in rows if r["task"] == task], metric.family, task, arms, seeds)
        if ts is None:
            continue
        num, den = (ts.values * ts.w).sum(axis=-1), ts.w.sum(axis=-1)
        per_task.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))
    if not per_task:
        return {}
    v = np.mean(per_task, axis=0)  # (arm, seed); NaN where any task is missing
    return {s: {a: float(v[i, j]) for i, a in enumerate(arms) if np.isfinite(v[i, j])} for j, s in enumerate(seeds)}


@dataclass
class RungScores:
    """One rung's numbers, as the ladder compares them."""

    means: dict[str, dict[str, float]]  # metric -> arm -> mean over the arm's completed seeds
    per_seed: dict[str, dict[int, dict[str, float]]]  # metric -> seed -> arm -> value
    p_better: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # metric -> A -> B -> P(A>B)
    failed_arms: list[dict[str, Any]] = field(default_factory=list)  # arm, seed, error: left out of every score
    decision_source: str | None = None  # "per-item scores", "catalog means" or None (no value at this rung)


def _means(per_seed: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    vals: dict[str, list[float]] = defaultdict(list)
    for by_arm in per_seed.values():
        for a, v in by_arm.items():
            if _finite(v):
                vals[a].append(float(v))
    return {a: sum(v) / len(v) for a, v in vals.items()}


def rung_scores(
    seed_rows: Iterable[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]] = (),
    decision: Decision | None = None,
    runs: Iterable[Mapping[str, Any]] = (),
    arms: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    reference: bool = False,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> RungScores:
    """One rung from the catalog's rows of its suite (`<suite>.<preset>`):

    - `seed_rows` (arm, seed, metric, value) and `items` (sql/catalog/suite_items.sql) of
      its *completed* arm runs; `runs` (arm, seed, status, error) of all of them;
    - `arms` x `seeds`: the runs the rung's suite asked for. Rows of other arms (left over
      from an earlier suite of that name) are ignored; an asked-for run that did not complete
      is a failed arm (its error, or "no run recorded"), and has no value.

    The decision metric is computed from the per-item scores (any `metric/on` form), or,
    without them, from the catalog's per-task numbers. With `reference`, P(A better than B)
    of every metric with item-level scores, from the paired bootstrap over items and seeds
    (the weights of the weighted decision accuracy)."""
    keep = set(arms) if arms is not None else None
    per_seed: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in seed_rows:
        if (keep is None or r["arm"] in keep) and is_score(r["metric"]) and _finite(r["value"]):
            per_seed[r["metric"]][int(r["seed"])][r["arm"]] = float(r["value"])
    items = [r for r in items if keep is None or r["arm"] in keep]
    out = RungScores(means={}, per_seed={m: dict(v) for m, v in per_seed.items()})

    if decision is not None:
        mdef = item_defs([], items, decision)[decision.name]
        from_items = item_values(items, mdef)
        if any(from_items.values()):
            out.per_seed[decision.name], out.decision_source = from_items, "per-item scores"
        else:
            fallback = _fallback_per_seed(out.per_seed, decision)
            out.per_seed.pop(decision.name, None)
            if fallback:
                out.per_seed[decision.name], out.decision_source = fallback, "catalog means"
    out.means = {m: _means(v) for m, v in out.per_seed.items()}

    completed = set()
    for r in runs:
        if keep is not None and r["arm"] not in keep:
            continue
        if r["status"] == "completed":
            completed.add((r["arm"], int(r["seed"])))
        else:
            out.failed_arms.append({"arm": r["arm"], "seed": int(r["seed"]), "error": r.get("error") or r["status"]})
    if arms is not None and seeds is not None:
        recorded = completed | {(f["arm"], f["seed"]) for f in out.failed_arms}
        for a in arms:
            for s in seeds:
                if (a, int(s)) not in recorded:
                    out.failed_arms.append({"arm": a, "seed": int(s), "error": "no run recorded"})
    out.failed_arms.sort(key=lambda f: (f["arm"], f["seed"]))

    if reference and items:
        defs = item_defs(out.means, items, decision)
        item_arms = sorted({r["arm"] for r in items})
        for name, summary in suite_summary(items, defs, arms=item_arms, n_boot=n_boot, seed=seed).items():
            ok = [i for i, m in enumerate(summary.mean) if math.isfinite(m)]
            out.p_better[name] = {
                summary.arms[i]: {summary.arms[j]: summary.p_better[i][j] for j in ok if j != i} for i in ok
            }
    return out


def _fallback_per_seed(
    per_seed: Mapping[str, Mapping[int, Mapping[str, float]]], decision: Decision
) -> dict[int, dict[str, float]]:
    """The decision metric per seed and arm as the unweighted mean of the catalog's
    `<family>/<task>` numbers (acc: acc_centered) over the decision's tasks this rung has."""
    prefix = FALLBACK_PREFIX.get(decision.metric, decision.metric)
    tasks = [t for t in decision.tasks if f"{prefix}/{t}" in per_seed]
    out: dict[int, dict[str, float]] = defaultdict(dict)
    if not tasks:
        return {}
    seeds = {s for t in tasks for s in per_seed[f"{prefix}/{t}"]}
    for s in seeds:
        arms = set.intersection(*(set(per_seed[f"{prefix}/{t}"].get(s, {})) for t in tasks))
        for a in arms:
            out[s][a] = sum(per_seed[f"{prefix}/{t}"][s][a] for t in tasks) / len(tasks)
    return dict(out)


@dataclass(frozen=True)
class RungRow:
    rung: str
    metric: str
    decision_accuracy: float
    pairs: int
    kendall_tau: float
    tau_p: float
    flops: float  # per arm
    device_seconds: float  # training + evaluation, all arms
    arms: int
    acc_lo: float = math.nan  # 95% interval of decision_accuracy, bootstrap over arms
    acc_hi: float = math.nan
    weighted_accuracy: float = math.nan  # pairs weighted by |2 P_ref(A>B) - 1|; NaN without item scores
    weighted_lo: float = math.nan
    weighted_hi: float = math.nan
    noise_ceiling: float = math.nan  # reference seed against reference seed; NaN with one seed
    ceiling_seed_pairs: int = 0  # unordered pairs of reference seeds behind noise_ceiling
    decision: bool = False  # the suite's declared decision metric
    failed: str | None = None  # the rung (or the reference) failed: nothing of it is scored

    @property
    def ceiling_note(self) -> str | None:
        return NO_CEILING if self.ceiling_seed_pairs == 0 else None

    def as_dict(self) -> dict:
        return {**asdict(self), "noise_ceiling_note": self.ceiling_note}


ALL_METRICS = "(every metric)"


def _as_scores(x: RungScores | Mapping[str, Mapping[str, float]]) -> RungScores:
    """A plain metric -> arm -> value mapping is one seed per arm."""
    if isinstance(x, RungScores):
        return x
    means = {m: dict(v) for m, v in x.items()}
    return RungScores(means=means, per_seed={m: {0: v} for m, v in means.items()})


def ladder_table(
    scores: Mapping[str, RungScores | Mapping[str, Mapping[str, float]]],
    order: Sequence[str],
    flops: Mapping[str, float],
    device_seconds: Mapping[str, float],
    decision: str | None = None,
    failed: Mapping[str, str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> list[RungRow]:
    """Every smaller rung against the largest (`order[-1]`), per metric the largest rung
    scores, and always the `decision` metric (first, marked; with no pair when it has no
    values). `scores[rung]` is a RungScores or `[metric][arm]` (one seed). A rung in
    `failed` (rung -> error) is not scored: it gets one row naming the failure, and a failed
    reference makes every rung's row failed."""
    if len(order) < 2:
        raise ValueError(f"a ladder needs at least two rungs, got {list(order)}")
    top = order[-1]
    failed = dict(failed or {})
    data = {r: _as_scores(scores.get(r, {})) for r in order}
    ref = data[top]
    metrics = sorted(m for m in ref.means if is_score(m) and m != decision)
    if decision is not None:
        metrics.insert(0, decision)
    rows = []
    for rung in order[:-1]:
        fl, secs = float(flops.get(rung, math.nan)), float(device_seconds.get(rung, math.nan))
        reason = f"reference rung {top} failed: {failed[top]}" if top in failed else failed.get(rung)
        if reason is not None:
            nan = math.nan
            metric = decision or ALL_METRICS
            rows.append(
                RungRow(rung, metric, nan, 0, nan, nan, fl, secs, 0, decision=decision is not None, failed=reason)
            )
            continue
        for metric in metrics:
            small, large = data[rung].means.get(metric, {}), ref.means.get(metric, {})
            acc, pairs = decision_accuracy(small, large)
            lo, hi = accuracy_interval(small, large, None, n_boot, seed)
            p = ref.p_better.get(metric)
            wacc, wlo, whi = math.nan, math.nan, math.nan
            if p is not None:
                wacc = weighted_decision_accuracy(small, large, p)
                wlo, whi = accuracy_interval(small, large, p, n_boot, seed)
            tau, tau_p = kendall_tau(small, large)
            ceiling, seed_pairs = noise_ceiling(ref.per_seed.get(metric, {}))
            rows.append(
                RungRow(
                    rung,
                    metric,
                    acc,
                    pairs,
                    tau,
                    tau_p,
                    fl,
                    secs,
                    len([a for a in small if a in large]),
                    acc_lo=lo,
                    acc_hi=hi,
                    weighted_accuracy=wacc,
                    weighted_lo=wlo,
                    weighted_hi=whi,
                    noise_ceiling=ceiling,
                    ceiling_seed_pairs=seed_pairs,
                    decision=metric == decision,
                )
            )
    return rows


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _acc_cell(x: float, lo: float, hi: float) -> str:
    if not _finite(x):
        return "–"
    return f"{x:.3f} [{lo:.2f}, {hi:.2f}]" if _finite(lo) else f"{x:.3f}"


def _num(x: float, fmt: str) -> str:
    return format(x, fmt) if _finite(x) else "–"


def to_markdown(
    rows: Sequence[RungRow],
    rungs: Sequence[Rung],
    reference: str,
    walls: Mapping[str, float],
    decision: str | None = None,
    failed_rungs: Mapping[str, str] | None = None,
    failed_arms: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    decision_source: Mapping[str, str | None] | None = None,
) -> str:
    """The ladder report: the rungs (rule, compute, repetition); the decision metric, its
    noise ceiling and how it was computed; per smaller rung and metric, decision accuracy
    with its interval, the weighted accuracy, Kendall's tau and the noise ceiling against
    the reference rung; and what failed (not scored)."""
    failed_rungs = failed_rungs or {}
    lines = [
        f"# Proxy ladder: {', '.join(r.preset for r in rungs)} (reference: {reference})",
        "",
        "| rung | params | train tokens | steps | tokens/param wanted | capped by pool | epochs | FLOPs/arm | wall s | status |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rungs:
        status = f"failed: {failed_rungs[r.preset]}" if r.preset in failed_rungs else "ok"
        lines.append(
            f"| {r.preset} | {r.plan.n_params:,} | {r.plan.trained:,} | {r.plan.steps:,} | {r.plan.wanted:,} | "
            f"{'yes' if r.plan.capped else 'no'} | {r.plan.epochs:.2f} | {r.flops:.3g} | "
            f"{walls.get(r.preset, math.nan):.0f} | {status} |"
        )
    lines.append("")
    if decision is not None:
        sources = decision_source or {}
        how = ", ".join(f"{p}: {sources.get(p) or 'no value'}" for p in (r.preset for r in rungs))
        lines.append(f"**Decision metric:** `{decision}` (the suite's declared decision; computed from {how}).")
        ref_row = next((r for r in rows if r.decision and r.failed is None), None)
        if ref_row is not None:
            ceiling = (
                ref_row.ceiling_note
                if ref_row.ceiling_note
                else f"**{_num(ref_row.noise_ceiling, '.3f')}** over {ref_row.ceiling_seed_pairs} pair(s) of seeds"
            )
            lines += ["", f"**Noise ceiling** on `{decision}`: {ceiling}."]
        lines.append("")
    lines += [
        "Decision accuracy: of the arm pairs the reference rung separates, the fraction the smaller "
        "rung orders the same way (ties count 1/2), with a 95% interval from a bootstrap over arms "
        "(pairs share arms, so arms are resampled, not pairs). With n arms there are n(n-1)/2 pairs "
        "and they are not independent: read it with the pair count. Weighted: each pair counts by "
        "|2 P(A>B) - 1| at the reference rung (paired bootstrap over eval items and seeds), so pairs "
        "the reference cannot separate count little (– without per-item scores, e.g. "
        "acc_centered_mean). Noise ceiling: how often two seeds of the reference rung order the "
        "arms the same way (seed i against seed j, averaged over seed pairs); "
        f"{NO_CEILING} with one seed.",
        "",
        "| rung | metric | decision accuracy [95%] | weighted [95%] | pairs | Kendall tau | tau p | "
        "noise ceiling | FLOPs/arm | device s (all arms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rank = {r.preset: i for i, r in enumerate(rungs)}
    for row in sorted(
        rows, key=lambda x: (rank.get(x.rung, len(rank)), not x.decision, -_nan_low(x.decision_accuracy), x.metric)
    ):
        metric = f"**{row.metric}** (decides)" if row.decision else row.metric
        if row.failed is not None:
            lines.append(f"| {row.rung} | {metric} | failed: {row.failed} | – | 0 | – | – | – | {row.flops:.3g} | – |")
            continue
        ceiling = "n/a" if row.ceiling_note else _num(row.noise_ceiling, ".3f")
        lines.append(
            f"| {row.rung} | {metric} | {_acc_cell(row.decision_accuracy, row.acc_lo, row.acc_hi)} | "
            f"{_acc_cell(row.weighted_accuracy, row.weighted_lo, row.weighted_hi)} | {row.pairs} | "
            f"{_num(row.kendall_tau, '+.3f')} | {_num(row.tau_p, '.3f')} | {ceiling} | {row.flops:.3g} | "
            f"{row.device_seconds:.0f} |"
        )
    failures = [f"- rung **{p}** failed, not scored: {e}" for p, e in failed_rungs.items()]
    for preset, arms in (failed_arms or {}).items():
        failures += [
            f"- rung {preset}, arm **{f['arm']}** seed {f['seed']} failed, left out of every accuracy: {f['error']}"
            for f in arms
        ]
    if failures:
        lines += ["", "## Failed", "", *failures]
    return "\n".join(lines) + "\n"


def ladder_result(
    suite: str,
    decision: Decision,
    rungs: Sequence[Rung],
    rows: Sequence[RungRow],
    walls: Mapping[str, float],
    failed: Mapping[str, str],
    data: Mapping[str, RungScores],
) -> dict[str, Any]:
    """ladder.json: the decision metric (and what it was computed from at each rung), its
    noise ceiling, the rungs with their status, what failed, every row and each rung's
    scores (none of a failed rung: they are never scored). NaN -> null."""
    ref_row = next((r for r in rows if r.decision and r.failed is None), None)
    result = {
        "suite": suite,
        "decision": {**decision.as_dict(), "computed_from": {p: d.decision_source for p, d in data.items()}},
        "noise_ceiling": None
        if ref_row is None
        else {
            "metric": decision.name,
            "value": ref_row.noise_ceiling,
            "seed_pairs": ref_row.ceiling_seed_pairs,
            "note": ref_row.ceiling_note,
        },
        "rungs": [
            {
                "preset": r.preset,
                "suite": r.suite.name,
                **asdict(r.plan),
                "flops": r.flops,
                "wall_s": walls.get(r.preset),
                "status": "failed" if r.preset in failed else "ok",
                "error": failed.get(r.preset),
            }
            for r in rungs
        ],
        "failed_rungs": dict(failed),
        "failed_arms": {p: d.failed_arms for p, d in data.items() if d.failed_arms},
        "rows": [r.as_dict() for r in rows],
        "scores": {p: d.means for p, d in data.items() if p not in failed},
    }
    return _json_safe(result)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


def _nan_low(x: float) -> float:
    return -math.inf if x is None or math.isnan(x) else x


def metric_family(metric: str) -> str:
    """bpb / prob / acc (accuracy, centered or not) for a per-task metric (`family/task`);
    other for the rest, e.g. the aggregates bpb_mean, acc_centered_mean and a decision over
    several tasks (`bpb/lm`, `prob/benchmarks`, `bpb/a+b`), so a family's mean is over tasks."""
    if "/" not in metric:
        return "other"
    task = metric.split("/", 1)[1]
    if "+" in task or task in ("lm", "benchmarks"):
        return "other"
    head = metric.split("/", 1)[0]
    if head.startswith("bpb"):
        return "bpb"
    if head.startswith("prob"):
        return "prob"
    if head.startswith("acc"):
        return "acc"
    return "other"


FAMILY_STYLE = {"bpb": ("tab:blue", 1 / 1.12), "prob": ("tab:orange", 1.0), "acc": ("tab:red", 1.12)}


def plot_decision_accuracy(rows: Sequence[RungRow], path, highlight: str | None = None) -> Any:
    """Decision accuracy against training compute (FLOPs per arm, log scale): every metric
    as a faint point (line with several smaller rungs) coloured by family, each family's
    mean bold, and the suite's decision metric (`highlight`, else the row marked
    `decision`) as a star with its 95% interval (bootstrap over arms), its weighted
    accuracy (open diamond) and the reference rung's noise ceiling (dashed). The families
    are set a little apart on x so a single rung's points do not hide each other. The
    reference rung is 1 by definition and is not drawn; failed rungs are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if highlight is None:
        highlight = next((r.metric for r in rows if r.decision), None)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    by_metric: dict[str, list[RungRow]] = {}
    for r in rows:
        if r.failed is None and not math.isnan(r.decision_accuracy):
            by_metric.setdefault(r.metric, []).append(r)
    for family, (color, shift) in FAMILY_STYLE.items():
        metrics = {m: sorted(p, key=lambda r: r.flops) for m, p in by_metric.items() if metric_family(m) == family}
        if not metrics:
            continue
        for pts in metrics.values():
            ax.plot([p.flops * shift for p in pts], [p.decision_accuracy for p in pts], "o-", color=color, alpha=0.25)
        flops = sorted({p.flops for pts in metrics.values() for p in pts})
        means = [
            sum(p.decision_accuracy for pts in metrics.values() for p in pts if p.flops == f)
            / sum(1 for pts in metrics.values() for p in pts if p.flops == f)
            for f in flops
        ]
        ax.plot(
            [f * shift for f in flops],
            means,
            "D-",
            color=color,
            ms=9,
            lw=2.5,
            label=f"{family}: mean of {len(metrics)}",
        )
    if highlight in by_metric:
        pts = sorted(by_metric[highlight], key=lambda r: r.flops)
        shift = FAMILY_STYLE.get(metric_family(highlight), ("k", 1.0))[1]
        xs = [p.flops * shift for p in pts]
        ys = [p.decision_accuracy for p in pts]
        lo = [y - p.acc_lo if _finite(p.acc_lo) else 0.0 for y, p in zip(ys, pts)]
        hi = [p.acc_hi - y if _finite(p.acc_hi) else 0.0 for y, p in zip(ys, pts)]
        ax.errorbar(
            xs, ys, yerr=[lo, hi], fmt="*", color="black", ms=14, capsize=4, label=f"{highlight} (decides), 95%"
        )
        weighted = [(x, p.weighted_accuracy) for x, p in zip(xs, pts) if _finite(p.weighted_accuracy)]
        if weighted:
            ax.plot(
                [x for x, _ in weighted],
                [w for _, w in weighted],
                "D",
                mfc="none",
                mec="black",
                ms=10,
                label=f"{highlight}: weighted by reference confidence",
            )
        ceiling = next((p.noise_ceiling for p in pts if _finite(p.noise_ceiling)), None)
        if ceiling is not None:
            ax.axhline(ceiling, color="black", linestyle="--", linewidth=1, label=f"noise ceiling ({ceiling:.2f})")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training compute per arm of the smaller rung (FLOPs, 6ND)")
    ax.set_ylabel("pairwise decision accuracy vs reference")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
