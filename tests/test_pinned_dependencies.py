"""The pinned dependencies are installed at their pins, so no test can skip for want of one.

pyproject.toml pins every direct dependency (`dependencies`, and the `dev` and `peer`
extras `make setup` installs); constraints.txt pins the whole resolved set. A missing or
drifted package fails here by name, instead of turning into skipped or differently-behaving
tests elsewhere (the tests import pinned packages directly, never with importorskip).
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = _PIN.match(line)
        if m:
            out[_canon(m.group(1))] = m.group(3)
    return out


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DIRECT = _pins(
    PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"] + PROJECT["optional-dependencies"]["peer"]
)
CONSTRAINTS = _pins((ROOT / "constraints.txt").read_text().splitlines())


def test_every_direct_dependency_is_pinned_and_constrained():
    unpinned = [
        d
        for d in PROJECT["dependencies"]
        + PROJECT["optional-dependencies"]["dev"]
        + PROJECT["optional-dependencies"]["peer"]
        if not _PIN.match(d)
    ]
    assert not unpinned, unpinned
    assert {k: v for k, v in DIRECT.items() if CONSTRAINTS.get(k) != v} == {}


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_direct_dependency_installed_at_its_pin(name):
    try:
        got = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name}=={DIRECT[name]} is pinned but not installed (make setup)")
    # A local version label is a build of the pin (torch 2.13.0+cpu, +cu126 on GPU machines).
    assert got.split("+")[0] == DIRECT[name], f"{name}: installed {got}, pinned {DIRECT[name]}"
