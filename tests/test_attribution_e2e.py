"""Attribution end to end (issue 25): `python -m flows.ablation` on a small real suite whose
recipe carries a planted harmful rule and an inert one, decided on held-out Wikipedia.

The pool: the 697 real CC-MAIN-2019-30 documents (`crawl`) and 1,500 Wikipedia leads
(`wiki`). The recipe keeps short documents (`short`), drops every lead (`no_wiki`: harmful
when the decision is bits per byte on held-out Wikipedia leads) and has a rule no document
fails (`inert`). `ablate:` leaves each of no_wiki and inert out. Known answers: removing
no_wiki lowers held-out Wikipedia bits per byte (an effect below zero, separated from it
with training noise counted); `full-inert` trains on the full recipe's dataset, so it
reuses that run and its effect is exactly zero; the slices name the leads (source wiki,
no URL domain) as what no_wiki removes.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

SUITE = """
name: planted
preset: nano
token_budget: 60000        # real tokens per dataset: the short crawl pages alone reach it
train_tokens: 300000
seeds: [0, 1]
eval: {{tasks: [wiki_leads_heldout], limit: 80}}
decision: {{metric: bpb, on: [wiki_leads_heldout]}}
sources:
  crawl: ["${{SHARED_DATA}}/crawl/CC-MAIN-2019-30-sample.jsonl.gz"]
  wiki: ["{wiki}"]
arms:
  - name: full
    sources: [crawl, wiki]
    filters:
      - {{name: no_wiki, sql: "source <> 'wiki'"}}
      - {{name: short, sql: "n_chars < 2000"}}
      - {{name: inert, sql: "n_chars >= 0"}}
ablate: {{recipe: full, over: [no_wiki, inert], topics: null}}
"""


@pytest.fixture(scope="module")
def planted(prefect_server, tmp_path_factory):
    from tasks.core.reference import wiki_leads

    folder = tmp_path_factory.mktemp("planted")
    wiki = folder / "wiki.jsonl.gz"
    with gzip.open(wiki, "wt") as f:
        for r in wiki_leads("train").slice(0, 1500).to_pylist():
            f.write(json.dumps({"id": r["title"], "text": r["text"]}) + "\n")
    suite = folder / "planted.yaml"
    suite.write_text(SUITE.format(wiki=wiki))
    ws = folder / "ws"
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server["api"],
        "PREFECT_HOME": prefect_server["home"],
        "WINNOW_HOME": str(ws),
        "WINNOW_REPORTS": str(folder / "reports"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "flows.ablation", str(suite), "--workspace", str(ws), "--max-parallel", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2000,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return ws, folder / "reports" / "planted", done.stdout + done.stderr


def test_the_planted_harmful_rule_has_a_negative_effect_separated_from_zero(planted):
    ws, _, _ = planted
    a = json.loads((ws / "reports" / "planted" / "attribution.json").read_text())
    e = {x["component"]: x for x in a["effects"]}["no_wiki"]
    assert a["metric"] == "bpb/wiki_leads_heldout" and a["noise_known"]
    assert e["effect"] < 0 and e["hi"] < 0, e  # the model is better without it
    assert e["verdict"] == "hurts" and e["p_positive"] < 0.05
    assert e["removal"]["documents"] == 1500 and e["removal"]["only_documents"] == 1500


def test_the_inert_rule_reuses_the_full_run_and_has_an_effect_of_exactly_zero(planted):
    ws, _, log = planted
    a = json.loads((ws / "reports" / "planted" / "attribution.json").read_text())
    e = {x["component"]: x for x in a["effects"]}["inert"]
    assert (e["effect"], e["lo"], e["hi"], e["verdict"]) == (0.0, 0.0, 0.0, "identical data: reused")
    assert e["removal"]["documents"] == 0
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    rows = con.sql("SELECT arm, seed, dataset_key, model_key FROM arm_runs WHERE status = 'completed'").fetchall()
    runs = {(arm, seed): (d, m) for arm, seed, d, m in rows}
    for seed in (0, 1):  # the same dataset and the same model: trained once
        assert runs[("full-inert", seed)] == runs[("full", seed)]
    assert runs[("full-no_wiki", 0)][0] != runs[("full", 0)][0]
    models = sorted({p.name for p in (ws / "models").iterdir() if p.is_dir()})
    assert len(models) == 4, models  # full and full-no_wiki, 2 seeds each; full-inert trained nothing
    assert "its dataset is full's; reusing that run" in log


def test_slices_page_and_artifacts(planted, prefect_server):
    ws, html_dir, _ = planted
    a = json.loads((ws / "reports" / "planted" / "attribution.json").read_text())
    slices = {s["rule"]: s for s in a["data"]["slices"]}
    named = {(s["dimension"], s["group"]): s["removed"] for s in slices["sql.no_wiki"]["slices"]}
    assert named[("source", "wiki")] == 1500 and named[("domain", "(none)")] == 1500
    assert slices["sql.inert"]["slices"] == []
    page = (html_dir / "index.html").read_text()
    assert "<h2>Attribution</h2>" in page and "no_wiki" in page and "identical data: reused" in page
    assert (ws / "reports" / "planted" / "attribution.png").stat().st_size > 5000
    body = json.dumps({"artifacts": {"key": {"any_": ["attribution-planted"]}}, "limit": 1}).encode()
    req = urllib.request.Request(
        f"{prefect_server['api']}/artifacts/filter", data=body, headers={"Content-Type": "application/json"}
    )
    (artifact,) = json.loads(urllib.request.urlopen(req, timeout=30).read())
    assert "which component of `full` mattered" in artifact["data"] and "data:image/png;base64," in artifact["data"]
