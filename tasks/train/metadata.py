"""MeCo: metadata conditioning then cooldown (Gao et al. 2025, "Metadata Conditioning
Accelerates Language Model Pre-training", arXiv 2501.01956), `train.metadata`.

For the first (1 - cooldown) of the optimizer steps every document is seen behind its
metadata, `URL: <url>\\n\\n` (or the URL's host, `URL: en.wikipedia.org\\n\\n`, the paper's
main setting), with no loss on those tokens: the model learns p(text | metadata), never
p(metadata). The final `cooldown` of the steps sees plain text, so the model works without
metadata; evaluation never gives it any. A document without a URL gets no prefix.

How: the packed folder `L<seq>-s<seed>-meta_<kind>` holds each document behind its prefix
and `metadata.mask` marks the prefix positions (tasks/train/tokens.py `pack`). A
conditioning step trains on those sequences with the marked labels set to -100 (ignored by
the loss). A cooldown step trains on the same sequences with the prefix tokens taken out
and the freed tail padded (EOS, label -100). So the data order and the document tokens of
a step do not change at the switch.

Budget: `train.tokens` counts document tokens (EOS included; loss-bearing positions), so a
MeCo arm trains on as many document tokens as its plain baseline: it runs
1 / (1 - metadata share) times the steps (`document_share`), and the summary reports the
metadata positions it paid for (`metadata.positions_trained`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow.parquet as pq

IGNORE = -100  # the label the loss skips (torch cross_entropy's ignore_index)


def metadata_text(url: str | None, prepend: str) -> str:
    """The prefix of one document: "URL: <url>\\n\\n", or with the host only; "" without a URL."""
    if not url:
        return ""
    if prepend == "domain":
        host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
        url = host.removeprefix("www.")
        if not url:
            return ""
    return f"URL: {url}\n\n"


def prefix_tokens(parts: Sequence[Path], tokenizer, prepend: str) -> list[list[np.ndarray]]:
    """Per dataset part, per row (the order tokenize_part indexes them): the prefix's tokens."""
    out = []
    for part in parts:
        urls = pq.read_table(part, columns=["url"]).column("url").to_pylist()
        texts = [metadata_text(u, prepend) for u in urls]
        encoded = tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        out.append([np.asarray(e.ids, dtype=np.int64) for e in encoded])
    return out


def document_share(meta: dict[str, Any]) -> float:
    """Share of the packed positions that hold document tokens (1.0 without metadata)."""
    return 1.0 - meta.get("metadata_tokens", 0) / max(1, meta["n_tokens"])


def cooldown_start(total_steps: int, cooldown: float) -> int:
    """The first plain-text step (0-based): the last round(cooldown x steps) are plain."""
    return total_steps - int(round(cooldown * total_steps))


def load_mask(packed_dir: str | Path, meta: dict[str, Any]) -> np.memmap:
    path = Path(packed_dir) / "metadata.mask"
    if "metadata_tokens" not in meta or not path.exists():
        raise FileNotFoundError(f"{packed_dir}: train.metadata is set but the packing has no metadata.mask")
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(meta["n_sequences"], meta["seq_len"]))


def render(tokens: np.ndarray, marks: np.ndarray, plain: bool, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(input ids, labels) of a batch of packed rows. Conditioning: the rows as packed, no
    loss on the prefix positions. Plain (cooldown): the prefix tokens taken out, the rows
    closed up and padded at the end; padding carries no loss (and, the model being causal,
    is never seen by the tokens before it)."""
    x = tokens.astype(np.int64)
    is_prefix = marks.astype(bool)
    if not plain:
        return x, np.where(is_prefix, IGNORE, x)
    order = np.argsort(is_prefix, axis=1, kind="stable")  # document positions first, in order
    kept = ~np.take_along_axis(is_prefix, order, axis=1)
    closed = np.take_along_axis(x, order, axis=1)
    return np.where(kept, closed, pad_id), np.where(kept, closed, IGNORE)


@dataclass(frozen=True)
class MetadataBatches:
    """The loop's hook: renders each step's rows by the phase the step is in."""

    marks: np.memmap
    switch_step: int
    pad_id: int
    prepend: str
    cooldown: float

    def render(self, step: int, tokens: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(input ids, labels, prefix tokens trained on) of step `step`."""
        marks = self.marks[idx]
        plain = step >= self.switch_step
        x, labels = render(tokens, marks, plain, self.pad_id)
        return x, labels, 0 if plain else int(marks.sum(dtype=np.int64))

    def summary(self, curves: list[dict]) -> dict[str, Any]:
        return {
            "prepend": self.prepend,
            "cooldown": self.cooldown,
            "cooldown_start_step": self.switch_step + 1,  # 1-based, as the curves' steps
            "positions_trained": int(sum(c.get("metadata_tokens", 0) for c in curves)),
            "tokens_all_positions": int(curves[-1]["tokens"]) if curves else 0,  # metadata and padding included
        }
