"""Leaderboard ranking by the declared decision metric, ties and P(A>B) from the paired
bootstrap, and rendering (md/json/csv/plots) from a synthetic catalog with per-item scores."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flows.report import render_report
from tasks.core.catalog import Catalog
from tasks.report import model, render
from tasks.suite import DecisionSpec

# Per-arm truth: bits per byte on two held-out texts, and the probability of the correct
# answer on one benchmark (4 choices, chance 0.25).
TRUTH = {
    "best": {"wiki_leads_heldout": 2.00, "news_heldout": 3.30, "prob": 0.27, "acc": 0.26},
    "close": {"wiki_leads_heldout": 2.003, "news_heldout": 3.10, "prob": 0.27, "acc": 0.25},
    "random": {"wiki_leads_heldout": 2.50, "news_heldout": 3.00, "prob": 0.25, "acc": 0.24},
}


def _seed(catalog: Catalog, suite: str, arm: str, seed: int, metrics: dict, curve=None, status="completed"):
    catalog.insert(
        "arm_runs",
        [
            {
                "suite": suite,
                "arm": arm,
                "seed": seed,
                "status": status,
                "recipe_hash": "h",
                "curve_path": curve,
                "eval_key": f"{arm}-{seed}",
            }
        ],
        replace=True,
    )
    catalog.insert(
        "arm_metrics",
        [{"suite": suite, "arm": arm, "seed": seed, "metric": m, "value": v} for m, v in metrics.items()],
        replace=True,
    )


def _items(arm: str, seed: int, rng, difficulty) -> list[dict]:
    t = TRUTH[arm]
    rows = []
    for task in ("wiki_leads_heldout", "news_heldout"):
        for i, d in enumerate(difficulty[task]):
            v = t[task] + d + rng.normal(0, 0.02)
            rows.append({"task": task, "item": i, "metric": "bpb", "value": v, "weight": 500.0 + i})
    for i in range(80):
        rows += [
            {"task": "arc_easy", "item": i, "metric": "prob", "value": t["prob"] + rng.normal(0, 0.02), "weight": 1.0},
            {"task": "arc_easy", "item": i, "metric": "acc", "value": float(rng.random() < t["acc"]), "weight": 1.0},
            {"task": "arc_easy", "item": i, "metric": "chance", "value": 0.25, "weight": 1.0},
        ]
    return [{"eval_key": f"{arm}-{seed}", **r} for r in rows]


def _fill(catalog: Catalog, curve: str) -> None:
    rng = np.random.default_rng(0)
    difficulty = {"wiki_leads_heldout": rng.normal(0, 0.4, 60), "news_heldout": rng.normal(0, 0.4, 30)}
    for seed in (0, 1):
        for arm, t in TRUTH.items():
            _seed(
                catalog,
                "s",
                arm,
                seed,
                {
                    "bpb/wiki_leads_heldout": t["wiki_leads_heldout"],
                    "documents": 100,
                    "train_loss": 5.0 + seed / 10,
                    "funnel/0_input": 200,
                    "funnel/1_filters": 100,
                },
                curve=curve if arm == "best" else None,
            )
            catalog.insert("eval_items", _items(arm, seed, rng, difficulty))
    _seed(catalog, "s", "broken", 0, {}, status="failed")


def test_report_ranks_by_the_declared_metric_with_intervals(catalog, workspace, tmp_path):
    curve = tmp_path / "curve.parquet"
    pq.write_table(pa.table({"step": [1, 2, 3], "tokens": [10, 20, 30], "loss": [9.0, 7.0, 6.5]}), curve)
    _fill(catalog, str(curve))
    catalog.insert(
        "suites",
        [{"suite": "s", "decision": DecisionSpec(on=["wiki_leads_heldout"]).model_dump_json(), "seeds": [0, 1]}],
    )
    suite, compact, paths = render_report("s", "md", str(workspace.root))
    md = paths["md"].read_text()  # the full leaderboard; the printed table is the compact one
    report = paths["report"]
    board = report.board
    assert [a["arm"] for a in board] == ["best", "close", "random"]
    # best vs close differ by 0.003 bits on items whose noise is 0.02: a tie; random is not.
    assert board[1]["within_noise_of_best"] and not board[2]["within_noise_of_best"]
    s = report.decided
    assert s.name == "bpb/wiki_leads_heldout" and s.n_seeds == 2 and s.n_items == {"wiki_leads_heldout": 60}
    for a in board:
        assert a["bpb/wiki_leads_heldout:lo"] <= a["bpb/wiki_leads_heldout"] <= a["bpb/wiki_leads_heldout:hi"]
    assert board[1]["p_better_than_next"] > 0.99  # close beats random
    assert 0.05 < board[0]["p_better_than_next"] < 0.95  # best vs close: undecided
    assert "Ranked by bits per byte on wiki_leads_heldout" in md and "| 2 ~ | close | 2 |" in md
    # The verdict, in every output: undecided between the two close arms, the failed arm named.
    verdict = report.verdict_line()
    assert verdict.startswith("Undecided among best, close (P(best>close) = ")
    assert "No verdict against `broken`: it failed." in verdict
    assert report.verdict.noise.source == "seeds"  # two seeds, no snapshots
    assert "### P(row better than column) on `bpb/wiki_leads_heldout`" in md
    # News disagrees with Wikipedia (random is best there): listed with its SNR, not mixed in.
    news = report.summaries["bpb/news_heldout"]
    assert news.best == "random" and news.snr > 3
    assert "| bpb/news_heldout |" in md
    # Accuracy at chance within its SE is hidden; prob is shown.
    assert report.accuracy_hidden == ["arc_easy"] and "acc/arc_easy" not in md.split("Accuracy not shown")[0]
    assert "| prob/arc_easy |" in md
    assert {p.name for p in paths["plots"]} == {"loss_curves.png", "decision.png", "snr.png", "removal_funnel.png"}
    data = json.loads(paths["json"].read_text())
    assert data["decision"]["name"] == "bpb/wiki_leads_heldout" and data["decision"]["snr_items_only"] > 1
    assert data["verdict"] == verdict and data["decision"]["with_training_noise"]["plausible_best"] == ["best", "close"]
    assert set(data["metrics"]["bpb/wiki_leads_heldout"]["p_better"]["best"]) == {"best", "close", "random"}
    csv_text = paths["csv"].read_text()
    assert csv_text.splitlines()[0].startswith("rank,arm,n_seeds") and "bpb/wiki_leads_heldout:lo" in csv_text
    assert "broken (seed 0)" in md and "Failed arms: broken (seed 0)" in compact
    assert f"**Verdict:** {verdict}" in md and f"**Verdict:** {verdict}" in compact
    assert csv_text.count(verdict.replace('"', '""')) == len(board)
    # The printed table is compact: decision metric with its interval, P(>next), tokens, removal shares.
    header = next(line for line in compact.splitlines() if line.startswith("| rank"))
    assert header.split(" | ")[2:7] == ["seeds", "bpb/wiki_leads_heldout [95%]", "P(>next)", "P(rank 1)", "rank [95%]"]
    assert "-filters" in header and "bpb/news_heldout" not in compact and "P(row better" not in compact
    close = next(line for line in compact.splitlines() if line.startswith("| 2 ~ | close |"))
    lo, hi = board[1]["bpb/wiki_leads_heldout:lo"], board[1]["bpb/wiki_leads_heldout:hi"]
    assert f"[{lo:.4f}, {hi:.4f}]" in close and "50.0%" in close  # filters left 100 of 200 documents
    assert max(len(line) for line in compact.splitlines() if line.startswith("|")) < 160
    # The page: a compact leaderboard, then every metric with its SNR and the pairwise matrix.
    page = paths["html"].read_text()
    assert "Every metric and every pair" in page and "P(row better than column)" in page
    assert "Verdict:" in page and "it failed" in page and "P(rank 1)" in page
    assert "centered acc (mean)" not in page and "bpb/news_heldout" in page.split("Every metric and every pair")[1]


def test_a_different_declared_decision_changes_the_ranking(catalog, workspace):
    _fill(catalog, None)
    catalog.insert(
        "suites", [{"suite": "s", "decision": DecisionSpec(on=["news_heldout"]).model_dump_json(), "seeds": [0, 1]}]
    )
    _, md, paths = render_report("s", "md", str(workspace.root))
    assert [a["arm"] for a in paths["report"].board] == ["random", "close", "best"]
    assert "`bpb/news_heldout`" in md


def test_arms_removed_from_the_suite_leave_its_report_and_decision(catalog, workspace):
    """A suite YAML that dropped an arm: its old runs stay in the catalog but not in the
    report, so the adaptive rounds never ask to rerun an arm the suite no longer has."""
    from flows.report import build

    _fill(catalog, None)
    decision = DecisionSpec(on=["wiki_leads_heldout"]).model_dump_json()
    catalog.insert("suites", [{"suite": "s", "decision": decision, "seeds": [0, 1]}])
    assert {a["arm"] for a in build(catalog, "s").board} == {"best", "close", "random"}
    catalog.insert(
        "suites", [{"suite": "s", "decision": decision, "seeds": [0, 1], "arms": ["close", "random"]}], replace=True
    )
    report = build(catalog, "s")
    assert [a["arm"] for a in report.board] == ["close", "random"]
    assert "best" not in report.verdict_line() and "broken" not in report.verdict_line()
    _, compact, _ = render_report("s", "md", str(workspace.root))  # its failed-arms line too
    assert "broken" not in compact


def test_without_item_scores_the_board_ranks_by_catalog_means(catalog, workspace):
    for arm, v in (("a", 2.0), ("b", 1.5)):
        _seed(catalog, "t", arm, 0, {"bpb/wiki_leads_heldout": v})
    report = model.build_report(
        catalog.query("leaderboard", {"suite": "t"}), catalog.query("suite_items", {"suite": "t"})
    )
    assert [a["arm"] for a in report.board] == ["b", "a"] and report.decided is None
    assert "No per-item scores" in render.to_markdown(report)
