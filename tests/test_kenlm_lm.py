"""Word-level modified Kneser-Ney estimated here, written as ARPA, queried by kenlm."""

from __future__ import annotations

import math
from pathlib import Path

import kenlm  # pinned (pyproject, constraints.txt): a broken install fails here, never skips
import pytest

from tasks.selection.kenlm_lm import UNK, WordLM, estimate, sentences

CORPUS = [
    "the cat sat on the mat.\nthe dog sat on the rug.",
    "a cat and a dog met on the mat.\nthe cat ran, the dog sat.",
    "the bird sat on the fence.\nthe cat saw the bird on the fence.",
    "a dog ran to the mat and sat.\nthe mat was red.",
    "the rug was blue and the mat was red.\na bird sang.",
    "the cat sat. the cat sat. the dog ran.",
]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return WordLM.train(CORPUS, tmp_path_factory.mktemp("lm") / "ref.arpa", order=3)


def _conditional(model, context: list[str], word: str) -> float:
    state = kenlm.State()
    model.BeginSentenceWrite(state)
    for w in context:
        out = kenlm.State()
        model.BaseScore(state, w, out)
        state = out
    return 10 ** model.BaseScore(state, word, kenlm.State())


@pytest.mark.parametrize("context", [[], ["the"], ["the", "cat"], ["on", "the"], ["never", "seen"]])
def test_every_conditional_distribution_sums_to_one(lm, context):
    vocab = {w for t in CORPUS for s in sentences(t) for w in s} | {"</s>", UNK}
    assert sum(_conditional(lm.model, context, w) for w in vocab) == pytest.approx(1.0, abs=1e-5)


def test_seen_continuations_beat_unseen_and_perplexity_orders_texts(lm):
    assert _conditional(lm.model, ["the"], "cat") > _conditional(lm.model, ["the"], "fence") > 0
    assert _conditional(lm.model, ["the"], "zebra") == pytest.approx(_conditional(lm.model, ["the"], UNK))
    pp = lm.perplexity(["the cat sat on the mat.", "mat the on sat cat the.", "zebra quantum yields", ""])
    assert pp[0] < pp[1] < pp[2] and math.isnan(pp[3])


def test_perplexity_is_ten_to_the_mean_log10_prob_per_token(lm):
    text = "the dog sat on the rug.\na bird sang."
    total = sum(lm.model.score(" ".join(s), bos=True, eos=True) for s in sentences(text))
    n = sum(len(s) + 1 for s in sentences(text))
    assert lm.perplexity([text])[0] == pytest.approx(10 ** (-total / n))


def test_highest_order_uses_raw_counts_and_lower_orders_continuation_counts():
    tables, discounts = estimate(CORPUS, order=3)
    assert len(tables) == 3 and all(0 < d <= i + 1 for ds in discounts for i, d in enumerate(ds))
    # "sat" follows many different words, "mat." pieces few: KN's unigram favours the former.
    assert tables[0][("sat",)][0] > tables[0][("red",)][0]
    assert tables[0][("<s>",)][0] == -99.0


def test_too_little_text_is_a_clear_error():
    with pytest.raises(ValueError, match="too little training text"):
        estimate(["one two three"], order=3)
    with pytest.raises(ValueError, match="order must be >= 2"):
        estimate(CORPUS, order=1)


def test_reference_model_is_cached_in_the_workspace(tmp_path):
    from tasks.core.workspace import Workspace
    from tasks.selection.kenlm_lm import reference_kenlm, reference_key

    ws = Workspace.from_env(tmp_path)
    first = reference_kenlm(3, ws, texts=CORPUS)
    assert ws.is_done("selection", reference_key(3))
    arpa = ws.stage_dir("selection", reference_key(3)) / "ref.arpa"
    mtime = arpa.stat().st_mtime_ns
    again = reference_kenlm(3, ws, texts=["ignored: the cached model is loaded"])
    assert arpa.stat().st_mtime_ns == mtime
    assert again.perplexity(["the cat sat on the mat."]) == first.perplexity(["the cat sat on the mat."])


def test_kenlm_is_a_registered_selection_method(cc_docs_table, tmp_path):
    """`method: kenlm` in a recipe: the workspace's reference model scores, the lowest
    perplexities are kept. The model is seeded from 2,000 reference leads to stay quick."""
    import numpy as np

    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.selection.kenlm_lm import reference_kenlm
    from tasks.selection.registry import get_method, method_names
    from tasks.selection.selection import select
    from tasks.selection.spec import SelectionSpec

    assert "kenlm" in method_names() and get_method("kenlm").higher_is_better is False
    ws = Workspace.from_env(tmp_path)
    lm = reference_kenlm(3, ws, texts=wiki_leads("train").column("text").to_pylist()[:2000])
    docs = cc_docs_table.select(["doc_id", "text"])
    res = select(docs, SelectionSpec(method="kenlm", keep_fraction=0.25, log_kl=False), workspace=ws)
    texts = docs.column("text").to_pylist()
    pp = np.asarray(lm.perplexity([t or "" for t in texts]))
    kept = set(res.table.column("doc_id").to_pylist())
    ids = docs.column("doc_id").to_pylist()
    worst_kept = max(pp[i] for i, d in enumerate(ids) if d in kept)
    best_dropped = min(pp[i] for i, d in enumerate(ids) if d not in kept and not np.isnan(pp[i]))
    assert worst_kept <= best_dropped and abs(len(kept) - 0.25 * (~np.isnan(pp)).sum()) <= 1


def test_perplexity_models_suite_compares_the_two_at_one_budget():
    from tasks.suite import load_suite

    suite = load_suite(Path(__file__).resolve().parent.parent / "recipes" / "suites" / "perplexity_models.yaml")
    arms = {a.name: a.selection for a in suite.arms}
    assert {s.method for s in arms.values()} == {"perplexity", "kenlm"}
    assert {s.tokens for s in arms.values()} == {suite.token_budget}
