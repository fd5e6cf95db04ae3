"""Check an ingested source: the documents contract, then how many of its documents
share an n-gram with the eval suite (counted per shard, in parallel, nothing removed).

    python -m flows.validate --source crawl
    python -m flows.validate --source crawl --severity documents.url_parseable=warn

Results go to the catalog (validation_runs, validation_results, stage_runs), Data Docs
to `$WINNOW_HOME/validation/<docs-key>/data_docs/index.html`; a failed expectation of
severity `fail` fails the run with a one-screen summary.
"""

from __future__ import annotations

import argparse
import time

from flows._runtime import dask_task_runner, prefect_api


def _build(task_runner=None):
    from prefect import flow, task
    from prefect.artifacts import create_markdown_artifact

    from tasks.core.catalog import Catalog
    from tasks.core.docsref import resolve_docs
    from tasks.core.workspace import Workspace
    from tasks.decontam.scan import count_shard, eval_index_path, sum_counts
    from tasks.validation import check_severity_names, record_and_enforce, validate_documents_dir

    @task(name="validate-documents", tags=["validation"])
    def validate_documents_task(docs_dir: str, key: str, workspace_root: str, severities: dict | None = None) -> dict:
        return validate_documents_dir(docs_dir, key, workspace_root, severities)

    @task(name="eval-ngram-index")
    def index_task(home: str, eval_items_path: str | None, n: int) -> str:
        return str(eval_index_path(Workspace.from_env(home), eval_items_path, n))

    @task(name="contamination-count")
    def count_task(shard: str, index_path: str) -> dict:
        return count_shard(shard, index_path)

    @flow(name="validate-source")
    def validate_source(
        source: str,
        home: str | None = None,
        eval_items_path: str | None = None,
        n: int = 13,
        severities: dict[str, str] | None = None,
    ) -> dict:
        ws = Workspace.from_env(home)
        catalog = Catalog(ws.catalog_path)
        check_severity_names(severities or {})
        ref = resolve_docs(ws, source)
        t0 = time.time()
        result = validate_documents_task(str(ref.dir), ref.source_key, str(ws.root), severities or {})
        outcome = record_and_enforce(catalog, result)
        index_path = index_task(str(ws.root), eval_items_path, n)
        counts = [f.result() for f in count_task.map([str(s) for s in ref.shards], index_path)]
        total = sum_counts(counts)
        docs, contaminated, by_task = total["docs"], total["contaminated"], total["by_task"]
        info = {
            "source": source,
            "docs": docs,
            "contaminated": contaminated,
            "by_task": by_task,
            "n": n,
            "contract_success": outcome.success,
            "warnings": [o.expectation for o in outcome.warnings],
            "data_docs": outcome.data_docs,
        }
        catalog.insert(
            "stage_runs",
            [
                {
                    "stage": "validation",
                    "key": ref.source_key,
                    "input_key": ref.docs_hash,
                    "cached": False,
                    "seconds": time.time() - t0,
                    "info": info,
                }
            ],
        )
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(by_task.items())) or "| (none) | 0 |"
        create_markdown_artifact(
            key="validate-source",
            description=f"validation of {source}",
            markdown=(
                f"# Validation of `{source}`\n\n{outcome.summary()}\n\n"
                f"**Contamination** ({n}-grams): {contaminated} of {docs} documents share an n-gram with the eval suite.\n\n"
                f"| first matched task | documents |\n|---|---|\n{rows}\n"
            ),
        )
        return info

    return validate_source.with_options(task_runner=task_runner) if task_runner else validate_source


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="an ingested source name (or its source key)")
    ap.add_argument("--home", default=None, help="workspace root (default $WINNOW_HOME or ./.winnow)")
    ap.add_argument(
        "--eval-items",
        default=None,
        help="Parquet of eval items (task, item_id, text); default: the project's eval suite",
    )
    ap.add_argument("--n", type=int, default=13, help="n-gram length for the contamination count")
    ap.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="NAME=warn|fail",
        help="override an expectation's severity (repeatable)",
    )
    ap.add_argument("--dask-address", default=None, help="an existing Dask scheduler; default a local cluster")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local Dask worker processes; 0 runs the shards in threads without Dask",
    )
    args = ap.parse_args(argv)
    severities = dict(s.split("=", 1) for s in args.severity)
    with prefect_api():
        local_threads = args.workers == 0 and not args.dask_address
        flow = _build(None if local_threads else dask_task_runner(args.dask_address, args.workers))
        info = flow(args.source, args.home, args.eval_items, args.n, severities)
    print(
        f"{info['source']}: contract passed; {info['contaminated']} of {info['docs']} documents overlap the "
        f"eval suite ({info['by_task']}); Data Docs: {info['data_docs']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
