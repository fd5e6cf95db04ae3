"""Where winnow finds its own files and the shared data, in one place.

- `sql/` and `evals/` are importable packages that ship inside the wheel (package
  data), installed next to `tasks/`: a checkout, an editable install and a plain
  `pip install winnow-*.whl` all find them.
- The project checkout (`checkout()`) is the folder holding winnow's `pyproject.toml`
  beside `tasks/`; an installed wheel has none.
- Shared data: `$WINNOW_SHARED_DATA`, else `<checkout>/../shared/data`, else (an
  installed wheel) `./shared/data` under the working directory.
- External registry data (tasks/core/external.py): `$WINNOW_EXTERNAL`, else
  `<checkout>/.cache/external`, else `./.cache/external` under the working directory.
"""

from __future__ import annotations

import importlib.resources
import os
from functools import cache
from pathlib import Path

# The folder that holds tasks/: the checkout, or site-packages for an installed wheel.
_INSTALL_ROOT = Path(__file__).resolve().parents[2]


def checkout() -> Path | None:
    """The winnow source checkout this code runs from, or None (installed from a wheel)."""
    marker = _INSTALL_ROOT / "pyproject.toml"
    if marker.is_file() and 'name = "winnow"' in marker.read_text(encoding="utf-8"):
        return _INSTALL_ROOT
    return None


def project_root() -> Path:
    """Where relative recipe/suite paths resolve: the checkout, else the working directory."""
    return checkout() or Path.cwd()


@cache
def _data_package(name: str) -> Path:
    # Prefer the copy installed beside this tasks/ (same install, same version); a
    # package of the same name from another distribution elsewhere on sys.path is not ours.
    sibling = _INSTALL_ROOT / name
    if (sibling / "__init__.py").is_file():
        return sibling
    try:
        found = importlib.resources.files(name)
    except ModuleNotFoundError as e:
        raise FileNotFoundError(f"winnow's {name}/ package data is not installed (looked in {sibling})") from e
    if not isinstance(found, Path):
        raise FileNotFoundError(f"winnow's {name}/ package data is not a folder on disk ({found}); install unzipped")
    return found


def sql_dir() -> Path:
    return _data_package("sql")


def evals_dir() -> Path:
    return _data_package("evals")


def shared_data() -> Path:
    """`$WINNOW_SHARED_DATA`, else `../shared/data` beside the checkout, else `./shared/data`."""
    env = os.environ.get("WINNOW_SHARED_DATA")
    if env:
        return Path(env).expanduser().resolve()
    root = checkout()
    return root.parent / "shared" / "data" if root else Path.cwd() / "shared" / "data"


def default_external() -> Path:
    """`$WINNOW_EXTERNAL`'s default: `<checkout>/.cache/external`, else `./.cache/external`."""
    return (checkout() or Path.cwd()) / ".cache" / "external"


# Kept for callers that want the checkout-or-install folder (suite paths, ${REPO}).
PACKAGE_ROOT = project_root()
