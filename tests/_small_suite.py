"""The small real suite the end-to-end tests run: two wget WARCs plus 300 Wikipedia leads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tasks.core.reference import wiki_leads


def write_small_suite(folder: Path, failing_arm: bool = True) -> Path:
    """Write `small.yaml` (arms plain and random, and `broken`, which must fail, when
    `failing_arm`) and its Wikipedia source into `folder`; returns the suite's path."""
    folder.mkdir(parents=True, exist_ok=True)
    wiki = folder / "wiki.jsonl.gz"
    leads = wiki_leads("train").slice(0, 300).to_pylist()
    with gzip.open(wiki, "wt") as f:
        for r in leads:
            f.write(json.dumps({"id": r["title"], "text": r["text"]}) + "\n")
    broken = (
        "  - {name: broken, sources: [crawl, wiki], mixture: {weights: {no_such_source: 1.0}}}\n" if failing_arm else ""
    )
    suite = folder / "small.yaml"
    suite.write_text(f"""
name: small
preset: nano
token_budget: 30000
train_tokens: 40000
eval: {{tasks: [wiki_leads_heldout, copa], limit: 4}}
sources:
  crawl: ["${{SHARED_DATA}}/crawl/wget-sample-000*.warc.gz"]
  wiki: ["{wiki}"]
arms:
  - {{name: plain, sources: [crawl, wiki]}}
  - {{name: random, sources: [crawl, wiki], language: {{allowed: [en]}}, selection: {{method: random, seed: 1}}}}
{broken}""")
    return suite
