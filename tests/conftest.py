"""Shared fixtures: real data from ../shared/data, a fresh workspace per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
CRAWL = SHARED_DATA / "crawl"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from tasks.workspace import Workspace
    monkeypatch.setenv("WINNOW_HOME", str(tmp_path / "ws"))
    return Workspace.from_env(tmp_path / "ws")


@pytest.fixture
def catalog(workspace):
    from tasks.catalog import Catalog
    return Catalog(workspace.catalog_path)
