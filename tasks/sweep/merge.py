"""Mixture search by merged partition models (Na et al. 2024, "Scalable Data Ablation
Approximations for Language Models through Modular Training and Merging").

Train once: a short warm-up on the pooled partitions (uniform weights), then one proxy per
partition continued from the warm-up's weights (`TrainSpec.options["init_from"]`, read by
tasks/train/loop.py), each an ordinary cached model. Then any mixture over the partitions
is scored, with no training, by the held-out bits per byte of the weighted parameter average
of their models. flows/sweep.py trains the best few mixtures (and a few at random) for real
and `agreement` says how well the merged score ranked them.

- `partition_recipes`: the pooled warm-up arm and one arm per partition (one-hot weights).
- `warmup_spec`, `partition_spec`: their training, splitting the suite's train tokens.
- `merge`: the weighted average of state dicts; `load_state` / `save_merged` on disk.
- `MergedScorer`: the decision metric (`bpb` on held-out texts) of merged weights, with the
  eval stage's own document and window code (tasks/evaluate/snapshots.py): one model load,
  weights swapped in per mixture.
- `pick`, `agreement` (Spearman and pairwise decision accuracy with bootstrap intervals),
  `MergeSearch` and its markdown.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from tasks.recipe import Recipe
from tasks.report.render import json_safe
from tasks.sweep.design import point_recipe
from tasks.sweep.spec import SweepSpec
from tasks.train.loop import INIT_FROM
from tasks.train.spec import TrainSpec

WEIGHTS_FILE = "model.safetensors"


# ---------------------------------------------------------------- the partition models


def partition_recipes(
    sweep: SweepSpec, suite: Mapping[str, Any], path: str, groups: Sequence[str]
) -> tuple[Recipe, dict[str, Recipe]]:
    """The pooled arm (equal weights: the warm-up's data) and one arm per group (all its
    weight on that group), built from the sweep's base like any point."""
    prefix = f"{sweep.name}_" if sweep.name else ""
    even = {g: 1.0 / len(groups) for g in groups}
    pool = point_recipe(sweep, suite, {path: even}, f"{prefix}merge_pool")
    parts = {
        g: point_recipe(sweep, suite, {path: {h: float(h == g) for h in groups}}, f"{prefix}merge_part_{g}")
        for g in groups
    }
    return pool, parts


def _tokens(spec: TrainSpec) -> int:
    if not spec.tokens:
        raise ValueError("sweep.merge: set the suite's train_tokens (the warm-up and partitions split them)")
    return spec.tokens


def warmup_spec(spec: TrainSpec, fraction: float) -> TrainSpec:
    """The warm-up's training: `fraction` of the arm's tokens, on the pooled data."""
    return spec.model_copy(update={"tokens": max(1, round(_tokens(spec) * fraction)), "snapshots": 0})


def partition_spec(spec: TrainSpec, fraction: float, warmup_key: str) -> TrainSpec:
    """A partition's training: the rest of the tokens, from the warm-up model's weights (its
    key is in `options`, so in the model's hash)."""
    rest = max(1, _tokens(spec) - round(_tokens(spec) * fraction))
    options = {**spec.options, INIT_FROM: warmup_key}
    return spec.model_copy(update={"tokens": rest, "snapshots": 0, "options": options})


# ---------------------------------------------------------------- merging


def merge(states: Sequence[Mapping[str, Any]], weights: Sequence[float]) -> dict[str, Any]:
    """The weighted average of state dicts with the same keys and shapes; weights >= 0 are
    normalised to sum to 1. Accumulated in float32, returned in each tensor's dtype."""
    import torch

    w = np.asarray(weights, dtype=float)
    if len(states) != len(w) or not len(states) or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"merge: need one weight >= 0 per model with a positive sum, got {list(weights)}")
    keys = list(states[0])
    for i, s in enumerate(states[1:], 1):
        if list(s) != keys:
            raise ValueError(f"merge: model {i} has other tensors than model 0")
    w = w / w.sum()
    out: dict[str, Any] = {}
    for k in keys:
        acc = torch.zeros_like(states[0][k], dtype=torch.float32)
        for s, x in zip(states, w):
            if x:
                acc += float(x) * s[k].to(torch.float32)
        out[k] = acc.to(states[0][k].dtype)
    return out


def load_state(model_dir: str | Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / WEIGHTS_FILE))


