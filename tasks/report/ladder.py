"""A proxy ladder's arithmetic: does the ranking of arms at a small size predict the
ranking at the largest size? (DataDecide, Magnusson et al. 2025.)

- `decision_accuracy`: over every pair of arms the largest rung separates, the fraction
  whose order the small rung gets right (a tie at the small rung counts one half: a coin
  flip). Agreement of order does not depend on whether the metric is higher- or
  lower-is-better, so no direction is needed.
- `kendall_tau`: Kendall's tau-b between the two rungs' scores (scipy), with its p-value.
- `train_tokens_for`: the stated token rule: `tokens_per_param x parameters`, capped at
  `max_epochs` passes over the arms' (token-matched) datasets; the trainer runs it in
  whole optimizer steps (its own rounding, `tasks.train.model.training_steps`).
- `train_flops`: 6 N D (Kaplan et al.; N counts every parameter, the tied embedding too).

Pure functions over plain dicts; flows/ladder.py reads the numbers from the catalog.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

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

    def as_dict(self) -> dict:
        return asdict(self)


def ladder_table(
    scores: Mapping[str, Mapping[str, Mapping[str, float]]],
    order: Sequence[str],
    flops: Mapping[str, float],
    device_seconds: Mapping[str, float],
) -> list[RungRow]:
    """Every smaller rung against the largest (`order[-1]`), per metric the largest rung
    scores. `scores[rung][metric][arm]`."""
    if len(order) < 2:
        raise ValueError(f"a ladder needs at least two rungs, got {list(order)}")
    top = order[-1]
    rows = []
    for rung in order[:-1]:
        for metric in sorted(m for m in scores.get(top, {}) if is_score(m)):
            small, large = scores.get(rung, {}).get(metric, {}), scores[top][metric]
            acc, pairs = decision_accuracy(small, large)
            tau, p = kendall_tau(small, large)
            rows.append(
                RungRow(
                    rung,
                    metric,
                    acc,
                    pairs,
                    tau,
                    p,
                    float(flops.get(rung, math.nan)),
                    float(device_seconds.get(rung, math.nan)),
                    len([a for a in small if a in large]),
                )
            )
    return rows


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def to_markdown(rows: Sequence[RungRow], rungs: Sequence[Rung], reference: str, walls: Mapping[str, float]) -> str:
    """The ladder report: the rungs (rule, compute, repetition) and, per smaller rung and
    metric, decision accuracy and Kendall's tau against the reference rung."""
    lines = [
        f"# Proxy ladder: {', '.join(r.preset for r in rungs)} (reference: {reference})",
        "",
        "| rung | params | train tokens | steps | tokens/param wanted | capped by pool | epochs | FLOPs/arm | wall s |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rungs:
        lines.append(
            f"| {r.preset} | {r.plan.n_params:,} | {r.plan.trained:,} | {r.plan.steps:,} | {r.plan.wanted:,} | "
            f"{'yes' if r.plan.capped else 'no'} | {r.plan.epochs:.2f} | {r.flops:.3g} | "
            f"{walls.get(r.preset, math.nan):.0f} |"
        )
    lines += [
        "",
        "Decision accuracy: of the arm pairs the reference rung separates, the fraction the smaller "
        "rung orders the same way (ties count 1/2). With n arms there are n(n-1)/2 pairs and they are "
        "not independent: read it with the pair count.",
        "",
        "| rung | metric | decision accuracy | pairs | Kendall tau | tau p | FLOPs/arm | device s (all arms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda x: (x.rung, -_nan_low(x.decision_accuracy), x.metric)):
        lines.append(
            f"| {row.rung} | {row.metric} | {row.decision_accuracy:.3f} | {row.pairs} | {row.kendall_tau:+.3f} | "
            f"{row.tau_p:.3f} | {row.flops:.3g} | {row.device_seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _nan_low(x: float) -> float:
    return -math.inf if x is None or math.isnan(x) else x


def metric_family(metric: str) -> str:
    """bpb / prob / acc (accuracy, centered or not) for a per-task metric (`family/task`);
    other for the rest, e.g. the aggregates bpb_mean and acc_centered_mean."""
    if "/" not in metric:
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
    mean bold, and `highlight` (the suite's decision metric) marked. The families are set
    a little apart on x so a single rung's points do not hide each other. The reference
    rung is 1 by definition and is not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    by_metric: dict[str, list[RungRow]] = {}
    for r in rows:
        if not math.isnan(r.decision_accuracy):
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
        ax.plot(
            [p.flops * shift for p in pts],
            [p.decision_accuracy for p in pts],
            "*",
            color="black",
            ms=14,
            label=f"{highlight} (decides)",
        )
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
