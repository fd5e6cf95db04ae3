"""`python -m flows.inspect ARM_OR_DATASET [--step S] [--n N] [--format md|json]`: read what
a dataset's curate steps removed.

ARM_OR_DATASET is an arm of a suite (the latest suite it ran in, or --suite), a recipe
name, or a dataset key (datasets/<key>/). Prints the seeded sample of removed documents
kept in `datasets/<key>/exclusions.parquet`: per reason (a filter rule such as
fineweb.line_punct_ratio, dedup.minhash with the kept duplicate, decontaminate.<task>
with the eval item, selection, budget) how many were removed and the sampled documents
with their signal values. --step picks a step (dedup), a filter (fineweb) or one rule.
Reads files only: no flow run, no Prefect.

`python -m flows.inspect --member TEXT_OR_FILE ARM_OR_DATASET` asks the dataset's n-gram
sketch whether the text (or the file's contents) was in it: the share of its words inside
an 8-word n-gram found, and yes/no at 50% (tasks/membership/sketch.py, docs/membership.md).
"""

from __future__ import annotations

import argparse
import json
import sys

from tasks.core.workspace import Workspace
from tasks.curate import exclusions as X
from tasks.inspect import member as M
from tasks.inspect.resolve import resolve_dataset


def render(name: str, step: str | None, n: int | None, fmt: str, suite: str | None, workspace: str | None) -> str:
    ws = Workspace.from_env(workspace)
    ref = resolve_dataset(ws, name, suite)
    rows = X.select(X.read_exclusions(ref.dir), step, n)
    if fmt == "json":
        return X.to_json(rows)
    where = f" (suite {ref.suite})" if ref.suite else ""
    title = f"Removed from {ref.label}{where}: dataset {ref.key}" + (f", step {step}" if step else "")
    return X.to_markdown(rows, title)


def render_member(name: str, text_or_file: str, fmt: str, suite: str | None, workspace: str | None) -> str:
    found = M.query_member(Workspace.from_env(workspace), name, text_or_file, suite)
    return json.dumps(found, indent=2) if fmt == "json" else M.to_markdown(found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m flows.inspect", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dataset", metavar="ARM_OR_DATASET", help="arm name, recipe name or dataset key")
    ap.add_argument(
        "--step", help="a step (filters, dedup, ...), a filter (fineweb) or a rule (fineweb.line_punct_ratio)"
    )
    ap.add_argument("--n", type=int, default=None, help=f"documents per reason (at most the {X.SAMPLE_N} stored)")
    ap.add_argument("--format", choices=("md", "json"), default="md")
    ap.add_argument("--member", metavar="TEXT_OR_FILE", help="was this text (or file) in the dataset? (its sketch)")
    ap.add_argument("--suite", help="the suite the arm ran in (default: its latest)")
    ap.add_argument("--workspace", help="workspace root (default $WINNOW_HOME or ./.winnow)")
    args = ap.parse_args(argv)
    if args.n is not None and args.n < 1:
        ap.error("--n must be at least 1")
    try:
        if args.member is not None:
            print(render_member(args.dataset, args.member, args.format, args.suite, args.workspace))
            return 0
        print(render(args.dataset, args.step, args.n, args.format, args.suite, args.workspace))
    except (LookupError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
