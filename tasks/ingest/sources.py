"""Resolve ingest SOURCE arguments into input files, and key a source by its content.

A SOURCE is a local path, a glob, an fsspec URL (`file://`, `http(s)://`, `s3://`, ...)
or a Common Crawl style manifest (`warc.paths.gz`: a text or gzipped file with one path
per line; relative paths resolve against a base URL, https://data.commoncrawl.org/ by
default). The source key hashes what the files contain (or, for remote files, their
url + size + ETag/mtime), the ingest options and INGEST_VERSION, never local paths, so a
moved file keeps its cache entry and an edited one gets a new one.
"""

from __future__ import annotations

import glob as globmod
import gzip
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from tasks.core.hashing import hash_file, hash_json

# Bump when ingestion output changes for the same input (new columns, other decoding, ...).
INGEST_VERSION = "ingest-4"  # 3: lid.176, boilerplate pass; 4: news boilerplate rules, cross-page pass
CC_BASE_URL = "https://data.commoncrawl.org/"

_MANIFEST_SUFFIXES = (".paths", ".paths.gz", ".txt", ".txt.gz", ".lst", ".lst.gz", ".manifest")
_DATA_MAGIC = (b"WARC/", b"{", b"[", b"PAR1")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputFile:
    """One file to ingest: where it is and what identifies its content."""

    uri: str  # local absolute path or fsspec URL
    identity: str  # content hash (local) or hash of url+size+etag/mtime (remote)
    size: int

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


class SourceError(ValueError):
    """A SOURCE argument that names nothing readable."""


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _looks_like_manifest(uri: str) -> bool:
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    if name.endswith(_MANIFEST_SUFFIXES):
        return True
    if any(
        name.endswith(s)
        for s in (
            ".warc",
            ".warc.gz",
            ".wet",
            ".wat",
            ".wet.gz",
            ".wat.gz",
            ".jsonl",
            ".jsonl.gz",
            ".json.gz",
            ".json",
            ".parquet",
            ".jsonl.zst",
            ".arc.gz",
        )
    ):
        return False
    # Unknown extension: sniff the first bytes (after gunzip) for a data format.
    try:
        with fsspec.open(uri, "rb", compression="infer" if name.endswith(".gz") else None) as f:
            head = f.read(512)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    if head[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(head)).read(64)
        except (OSError, EOFError):
            return False
    head = head.lstrip()
    if not head or head.startswith(_DATA_MAGIC):
        return False
    try:
        first = head.decode("utf-8").splitlines()[0]
    except UnicodeDecodeError:
        return False
    return bool(first) and " " not in first.strip() and "/" in first


def read_manifest(uri: str, base_url: str = CC_BASE_URL) -> list[str]:
    """The paths listed in a manifest, relative ones joined to `base_url`."""
    compression = "gzip" if uri.endswith(".gz") else None
    with fsspec.open(uri, "rt", compression=compression, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f]
    out = []
    for ln in lines:
        if not ln or ln.startswith("#"):
            continue
        if "://" in ln or ln.startswith("/"):
            out.append(ln)
        else:
            out.append(base_url.rstrip("/") + "/" + ln.lstrip("/"))
    if not out:
        raise SourceError(f"manifest {uri} lists no paths")
    return out


def _expand(arg: str, base_url: str) -> list[str]:
    """One SOURCE argument -> the data file URIs it names."""
    if is_remote(arg):
        if any(c in arg for c in _GLOB_CHARS):
            fs, _, paths = fsspec.get_fs_token_paths(arg)
            uris = [fs.unstrip_protocol(p) for p in paths]
        else:
            uris = [arg]
    else:
        path = _local_path(arg)
        if any(c in path for c in _GLOB_CHARS):
            uris = sorted(globmod.glob(os.path.expanduser(path), recursive=True))
        elif os.path.isdir(path):
            uris = sorted(str(p) for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            uris = [path]
        uris = [str(Path(u).expanduser().resolve()) for u in uris]
        for u in uris:
            if not os.path.isfile(u):
                raise SourceError(f"source {arg!r}: {u} is not a readable file")
    if not uris:
        raise SourceError(f"source {arg!r} matches no files")
    out: list[str] = []
    for u in uris:
        if _looks_like_manifest(u):
            out.extend(read_manifest(u, base_url))
        else:
            out.append(u)
    return out


def _remote_identity(uri: str) -> tuple[str, int]:
    fs, path = fsspec.core.url_to_fs(uri)
    info = fs.info(path)
    size = int(info.get("size") or 0)
    stamp = {
        k: str(v)
        for k, v in info.items()
        if k.lower()
        in (
            "etag",
            "e_tag",
            "lastmodified",
            "last_modified",
            "mtime",
            "last-modified",
            "versionid",
            "md5_checksum",
            "crc32c",
        )
    }
    if not stamp:  # nothing that changes with the content: hash the bytes themselves
        return hash_file(uri), size
    return hash_json({"url": uri, "size": size, **stamp}), size


def describe(uri: str) -> InputFile:
    """The InputFile for one data file URI (hashes local content; stats remote)."""
    if is_remote(uri):
        identity, size = _remote_identity(uri)
        return InputFile(uri, identity, size)
    path = _local_path(uri)
    return InputFile(path, hash_file(path), os.path.getsize(path))


def resolve_sources(sources: Iterable[str], base_url: str = CC_BASE_URL) -> list[InputFile]:
    """Every input file named by `sources`, deduplicated by content, in a stable order.

    The order (by identity) decides shard numbers, so it does not depend on how the
    arguments were spelled or listed.
    """
    sources = list(sources)
    if not sources:
        raise SourceError("no SOURCE given")
    seen: dict[str, InputFile] = {}
    for arg in sources:
        for uri in _expand(str(arg), base_url):
            f = describe(uri)
            seen.setdefault(f.identity, f)
    return sorted(seen.values(), key=lambda f: (f.identity, f.uri))


def source_key(files: list[InputFile], options: dict[str, Any]) -> str:
    """Content key of an ingest: input identities + options that change output + version."""
    return hash_json({"inputs": sorted(f.identity for f in files), "options": options, "version": INGEST_VERSION})