def save_merged(template_dir: str | Path, state: Mapping[str, Any], out_dir: str | Path) -> Path:
    """A loadable Hugging Face model: the template's config and tokenizer, the merged weights."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for f in Path(template_dir).iterdir():
        if f.is_file() and (f.suffix == ".json" or f.name.startswith("tokenizer")) and f.name != "train.json":
            shutil.copy2(f, out / f.name)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    return out


# ---------------------------------------------------------------- scoring


class MergedScorer:
    """Bits per byte of held-out texts for many weight sets of one architecture: the
    documents and windows the harness would score (tasks/evaluate/snapshots.py), computed
    once; each state is swapped into one loaded model."""

    def __init__(self, template_dir: str | Path, tasks_limits: dict[str, int | None], device: str = "cpu"):
        import torch
        from lm_eval.models.utils import resolve_max_length
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from tasks.core.logs import quiet_libraries
        from tasks.evaluate.snapshots import lm_documents, rolling_windows

        quiet_libraries()  # lm-eval's per-task notes, transformers' load bars (as score_snapshots)
        self.docs = [d for d in lm_documents(tasks_limits) if d.n_bytes > 0]
        if not self.docs:
            raise ValueError(f"merged scoring needs held-out text tasks (lm), got {list(tasks_limits)}")
        tok = AutoTokenizer.from_pretrained(str(template_dir), use_fast=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(template_dir), dtype=torch.float32).eval().to(device)
        self.max_length = resolve_max_length(self.model.config, tok, default=2048)
        prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.windows: list[tuple[list[int], list[int]]] = []
        self.owner: list[int] = []
        for i, doc in enumerate(self.docs):
            ws = rolling_windows(tok, doc.target, prefix, self.max_length)
            self.windows += ws
            self.owner += [i] * len(ws)
        self.device = device

    def score(self, state: Mapping[str, Any]) -> dict[str, float]:
        """Per task: byte-weighted bits per byte (as the harness's `bits_per_byte`)."""
        from tasks.evaluate.snapshots import window_logliks

        self.model.load_state_dict(dict(state), strict=False)
        lls = [0.0] * len(self.docs)
        for d, ll in zip(self.owner, window_logliks(self.model, self.windows, self.max_length, self.device)):
            lls[d] += ll
        out: dict[str, list[float]] = {}
        for doc, ll in zip(self.docs, lls):
            acc = out.setdefault(doc.task, [0.0, 0.0])
            acc[0] -= ll
            acc[1] += doc.n_bytes
        return {t: nll / (n * math.log(2)) for t, (nll, n) in out.items()}


def decision_value(per_task: Mapping[str, float], tasks: Sequence[str]) -> float:
    """The decision metric over several tasks: their unweighted mean (tasks/report/stats.py)."""
    missing = [t for t in tasks if t not in per_task]
    if missing:
        raise ValueError(f"merged score lacks tasks {missing}")
    return float(np.mean([per_task[t] for t in tasks]))


# ---------------------------------------------------------------- which to train, and how well it ranked


def pick(scores: Sequence[float], top: int, random: int, higher_is_better: bool, seed: int = 0) -> list[int]:
    """Indices to train: the `top` best merged scores, then `random` drawn from the rest."""
    s = np.asarray(scores, dtype=float)
    order = np.argsort(-s if higher_is_better else s, kind="stable")
    best = [int(i) for i in order[:top]]
    rest = np.asarray([int(i) for i in order[top:]])
    k = min(random, len(rest))
    drawn = np.random.default_rng(seed).choice(rest, size=k, replace=False) if k else np.empty(0, int)
    return best + sorted(int(i) for i in drawn)


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Rank correlation (average ranks for ties); NaN when either side is constant."""
    from scipy.stats import rankdata

    x, y = rankdata(a), rankdata(b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def pairwise_accuracy(a: ArrayLike, b: ArrayLike, idx: ArrayLike | None = None) -> float:
    """Of the pairs of distinct arms (among `idx`, default all), the fraction that `a` orders
    as `b` does (a tie in either counts half): DataDecide's decision accuracy."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    ids = np.arange(len(x)) if idx is None else np.asarray(idx, dtype=int)
    i, j = np.triu_indices(len(ids), k=1)
    i, j = ids[i], ids[j]
    keep = i != j  # a bootstrap resample repeats arms: a pair with itself decides nothing
    if not keep.any():
        return math.nan
    sx, sy = np.sign(x[i[keep]] - x[j[keep]]), np.sign(y[i[keep]] - y[j[keep]])
    agree = np.where((sx == 0) | (sy == 0), 0.5, (sx == sy).astype(float))
    return float(agree.mean())


@dataclass(frozen=True)
class Agreement:
    """How well the merged score ranked the trained mixtures, with 95% bootstrap intervals
    (arms resampled with replacement)."""

    n: int
    spearman: float
    spearman_lo: float
    spearman_hi: float
    accuracy: float
    accuracy_lo: float
    accuracy_hi: float
    boot: int


def agreement(merged: ArrayLike, trained: ArrayLike, boot: int = 2000, seed: int = 0) -> Agreement:
    x, y = np.asarray(merged, float), np.asarray(trained, float)
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"agreement needs >= 3 paired scores, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    rhos, accs = [], []
    for _ in range(boot):
        idx = rng.integers(0, len(x), len(x))
        rho = spearman(x[idx], y[idx])
        if not math.isnan(rho):
            rhos.append(rho)
        acc = pairwise_accuracy(x, y, idx)
        if not math.isnan(acc):
            accs.append(acc)
    r_lo, r_hi = np.percentile(rhos, [2.5, 97.5]) if rhos else (math.nan, math.nan)
    a_lo, a_hi = np.percentile(accs, [2.5, 97.5]) if accs else (math.nan, math.nan)
    return Agreement(
        len(x), spearman(x, y), float(r_lo), float(r_hi), pairwise_accuracy(x, y), float(a_lo), float(a_hi), boot
    )


# ---------------------------------------------------------------- the report


@dataclass
class MergePoint:
    arm: str
    weights: dict[str, float]
    merged: float  # the decision metric of the merged model
    trained: float | None = None  # of the arm trained for real (mean over seeds); None: not trained
    picked: str = ""  # "top" | "random" | ""


@dataclass
class MergeSearch:
    suite: str
    metric: str
    higher_is_better: bool
    groups: list[str]
    points: list[MergePoint]
    agreement: Agreement | None
    seconds: dict[str, float]  # warmup, partitions, scoring, merge_path, per_arm_train, train_every_mixture
    warmup_fraction: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def write_json(path: Path, rows: list[dict[str, Any]]) -> Path:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(rows), indent=1))
    return path


