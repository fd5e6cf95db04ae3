"""Online data mixing: ODM (Albalak, Pan, Raffel and Wang 2023, "Efficient Online Data
Mixing For Language Model Pre-Training", arXiv 2312.02406), `mixture.online`.

The groups of the mixture (sources or URL domains) are the arms of an adversarial bandit,
EXP3 (Auer et al. 2002) as ODM adapts it. Each optimizer step draws one group from the
policy and trains on a batch of that group's packed sequences; the batch's training loss
is the reward (a group the model still finds hard is worth more). With K groups, at step t
(1-based), as in ODM's method section and Algorithm 1:

    exploration  eps_t = min(1/K, sqrt(ln K / (K t)))
    policy       pi_t(i) = (1 - K eps_t) exp(eps_{t-1} R_i) / sum_j exp(eps_{t-1} R_j) + eps_t
    reward       R_i <- alpha R_i + (1 - alpha) L_t / pi_t(i)    for the drawn group i only
                 (importance-weighted by the probability it was drawn with, then smoothed
                 by a moving average; the other groups keep theirs)

with R_i = 0 at the start (so the first policy is uniform). ODM fills each batch by the
policy; here a whole batch comes from one group so that its loss is that group's loss
(the reward needs no per-sequence losses).

Deterministic under the seed: step t's draw uses its own generator seeded by (seed, t),
and each group's sequences are read in packed order, reshuffled per epoch by (seed, group,
epoch). The state (rewards, read positions, the log) is plain data that goes into the
training checkpoint, so a resumed run draws the same groups and rows as an uninterrupted one.
The policy at every step is logged (`online_mix` in train.json, `online_mix.png`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq


def group_labels(parts: Sequence[Path], group_by: str) -> list[list[str]]:
    """Per dataset part, per row: its group (the source, or the URL's host)."""
    from tasks.train.metadata import metadata_text

    out = []
    for part in parts:
        if group_by == "source":
            out.append([s or "" for s in pq.read_table(part, columns=["source"]).column("source").to_pylist()])
        else:  # the host as MeCo's domain prefix has it, without "URL: "
            urls = pq.read_table(part, columns=["url"]).column("url").to_pylist()
            out.append([metadata_text(u, "domain")[5:].strip() for u in urls])
    return out


def exploration(t: int, k: int) -> float:
    """eps_t = min(1/K, sqrt(ln K / (K t)))."""
    return min(1.0 / k, math.sqrt(math.log(k) / (k * max(1, t))))


class OnlineMixer:
    """EXP3 over the packed groups (`meta["groups"]`: name -> [first, end) rows)."""

    def __init__(self, groups: dict[str, list[int]], batch: int, seed: int, alpha: float):
        self.names = sorted(g for g, (a, b) in groups.items() if b > a)  # a group under one sequence is no arm
        if len(self.names) < 2:
            raise ValueError(f"online mixing needs at least 2 groups with a packed sequence, got {self.names}")
        self.blocks = [tuple(groups[g]) for g in self.names]
        self.batch, self.seed, self.alpha = batch, seed, alpha
        self.rewards = np.zeros(len(self.names))
        self.read = np.zeros(len(self.names), dtype=np.int64)  # sequences read per group
        self.log: list[dict[str, Any]] = []
        self._pending: tuple[int, float] | None = None

    def policy(self, t: int) -> np.ndarray:
        """pi_t over the groups for step t (1-based)."""
        k = len(self.names)
        eps, eps_prev = exploration(t, k), exploration(t - 1, k)
        z = eps_prev * self.rewards
        w = np.exp(z - z.max())
        return (1 - k * eps) * w / w.sum() + eps

    def take(self, step: int) -> tuple[np.ndarray, str]:
        """The rows of step `step` (0-based) and their group."""
        pi = self.policy(step + 1)
        g = int(np.random.default_rng([self.seed, step]).choice(len(pi), p=pi))
        self._pending = (g, float(pi[g]))
        self.log.append({"step": step + 1, "group": self.names[g], "weights": [float(p) for p in pi]})
        return self._rows(g), self.names[g]

    def observe(self, loss: float) -> None:
        """The drawn group's reward from the loss of its batch."""
        assert self._pending is not None, "observe() follows take()"
        g, p = self._pending
        self.rewards[g] = self.alpha * self.rewards[g] + (1 - self.alpha) * loss / p
        self.log[-1]["loss"] = loss
        self._pending = None

    def _rows(self, g: int) -> np.ndarray:
        a, b = self.blocks[g]
        n = b - a
        pos = self.read[g] + np.arange(self.batch)
        self.read[g] += self.batch
        rows = np.empty(self.batch, dtype=np.int64)
        for epoch in np.unique(pos // n):
            # epoch 0 keeps the packed (already shuffled) order; later epochs reshuffle
            perm = np.arange(n) if epoch == 0 else np.random.default_rng([self.seed, g, int(epoch)]).permutation(n)
            sel = pos // n == epoch
            rows[sel] = a + perm[pos[sel] % n]
        return rows

    def state(self) -> dict[str, Any]:
        return {"rewards": self.rewards.tolist(), "read": self.read.tolist(), "log": list(self.log)}

    def load(self, state: dict[str, Any]) -> None:
        self.rewards = np.asarray(state["rewards"], dtype=np.float64)
        self.read = np.asarray(state["read"], dtype=np.int64)
        self.log = list(state["log"])

    def summary(self) -> dict[str, Any]:
        """What train.json keeps: the groups, the policy at every step, what was drawn."""
        return {
            "method": "odm",
            "alpha": self.alpha,
            "groups": self.names,
            "steps": [r["step"] for r in self.log],
            "chosen": [r["group"] for r in self.log],
            "weights": [r["weights"] for r in self.log],
            "batches_per_group": {g: sum(r["group"] == g for r in self.log) for g in self.names},
            "final_weights": dict(zip(self.names, self.policy(len(self.log) + 1).tolist())),
        }

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [r["step"] for r in self.log]
        weights = np.asarray([r["weights"] for r in self.log])
        fig, ax = plt.subplots(figsize=(7, 3.6))
        ax.stackplot(steps, weights.T, labels=self.names)
        ax.set_xlabel("step")
        ax.set_ylabel("sampling probability")
        ax.set_ylim(0, 1)
        ax.set_title("online data mixing (ODM): the policy over the groups")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
