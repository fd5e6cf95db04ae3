"""The sweep report's logic under tasks/sweep (moved from flows/sweep.py): the mixture
search over a board's points, the pickled model, the grid table, the kind of a sweep."""

from __future__ import annotations

import json
import pickle

import numpy as np

from tasks.suite import Suite
from tasks.sweep import mixture_search as MS
from tasks.sweep import report as SR
from tasks.sweep.design import expand, suite_fields, sweeps_of

SOURCES = {"crawl": ["a"], "wiki": ["b"], "docs": ["c"]}
BASE = {"sources": ["crawl", "wiki", "docs"]}
GROUPS = ["crawl", "wiki", "docs"]


def _suite(sweep, **kw) -> Suite:
    return Suite.model_validate({"name": "s", "sources": SOURCES, "sweep": sweep, **kw})


def _points(sweep, **kw):
    spec = _suite(sweep, **kw)
    (sw,) = sweeps_of(spec)
    return sw, expand(sw, suite_fields(spec))


def _board(points, path, failed=()):
    board = {}
    for i, p in enumerate(points):
        if p.name in failed:
            continue
        w = np.asarray([p.values[path].get(g, 0.0) for g in GROUPS])
        v = float(((w - [0.2, 0.5, 0.3]) ** 2).sum()) + 1.0
        board[p.name] = {"bpb": v, "bpb:lo": v - 0.01, "bpb:hi": v + 0.01, "unique_tokens": 1000 + i}
    return board


def test_kinds():
    assert SR.sweep_kind(_points({"base": BASE, "axes": {"epochs": [1, 2]}}, train_tokens=1000)[0]) == "repetition"
    mix = {"base": BASE, "design": "random", "axes": {"mixture.weights": {"dirichlet": 1.0}}, "n": 8, "seed": 3}
    assert SR.sweep_kind(_points(mix)[0]) == "mixture"
    grid = {"base": {**BASE, "selection": {"method": "random"}}, "axes": {"selection.keep_fraction": [0.5, 1.0]}}
    assert SR.sweep_kind(_points(grid)[0]) == "grid"


def test_search_is_the_fit_the_flow_made(tmp_path):
    """`MS.search` on a board's points: the same held-out predictions, model and optimum as
    the steps flows/sweep.py ran inline before, and the same pickle."""
    sw, points = _points(
        {"base": BASE, "design": "random", "axes": {"mixture.weights": {"dirichlet": 1.0}}, "n": 8, "seed": 3}
    )
    path = "mixture.weights"
    failed = {points[1].name}
    board = _board(points, path, failed)
    mp = SR.mixture_points(board, points, path, "bpb")
    assert [p.arm for p in mp] == [p.name for p in points] and mp[1].observed is None
    assert mp[0].unique_tokens == 1000.0 and mp[0].lo == board[mp[0].arm]["bpb:lo"]
    fitted, held, opt = MS.search(mp, GROUPS, "quadratic", False, None, sw.seed, 2000, 1.0, 50)

    seen = [p for p in mp if p.observed is not None]
    x = np.asarray([[p.weights.get(g, 0.0) for g in GROUPS] for p in seen], float)
    y = np.asarray([float(p.observed) for p in seen], float)
    ref_held = MS.held_out(x, y, "quadratic", None, seed=sw.seed)
    ref_opt = MS.predict_optimum(
        MS.fit(x, y, "quadratic", seed=sw.seed), GROUPS, False, 2000, 1.0, 50, seed=sw.seed + 1
    )
    assert np.allclose(held.predicted, ref_held.predicted) and held.mae == ref_held.mae
    assert [p.held_out for p in seen] == list(held.predicted) and mp[1].held_out is None
    assert opt == ref_opt
    assert MS.best_sampled(seen, False).arm == min(seen, key=lambda p: float(p.observed or 0.0)).arm

    saved = MS.save_model(tmp_path / "r" / "mixture_model-x.pkl", fitted, GROUPS, "quadratic", "bpb")
    with open(saved, "rb") as f:
        back = pickle.load(f)
    assert back["groups"] == GROUPS and back["kind"] == "quadratic" and back["metric"] == "bpb"
    assert np.allclose(back["model"].predict(x), fitted.predict(x))


def test_grid_table_and_report_files(tmp_path):
    sw, points = _points(
        {"base": {**BASE, "selection": {"method": "random"}}, "axes": {"selection.keep_fraction": [0.5, 1.0]}}
    )
    board = {points[0].name: {"bpb": 1.23456, "bpb:lo": 1.2, "bpb:hi": 1.3}}
    text, rows = SR.grid_table(board, "bpb", "s", sw, points)
    assert rows[0] == {"arm": points[0].name, "selection.keep_fraction": "0.5", "bpb": 1.23456, "lo": 1.2, "hi": 1.3}
    assert rows[1]["bpb"] is None
    assert f"| {points[0].name} | 0.5 | 1.2346 [1.2000, 1.3000] |" in text and "| failed |" in text
    SR.write_report(tmp_path / "out", text, {"grid": [rows]})
    assert (tmp_path / "out" / "sweep.md").read_text() == text
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["grid"] == [rows]


def test_repetition_form_and_scored_epochs():
    sw, points = _points({"base": BASE, "axes": {"epochs": [1, 2, 4]}}, train_tokens=1000)
    assert SR.repetition_form(sw, True) == "fixed training tokens (unique tokens varied)"
    assert SR.repetition_form(sw, False) == "fixed unique tokens (training tokens varied)"
    fixed, _ = _points({"base": BASE, "axes": {"epochs": {"values": [1, 2], "fix": "unique_tokens", "tokens": 500}}})
    assert SR.repetition_form(fixed, True) == "fixed unique tokens (training tokens varied)"
    board = {p.name: {"bpb": 1.0} for p in points}
    assert [p.name for p in SR.scored_epochs(board, "bpb", points) or []] == [p.name for p in points]
    assert SR.scored_epochs({points[0].name: {"bpb": 1.0}}, "bpb", points) is None