def _f(v: float | None, p: int = 4) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{p}f}"


def to_markdown(s: MergeSearch) -> str:
    better = "higher" if s.higher_is_better else "lower"
    a, sec = s.agreement, s.seconds
    trained = [p for p in s.points if p.picked]
    lines = [
        f"## Merged partition models: {s.suite}",
        "",
        f"{len(s.points)} Dirichlet mixtures over {', '.join(s.groups)} scored by `{s.metric}` ({better} is "
        f"better) of the weighted parameter average of one model per partition, each continued from a "
        f"warm-up on the pooled partitions ({s.warmup_fraction:.0%} of the tokens); {len(trained)} trained for real.",
        "",
    ]
    if a is not None:
        lines += [
            f"**Merged vs trained** over {a.n} mixtures: Spearman {_f(a.spearman, 3)} "
            f"[{_f(a.spearman_lo, 3)}, {_f(a.spearman_hi, 3)}], pairwise decision accuracy {_f(a.accuracy, 3)} "
            f"[{_f(a.accuracy_lo, 3)}, {_f(a.accuracy_hi, 3)}] (95% bootstrap over arms, {a.boot} resamples).",
            "",
        ]
    lines += [
        f"**Wall time**: merge path {sec.get('merge_path', math.nan):.0f} s (warm-up "
        f"{sec.get('warmup', math.nan):.0f} s, partitions {sec.get('partitions', math.nan):.0f} s, scoring "
        f"{len(s.points)} merges {sec.get('scoring', math.nan):.0f} s) against an estimated "
        f"{sec.get('train_every_mixture', math.nan):.0f} s to train every mixture "
        f"({sec.get('per_arm_train', math.nan):.1f} s measured per arm x {len(s.points)}).",
        "",
        "| arm | " + " | ".join(s.groups) + " | merged | trained | picked |",
        "|---|" + "---:|" * len(s.groups) + "---:|---:|---|",
    ]
    sign = -1.0 if s.higher_is_better else 1.0
    for p in sorted(s.points, key=lambda p: (not p.picked, sign * p.merged)):
        cells = " | ".join(f"{p.weights.get(g, 0.0):.2f}" for g in s.groups)
        lines.append(f"| {p.arm} | {cells} | {_f(p.merged)} | {_f(p.trained)} | {p.picked} |")
    lines += [""] + [f"- {n}" for n in s.notes]
    return "\n".join(lines).rstrip() + "\n"
