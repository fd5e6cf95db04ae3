"""`python -m flows.diff ARM_A ARM_B [--suite S] [--n N] [--format md|json]`: how two arms'
datasets differ.

Prints the documents only in A and only in B: counts by source, URL domain and language,
their estimated tokens and share of each dataset's tokens, and a seeded sample from each
side. Arms resolve like `flows.inspect` (an arm of --suite or its latest suite, a recipe
name or a dataset key). Runs as a Prefect flow and publishes the diff as a markdown
artifact (`--no-prefect`: only print).
"""

from __future__ import annotations

import argparse
import sys

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows import _runtime  # noqa: F401  (environment defaults before prefect loads)
from tasks.core.workspace import Workspace
from tasks.inspect import diff as D
from tasks.inspect.resolve import resolve_dataset


def render_diff(a: str, b: str, suite: str | None, n: int, fmt: str, workspace: str | None) -> tuple[str, str]:
    """(markdown, text in `fmt`) of the diff; no Prefect needed."""
    ws = Workspace.from_env(workspace)
    d = D.diff_datasets(ws, resolve_dataset(ws, a, suite), resolve_dataset(ws, b, suite), n=n)
    md = D.to_markdown(d)
    return md, md if fmt == "md" else D.to_json(d)


@flow(name="diff", log_prints=True)
def diff_flow(
    a: str, b: str, suite: str | None = None, n: int = 5, fmt: str = "md", workspace: str | None = None
) -> str:
    """The diff of two arms' datasets, published as a markdown artifact."""
    md, text = render_diff(a, b, suite, n, fmt, workspace)
    create_markdown_artifact(md, key=artifact_key(a, b), description=f"documents only in {a} / only in {b}")
    return text


def artifact_key(a: str, b: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in f"diff-{a}-vs-{b}".lower())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m flows.diff", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("a", metavar="ARM_A")
    ap.add_argument("b", metavar="ARM_B")
    ap.add_argument("--suite", help="the suite both arms ran in (default: each arm's latest)")
    ap.add_argument("--n", type=int, default=5, help="sampled documents per side (default 5)")
    ap.add_argument("--format", choices=("md", "json"), default="md")
    ap.add_argument("--workspace", help="workspace root (default $WINNOW_HOME or ./.winnow)")
    ap.add_argument("--no-prefect", action="store_true", help="only print; no flow run, no artifact")
    args = ap.parse_args(argv)
    try:
        if args.no_prefect:
            print(render_diff(args.a, args.b, args.suite, args.n, args.format, args.workspace)[1])
        else:
            with _runtime.prefect_api():
                print(diff_flow(args.a, args.b, args.suite, args.n, args.format, args.workspace))
    except (LookupError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
