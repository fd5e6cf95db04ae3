"""An arm whose dataset trains exactly like its reference's reuses the reference's run.

A generated arm differs from its reference by one component. When that component removes
nothing here (a rule no document fails, dedup on a pool without duplicates), the two
recipes have different hashes but the same documents; training on both would spend a
model to measure an effect that is zero by construction. The ablation flow curates both
(cheap: signals and scores are computed once), compares what training reads of the two
datasets, and runs the arm with its reference's data fields, so that curation, tokens,
the model and its evaluation are all served from the reference's cache and the effect is
exactly zero.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import xxhash

from tasks.recipe import Recipe

# What tasks/train/tokens.py reads of a dataset; a column it lacks reads as its default.
TRAINING_COLUMNS = {"doc_id": None, "source": None, "text": None, "repeat": 1, "phase": None}


def training_content(dataset_dir: str | Path) -> str:
    """Hash of the rows training reads (document, source, text, repeat, phase), in the
    dataset's order; columns other steps attach (scores, cluster sizes) do not count."""
    h = xxhash.xxh3_128()
    for part in sorted(Path(dataset_dir).glob("part-*.parquet")):
        table = pq.read_table(part)
        for name, default in TRAINING_COLUMNS.items():
            values = table.column(name).to_pylist() if name in table.column_names else [default] * table.num_rows
            h.update(name.encode() + b"\x1d")
            for v in values:
                h.update(repr(v).encode() + b"\x1e")
    return h.hexdigest()


def same_training_data(a: str | Path, b: str | Path) -> bool:
    """Do two curated datasets train identically?"""
    return training_content(a) == training_content(b)


def reusing(arm: Recipe, reference: Recipe) -> Recipe:
    """The arm, keeping its name, with the reference's data fields (so every stage after
    curation is the reference's, from cache) and a description that says so."""
    note = f"{arm.description} [dataset identical to {reference.name}'s: its run is reused]".strip()
    # mixture.online is how the arm trains, not its data: it stays the arm's
    mixture = reference.mixture.model_copy(update={"online": arm.mixture.online})
    update = {"name": arm.name, "description": note, "train": arm.train, "eval": arm.eval, "mixture": mixture}
    return reference.model_copy(update=update)
