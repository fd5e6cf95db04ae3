"""`python -m deployments.serve`: the no-worker way to run winnow's deployments.

Serves four deployments from this process (no work pool, no worker): `ablation`
(parameters: a suite, optional custom arms typed into the UI form, or a whole suite
whose `sweep:` expands into arms), `sweep` (a suite's sweep: mixture search, repetition
cost), `ingest-nightly` (a cron schedule over a manifest of new crawl files) and `report`. Needs a Prefect
server: `prefect server start`, then `export PREFECT_API_URL=http://127.0.0.1:4200/api`.
`--register-only` creates the deployments and returns (for CI and the UI test).
The same four are in deployments/prefect.yaml for a process work pool.
"""

from __future__ import annotations

import argparse
import os
import sys

from flows import _runtime  # noqa: F401  (environment defaults)
from flows.ablation import DEFAULT_SUITE, ablation_flow
from flows.ingest import ingest_flow
from flows.report import report_flow
from flows.sweep import sweep_flow
from tasks.suite import REPO


def deployments(manifest: str | None = None, cron: str = "0 3 * * *"):
    manifest = manifest or os.environ.get("WINNOW_NIGHTLY_MANIFEST", str(REPO.parent / "shared" / "data" / "crawl"))
    return [
        ablation_flow.to_deployment(
            name="ablation",
            tags=["winnow", "ablation"],
            parameters={"suite": str(DEFAULT_SUITE.relative_to(REPO))},
            description="Run a suite of recipes end to end; add custom arms in the form.",
        ),
        sweep_flow.to_deployment(
            name="sweep",
            tags=["winnow", "sweep"],
            parameters={"suite": "recipes/suites/mixture_search.yaml"},
            description="Run a suite's sweep: (mixture search with a fitted predictor, repetition cost per epoch).",
        ),
        ingest_flow.to_deployment(
            name="ingest-nightly",
            tags=["winnow", "ingest"],
            cron=cron,
            parameters={"sources": [manifest], "name": "nightly"},
            description="Ingest the files a manifest lists; finished shards are served from cache.",
        ),
        report_flow.to_deployment(
            name="report",
            tags=["winnow", "report"],
            parameters={"format": "md"},
            description="Leaderboard, plots and artifacts of a suite (the latest by default).",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployments.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest", help="what the nightly ingest reads (default $WINNOW_NIGHTLY_MANIFEST or ../shared/data/crawl)"
    )
    parser.add_argument("--cron", default="0 3 * * *", help="nightly ingest schedule (default 03:00 UTC)")
    parser.add_argument("--register-only", action="store_true", help="create the deployments and exit")
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        parser.error(
            "PREFECT_API_URL is not set: start `prefect server start` and export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    deps = deployments(args.manifest, args.cron)
    if args.register_only:
        for d in deps:
            print(f"registered deployment {d.flow_name}/{d.name}: {d.apply()}")
        return 0
    from prefect import serve

    serve(*deps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
