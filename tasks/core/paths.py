"""Where winnow finds its own files and the shared data, in one place.

`sql/` and `evals/` ship inside the installed distribution (package data), so a
non-editable install finds them too; the shared data directory is
`$WINNOW_SHARED_DATA`, defaulting to `../shared/data` beside the working directory's
checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

# The checkout (editable install) or site-packages (wheel): sql/ and evals/ sit beside tasks/.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def sql_dir() -> Path:
    return PACKAGE_ROOT / "sql"


def evals_dir() -> Path:
    return PACKAGE_ROOT / "evals"


def shared_data() -> Path:
    """`$WINNOW_SHARED_DATA`, else `../shared/data` beside the checkout."""
    env = os.environ.get("WINNOW_SHARED_DATA")
    return Path(env).expanduser().resolve() if env else PACKAGE_ROOT.parent / "shared" / "data"
