"""Leaderboard ranking, seed-noise marks and rendering from catalog rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from flows.report import render_report
from tasks.core.catalog import Catalog
from tasks.report import report as rpt


def _seed(catalog: Catalog, suite: str, arm: str, seed: int, metrics: dict, curve=None, status="completed"):
    catalog.insert(
        "arm_runs",
        [{"suite": suite, "arm": arm, "seed": seed, "status": status, "recipe_hash": "h", "curve_path": curve}],
        replace=True,
    )
    catalog.insert(
        "arm_metrics",
        [{"suite": suite, "arm": arm, "seed": seed, "metric": m, "value": v} for m, v in metrics.items()],
        replace=True,
    )


def test_ranking_and_noise_marks(catalog, workspace, tmp_path):
    curve = tmp_path / "curve.parquet"
    pq.write_table(pa.table({"step": [1, 2, 3], "tokens": [10, 20, 30], "loss": [9.0, 7.0, 6.5]}), curve)
    for seed, jitter in ((0, 0.0), (1, 0.02)):
        _seed(
            catalog,
            "s",
            "best",
            seed,
            {
                "bpb_mean": 2.00 + jitter,
                "acc_centered_mean": 0.05,
                "documents": 100,
                "funnel/0_input": 200,
                "funnel/1_filters": 100,
            },
            curve=str(curve),
        )
        _seed(
            catalog,
            "s",
            "close",
            seed,
            {
                "bpb_mean": 2.01 + jitter,
                "acc_centered_mean": 0.04,
                "documents": 150,
                "funnel/0_input": 200,
                "funnel/1_filters": 150,
            },
        )
        _seed(
            catalog,
            "s",
            "random",
            seed,
            {
                "bpb_mean": 2.50 + jitter,
                "acc_centered_mean": 0.00,
                "documents": 120,
                "funnel/0_input": 200,
                "funnel/1_filters": 200,
            },
        )
    _seed(catalog, "s", "broken", 0, {}, status="failed")
    board = rpt.build_leaderboard(catalog.query("leaderboard", {"suite": "s"}))
    assert [a["arm"] for a in board] == ["best", "close", "random"]
    assert board[1]["within_noise_of_best"] and not board[2]["within_noise_of_best"]
    suite, md, paths = render_report("s", "md", str(workspace.root))
    assert "| 2 ~ | close |" in md and "2.0100 ± 0.0141" in md
    assert {p.name for p in paths["plots"]} == {
        "loss_curves.png",
        "scores_bpb_mean.png",
        "scores_acc_centered_mean.png",
        "removal_funnel.png",
    }
    assert "best" in rpt.to_csv(board) and '"arm": "random"' in rpt.to_json(board)
