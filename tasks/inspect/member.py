"""`python -m flows.inspect --member TEXT_OR_FILE ARM`: was this text in the arm's dataset?
Asks the dataset's n-gram sketch (tasks/membership/sketch.py), never the dataset itself."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tasks.core.workspace import Workspace
from tasks.inspect.resolve import resolve_dataset
from tasks.membership.sketch import MIN_QUERY_WORDS, sketch_of


def read_query(text_or_file: str) -> str:
    """The text itself, or the contents of the file it names."""
    path = Path(text_or_file)
    try:
        is_file = path.is_file()
    except OSError:  # a long text is not a valid path
        is_file = False
    return path.read_text() if is_file else text_or_file


def query_member(ws: Workspace, name: str, text_or_file: str, suite: str | None = None) -> dict[str, Any]:
    ref = resolve_dataset(ws, name, suite)
    sketch, meta = sketch_of(ref.dir)
    return {"dataset": ref.key, "arm": ref.label, **sketch.query(read_query(text_or_file)), "sketch": asdict(meta)}


def to_markdown(r: dict[str, Any]) -> str:
    sk = r["sketch"]
    head = f"Membership in {r['arm']} (dataset {r['dataset']})"
    if r["member"] is None:
        return f"{head}: no answer, the text has {r['words']} words; the sketch needs at least {MIN_QUERY_WORDS}.\n"
    verdict = "yes" if r["member"] else "no"
    return (
        f"{head}: **{verdict}**\n\n"
        f"- {r['coverage']:.1%} of the text's {r['words']} words lie in a {sk['n_words']}-word n-gram found in the "
        f"sketch ({r['ngrams_present']:.1%} of its {r['ngrams']} n-grams); member when >= {sk['threshold']:.0%}\n"
        f"- sketch: {sk['bytes']:,} bytes ({sk['share_of_text']:.1%} of the dataset's text), false-positive rate "
        f"per n-gram {sk['fp_rate_expected']:.3g}\n"
    )
