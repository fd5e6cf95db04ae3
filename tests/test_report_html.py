"""The suite's HTML report from a small real curate and a synthetic catalog, opened in
Debian's headless Chromium: tables and images render, every arm links to its data card,
the funnel has one list of stages for every arm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.report import render_report
from tasks.core.catalog import Catalog
from tasks.curate import pipeline as C
from tasks.recipe import Recipe
from tasks.report import metrics
from tasks.report.funnel import STAGES
from tests.test_inspect import _recipe, planted_item, planted_ws  # noqa: F401  (fixtures)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def suite_report(planted_ws, tmp_path):  # noqa: F811
    ws, _ = planted_ws
    arms = {
        "heuristic": _recipe(name="heuristic"),
        "plain": Recipe(name="plain", sources=["crawl"], token_budget=60_000),
    }
    catalog = Catalog(ws.catalog_path)
    for i, (arm, recipe) in enumerate(arms.items()):
        stats = C.curate(recipe, ws).stats
        curve = tmp_path / f"{arm}-curve.parquet"
        pq.write_table(pa.table({"step": [1, 2, 3], "tokens": [1e4, 2e4, 3e4], "loss": [8.0, 6.5 - i, 6.0 - i]}), curve)
        catalog.insert(
            "arm_runs",
            [
                {
                    "suite": "s",
                    "arm": arm,
                    "seed": 0,
                    "status": "completed",
                    "recipe_hash": recipe.content_hash(),
                    "dataset_key": C.dataset_key(recipe),
                    "curve_path": str(curve),
                    "recipe": recipe.model_dump_json(),
                }
            ],
        )
        numbers = {
            **metrics.dataset_metrics(stats),
            "bpb_mean": 2.1 + 0.2 * i,
            "bpb/wiki_leads_heldout": 2.0 + 0.2 * i,
            "acc_centered_mean": 0.01,
            "acc_centered/copa": 0.08 - 0.1 * i,  # above chance for one arm: shown
            "acc_centered/arc_easy": -0.02,  # at chance for both: left out
            "train_tokens": 100_000.0,
            "epochs": 1.5,
        }
        catalog.insert(
            "arm_metrics", [{"suite": "s", "arm": arm, "seed": 0, "metric": m, "value": v} for m, v in numbers.items()]
        )
    catalog.insert("arm_runs", [{"suite": "s", "arm": "broken", "seed": 0, "status": "failed", "error": "boom"}])
    suite, md, paths = render_report("s", "md", str(ws.root))
    return ws, arms, md, paths


def test_report_page_and_cards(suite_report):
    ws, arms, md, paths = suite_report
    index = Path(paths["html"])
    assert index == Path(ws.root).parent / "reports" / "s" / "index.html"
    page = index.read_text()
    assert "http://" not in page.replace("http://127", "") and "<script" not in page  # self-contained
    # the funnel: the same named stages for every arm, one table row each
    board_md = md
    assert "Report, data cards and removed-document samples:" in board_md
    header = "<tr><th>arm</th>" + "".join(f"<th>{s}</th>" for s in STAGES) + "</tr>"
    assert header in page
    rows = Catalog(ws.catalog_path).query("leaderboard", {"suite": "s"})
    for arm in arms:
        assert {r["metric"] for r in rows if r["arm"] == arm and r["metric"].startswith("funnel/")} == {
            f"funnel/{s}" for s in STAGES
        }
    # accuracy only where some arm is above chance
    assert "acc_centered/copa" in page and "acc_centered/arc_easy" not in page and "left out: arc_easy" in page
    # each arm links to its card, copied beside the page, which now knows the trained tokens
    for arm, recipe in arms.items():
        assert f'href="#card-{arm}"' in page and f'id="card-{arm}"' in page
        card = json.loads((index.parent / "cards" / f"{arm}.json").read_text())
        assert card["tokens"]["trained"] == 100_000 and card["dataset"]["key"] == C.dataset_key(recipe)
        assert (index.parent / "cards" / f"{arm}.md").read_text().startswith(f"# Data card: {arm}")
    assert "dedup.exact" in page and "Failed arms" in page and "boom" in page
    # the Prefect artifact's gist: the funnel on the same stages, composition, card paths
    from tasks.report.html import artifact_markdown

    gist = artifact_markdown("s", [{"arm": a, "funnel/input": 9} for a in arms], index)
    assert "| arm | " + " | ".join(STAGES) + " |" in gist and "| heuristic | cc 100% | en 100% |" in gist
    assert str(index.parent / "cards" / "plain.md") in gist


def test_report_renders_in_chromium(suite_report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    _, arms, _, paths = suite_report
    index = Path(paths["html"])
    shot = index.parent / "screenshot.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(index.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({alt: e.alt, ok: e.complete, w: e.naturalWidth, h: e.naturalHeight}))"
            )
            tables = page.eval_on_selector_all(
                "table", "els => els.map(e => ({rows: e.rows.length, w: e.getBoundingClientRect().width}))"
            )
            board = page.eval_on_selector("table.board", "e => Array.from(e.rows).map(r => r.cells[1].innerText)")
            page.click(f"a[href='#card-{next(iter(arms))}']")
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    names = {i["alt"] for i in images}
    assert {"loss curves", "removal funnel", "composition", "decision"} <= names, names
    assert all(i["ok"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    # leaderboard, funnel, and three composition tables per arm, all laid out with rows
    assert len(tables) >= 2 + 3 * len(arms) and all(t["rows"] >= 2 and t["w"] > 0 for t in tables), tables
    assert set(board[1:]) == set(arms)
    assert shot.stat().st_size > 10_000


def test_diff_of_two_arms(suite_report, capsys):
    from tokenizers import Tokenizer

    from flows.diff import main as diff_main
    from flows.diff import render_diff

    ws, arms, _, _ = suite_report
    folder = {a: ws.stage_dir("datasets", C.dataset_key(r)) for a, r in arms.items()}
    data = {a: pq.read_table(f / "part-00000.parquet").to_pylist() for a, f in folder.items()}
    ids = {a: {r["doc_id"] for r in rows} for a, rows in data.items()}
    md, text = render_diff("heuristic", "plain", "s", 3, "json", str(ws.root))
    d = json.loads(text)
    only_a, only_b = ids["heuristic"] - ids["plain"], ids["plain"] - ids["heuristic"]
    assert d["a"]["only_documents"] == len(only_a) > 0 and d["b"]["only_documents"] == len(only_b) > 0
    assert d["common_documents"] == len(ids["heuristic"] & ids["plain"])
    for side, only, arm in ((d["a"], only_a, "heuristic"), (d["b"], only_b, "plain")):
        # real tokens with the tokenizer that cut the arm's budget (stats.json), times repeats
        info = json.loads((folder[arm] / "stats.json").read_text())["tokenizer"]
        tok = Tokenizer.from_file(str(ws.stage_dir("tokenizers", info["hash"][:16]) / "tokenizer.json"))
        lengths = {r["doc_id"]: len(tok.encode(r["text"] or "", add_special_tokens=False).ids) for r in data[arm]}
        per_doc = {
            r["doc_id"]: (lengths[r["doc_id"]] + 1 if lengths[r["doc_id"]] else 0) * r["repeat"] for r in data[arm]
        }
        tokens = sum(n for i, n in per_doc.items() if i in only)
        assert side["only_tokens"] == tokens and side["tokens"] == sum(per_doc.values())
        assert side["token_unit"].startswith("real tokens (suite tokenizer")
        assert side["only_token_share"] == pytest.approx(tokens / sum(per_doc.values()))
        assert sum(g["documents"] for g in side["by_source"]) == len(only)
        assert sum(g["documents"] for g in side["by_language"]) == len(only)
        assert len(side["sample"]) == 3 and {s["doc_id"] for s in side["sample"]} <= only
    assert "## Only-in documents by URL domain" in md and "## Sample only in plain" in md
    assert diff_main(["heuristic", "plain", "--suite", "s", "--no-prefect", "--workspace", str(ws.root)]) == 0
    assert "# heuristic vs plain" in capsys.readouterr().out
    assert diff_main(["heuristic", "nope", "--no-prefect", "--workspace", str(ws.root)]) == 2


def test_leaderboard_intervals_and_chance():
    from tasks.report.html import above_chance_tasks, leaderboard_html

    board = [
        {"arm": "a", "rank": 1, "bpb/x": 2.1, "bpb/x:lo": 2.0, "bpb/x:hi": 2.2, "p_better_than_next": 0.93,
         "acc_centered/copa": 0.05, "acc_centered/piqa": 0.01, "acc_centered/piqa:std": 0.02, "n_seeds": 2},
        {"arm": "b", "rank": 2, "bpb/x": 2.3, "within_noise_of_best": True,
         "acc_centered/copa": -0.1, "acc_centered/piqa": -0.01, "n_seeds": 2},
    ]  # fmt: skip
    assert above_chance_tasks(board) == (["acc_centered/copa"], ["acc_centered/piqa"])  # piqa: inside its std
    page = leaderboard_html(board, {}, decision="bpb/x", decision_label="bits/byte on x")
    assert "<th>bits/byte on x</th>" in page and "2.1000 [2.0000, 2.2000]" in page
    assert "<td>0.930</td>" in page and "<td>2 ~</td>" in page and "left out: piqa" in page


def test_diff_reads_the_token_counts_curate_stored(suite_report, monkeypatch):
    """flows.diff reads the per-document counts curate stored (the doc_tokens stage) instead
    of encoding every document again: the same table as encoding all of them, with only
    the documents a curate step rewrote (line dedup) encoded afresh."""
    from tasks.inspect import diff as D
    from tasks.inspect.resolve import FoundDataset
    from tasks.train import doc_tokens

    ws, arms, _, _ = suite_report
    lines = Recipe(name="lines", sources=["crawl"], dedup={"lines": {"max_count": 2}}, token_budget=60_000)
    C.curate(lines, ws)
    arms = {**arms, "lines": lines}
    refs = {a: FoundDataset(C.dataset_key(r), ws.stage_dir("datasets", C.dataset_key(r)), a) for a, r in arms.items()}
    source = {
        r["doc_id"]: r["text"]
        for r in pq.read_table(sorted(ws.root.glob("docs/*/shard-*.parquet")), columns=["doc_id", "text"]).to_pylist()
    }
    encoded: list[int] = []
    count_texts = doc_tokens.count_texts

    def counting(tokenizer, texts):
        encoded.append(len(texts))
        return count_texts(tokenizer, texts)

    monkeypatch.setattr(doc_tokens, "count_texts", counting)
    stored, rewritten = {}, {}
    for arm, ref in refs.items():
        encoded.clear()
        stored[arm] = D.real_token_counts(ws, ref)
        rows = pq.read_table(ref.dir / "part-00000.parquet", columns=["doc_id", "text"]).to_pylist()
        rewritten[arm] = sum(r["text"] != source[r["doc_id"]] for r in rows)
        assert sum(encoded) == rewritten[arm], arm
    assert rewritten["lines"] > 0 and rewritten["plain"] == 0
    shutil.move(ws.root / "doc_tokens", ws.root / "doc_tokens.aside")  # no stored counts: encode everything
    for arm, ref in refs.items():
        encoded.clear()
        full = D.real_token_counts(ws, ref)
        assert full is not None and sum(encoded) == full.num_rows == stored[arm].num_rows
        assert stored[arm].equals(full), arm
