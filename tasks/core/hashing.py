"""Content hashes: the keys of the workspace and of Prefect's cache.

Everything is keyed by what it contains, never by where it lies, so a moved file keeps
its cache entry and an edited one gets a new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fsspec
import xxhash

_CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def hash_text(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


def hash_json(obj: Any) -> str:
    """Hash of a JSON-able object with sorted keys (stable across runs and machines)."""
    return hash_text(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")))


def hash_file(path: str | Path) -> str:
    """Hash of a file's bytes, streamed; works for local paths and fsspec URLs."""
    h = xxhash.xxh3_128()
    with fsspec.open(str(path), "rb", compression=None) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def short(digest: str, n: int = 16) -> str:
    """The prefix used in folder names: long enough to never collide in one workspace."""
    return digest[:n]
