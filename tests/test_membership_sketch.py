"""The per-dataset n-gram sketch (Data Portraits): a planted member answers yes, a
non-member no, and the measured false-positive rate stays within the documented bound."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from tasks.core.docsref import resolve_docs
from tasks.core.paths import shared_data
from tasks.curate import pipeline as C
from tasks.membership.sketch import FP_RATE, N_WORDS, build_sketch, tiles, words
from tasks.recipe import Recipe
from tasks.signals.signals import build_signals
from tests._docs_workspace import write_docs


@pytest.fixture(scope="module")
def articles() -> list[str]:
    """WikiText-2 test articles (real text) of at least 200 words."""
    raw = gzip.open(shared_data() / "eval" / "wikitext-2-raw-test.raw.gz", "rt").read()
    return [a for a in raw.split("\n = ") if len(a.split()) > 200]


def _span(text: str, start: int = 50, n: int = 60) -> str:
    return " ".join(text.split()[start : start + n])


def test_planted_member_yes_non_member_no(articles):
    members, held_out = articles[:100], articles[100:200]
    sketch = build_sketch(members, sum(len(tiles(words(t))) for t in members))
    hits = [sketch.query(_span(t)) for t in members[::10]]
    misses = [sketch.query(_span(t)) for t in held_out[::10]]
    assert all(h["member"] for h in hits), [h["coverage"] for h in hits]
    assert not any(m["member"] for m in misses), [m["coverage"] for m in misses]
    assert min(h["coverage"] for h in hits) > 0.7 and max(m["coverage"] for m in misses) < 0.3
    assert sketch.query("too short to answer")["member"] is None


def test_false_positive_rate_within_the_documented_bound(articles):
    members, held_out = articles[:200], articles[200:]
    items = sum(len(tiles(words(t))) for t in members)
    sketch = build_sketch(members, items)
    # documented: sized by m = -n ln p / ln(2)^2, k = round(m/n ln 2), so its rate is ~p
    assert sketch.expected_fp_rate(items) <= 1.05 * FP_RATE
    rng = np.random.default_rng(0)
    vocab = np.asarray(words(" ".join(held_out)))
    grams = [" ".join(g) for g in vocab[rng.integers(0, len(vocab), (40_000, N_WORDS))]]
    measured = float(sketch.contains(grams).mean())
    sigma = math.sqrt(FP_RATE * (1 - FP_RATE) / len(grams))
    assert 0 < measured <= sketch.expected_fp_rate(items) + 4 * sigma


def test_curate_writes_the_sketch_and_inspect_answers(workspace, cc_docs_table, articles, capsys):
    from flows.inspect import main

    table = cc_docs_table.slice(0, 80)
    write_docs(workspace, "crawl", table)
    build_signals(workspace, resolve_docs(workspace, "crawl"))
    recipe = Recipe(name="plain", sources=["crawl"])
    stats = C.curate(recipe, workspace).stats
    key = C.dataset_key(recipe)
    sk = stats["sketch"]
    assert (workspace.stage_dir("datasets", key) / "sketch.bloom").stat().st_size == sk["bytes"]
    assert 0.005 < sk["share_of_text"] < 0.05  # "a few % of the dataset's size"
    long_doc = next(t for t in table.column("text").to_pylist() if len(t.split()) > 150)
    assert main(["--member", _span(long_doc), key, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["member"] is True
    assert main(["--member", _span(articles[0]), key]) == 0
    assert "**no**" in capsys.readouterr().out
