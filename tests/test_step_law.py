"""`train.hparams: step_law` (tasks/train/hparams.py): the Step Law's values at known N and D,
the batch in sequences, unchanged hashes for `fixed`, a run that trains at the predicted lr,
and the ladder's record of the rule per rung."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tasks.core.reference import wiki_leads
from tasks.core.workspace import Workspace
from tasks.recipe import Recipe, load_recipe
from tasks.train.hparams import batch_in_sequences, resolve_hparams, step_law_batch_tokens, step_law_lr
from tasks.train.spec import TrainSpec

ROOT = Path(__file__).resolve().parent.parent
SEQ = 64


def test_step_law_values_at_known_n_and_d():
    # lr = 1.79 * 1e8^-0.713 * 1e10^0.307 = 1.79 * 10^(-5.704 + 3.07) = 1.79 * 10^-2.634
    assert step_law_lr(10**8, 10**10) == pytest.approx(4.1577e-3, rel=1e-4)
    # B = 0.58 * 1e10^0.571 = 0.58 * 10^5.71 tokens
    assert step_law_batch_tokens(10**10) == pytest.approx(2.97460e5, rel=1e-4)
    # the nano preset (106,816 non-embedding parameters) on 102,400 tokens (a ladder rung)
    assert step_law_lr(106_816, 102_400) == pytest.approx(1.605e-2, rel=1e-3)
    assert step_law_batch_tokens(102_400) == pytest.approx(420.9, rel=1e-3)
    # lr falls with N at fixed D, rises with D at fixed N; B does not depend on N
    assert step_law_lr(2 * 10**8, 10**10) / step_law_lr(10**8, 10**10) == pytest.approx(2**-0.713)
    assert step_law_lr(10**8, 2 * 10**10) / step_law_lr(10**8, 10**10) == pytest.approx(2**0.307)
    with pytest.raises(ValueError, match="positive"):
        step_law_lr(0, 10)


def test_batch_tokens_to_sequences():
    assert batch_in_sequences(297_460, 2048, 128) == (128, 128)  # 145.2 seqs: one micro-batch of 128
    assert batch_in_sequences(420.9, 256, 16) == (2, 2)  # 1.64 seqs -> 2
    assert batch_in_sequences(420.9, 512, 16) == (1, 1)  # 0.82 -> 1
    assert batch_in_sequences(3.0, 512, 16) == (1, 1)  # never under one sequence
    assert batch_in_sequences(10_000, 256, 16) == (32, 16)  # 39.1 seqs -> 2 micro-batches of 16
    assert batch_in_sequences(10_000, 256, 64) == (39, 39)  # under the cap: one micro-batch


def test_resolve_fixed_and_step_law():
    fixed = resolve_hparams(TrainSpec(preset="tiny"), 853_120, 10**6, 512)
    assert (fixed.rule, fixed.lr, fixed.batch, fixed.micro) == ("fixed", 2e-3, 16, 16)
    law = resolve_hparams(TrainSpec(preset="tiny", hparams="step_law"), 853_120, 10**6, 512)
    assert law.rule == "step_law" and law.lr == pytest.approx(step_law_lr(853_120, 10**6))
    assert law.batch == round(step_law_batch_tokens(10**6) / 512) == law.micro  # 1,524 tokens -> 3 seqs
    with pytest.raises(ValidationError, match="step_law sets lr and batch_size"):
        TrainSpec(hparams="step_law", lr=1e-3)


def test_fixed_recipes_keep_their_hashes():
    from tasks.train.loop import train_hash

    recipe = load_recipe(ROOT / "recipes" / "heuristic.yaml")
    # the values on main before `hparams` existed
    assert recipe.content_hash() == "6a9d59b3d5e8d48f78619eac07786220"
    assert train_hash("d", "t", recipe.train, "cpu", "fp32") == "e0c3ccb75f577d150af271f563106dfc"
    explicit = Recipe.model_validate({**recipe.model_dump(), "train": {"hparams": "fixed"}})
    assert explicit.content_hash() == recipe.content_hash()
    law = recipe.model_copy(update={"train": TrainSpec(hparams="step_law")})
    assert law.content_hash() != recipe.content_hash()
    assert train_hash("d", "t", law.train, "cpu", "fp32") != train_hash("d", "t", recipe.train, "cpu", "fp32")
    assert TrainSpec.model_validate(law.train.model_dump()).hparams == "step_law"  # round trip


@pytest.fixture(scope="module")
def packed(tmp_path_factory, cc_docs_table):
    import pyarrow.parquet as pq

    from tasks.train.tokenizer import build_tokenizer
    from tasks.train.tokens import tokenize_dataset

    ws = Workspace.from_env(tmp_path_factory.mktemp("ws"))
    texts = wiki_leads("train").column("text").to_pylist()[:600] + cc_docs_table.column("text").to_pylist()[:150]
    _, tok = build_tokenizer(ws, 1024, texts)
    ds = tmp_path_factory.mktemp("ds")
    pq.write_table(cc_docs_table.select(["doc_id", "source", "url", "text"]).slice(0, 200), ds / "part-00000.parquet")
    return tokenize_dataset(ws, ds, tok, SEQ, seed=0)[0], tok


def test_a_step_law_run_trains_at_the_predicted_lr_and_batch(packed, tmp_path):
    from tasks.train.loop import train

    tokens = SEQ * 32
    spec = TrainSpec(preset="nano", tokens=tokens, hparams="step_law", precision="fp32", warmup=0.1, snapshots=0)
    out = train(packed[0], packed[1], tmp_path / "m", spec, progress=False)
    saved = json.loads((tmp_path / "m" / "train.json").read_text())
    n = saved["n_params_non_embedding"]
    assert n == 106_816 and saved["hparams"] == "step_law"
    # 1.79 * 106,816^-0.713 * 2,048^0.307; B = 0.58 * 2,048^0.571 = 45 tokens -> 1 sequence of 64
    assert saved["peak_lr"] == pytest.approx(4.831e-3, rel=1e-3) == step_law_lr(n, tokens)
    assert saved["batch_size"] == 1 and saved["steps"] == 32
    assert max(c["lr"] for c in out["curves"]) == pytest.approx(saved["peak_lr"])  # what the optimizer used
    fixed = train(packed[0], packed[1], tmp_path / "f", spec.model_copy(update={"hparams": "fixed"}), progress=False)
    assert fixed["hparams"] == "fixed" and fixed["peak_lr"] == 3e-3 and fixed["batch_size"] == 16


def test_the_ladder_records_the_rule_per_rung():
    from tasks.report import ladder as L
    from tasks.report import ladder_plan as LP
    from tasks.suite import load_suite

    suite = load_suite(ROOT / "recipes" / "suites" / "ladder_extrapolate.yaml")
    fixed = LP.plan_rungs(suite, suite.ladder)
    law_arms = [a.model_copy(update={"train": TrainSpec(hparams="step_law")}) for a in suite.arms]
    law = LP.plan_rungs(suite.model_copy(update={"arms": law_arms}), suite.ladder)
    assert [(r.hparams, r.peak_lr, r.batch_size) for r in fixed] == [
        ("fixed", 3e-3, 16),
        ("fixed", 2e-3, 16),
        ("fixed", 1.5e-3, 16),
    ]
    assert [r.hparams for r in law] == ["step_law"] * 3 and [r.batch_size for r in law] == [2, 1, 1]
    assert [r.peak_lr for r in law] == pytest.approx([step_law_lr(n, 100_000) for n in (106_816, 853_120, 3_410_176)])
    # D = train.tokens = 100,000 (a quarter pass over 400k): B = 415 tokens, 2 x 256 or 1 x 512,
    # and the steps follow the resolved batch
    assert [r.plan.steps for r in law] == [196, 196, 196] and [r.plan.steps for r in fixed] == [25, 13, 13]
    md = L.to_markdown([], law, "mini", {})
    assert "| step_law (0.0159, 2) |" in md
    result = L.ladder_result("s", _decision(), law, [], {}, {}, {})
    assert [(r["hparams"], r["batch_size"]) for r in result["rungs"]] == [
        ("step_law", 2),
        ("step_law", 1),
        ("step_law", 1),
    ]


def _decision():
    from tasks.report.model import Decision
    from tasks.suite import DecisionSpec

    return Decision.from_spec(DecisionSpec())
