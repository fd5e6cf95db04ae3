"""The test session's environment (tests/conftest.py): no PREFECT_* setting and no Hugging
Face cache location from the caller's shell reaches a test or a process it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A test run in a child session, under a shell polluted with what a developer may have set.
_PROBE = """
import os

def test_environment_is_the_sessions_own():
    prefect = {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}
    assert set(prefect) == {"PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED"}, prefect
    assert prefect["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert "winnow-test-session-" in prefect["PREFECT_HOME"] and os.path.isdir(prefect["PREFECT_HOME"])
    home = os.environ["HF_HOME"]
    assert "winnow-test-session-" in home and os.path.isdir(home), home
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE", "HF_ENDPOINT"):
        assert name not in os.environ, name
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        assert os.environ[name] == "1", name
    from huggingface_hub import constants
    assert constants.HF_HUB_CACHE.startswith(home), constants.HF_HUB_CACHE
"""

POLLUTED = {
    "PREFECT_API_URL": "http://127.0.0.1:9/api",
    "PREFECT_API_KEY": "pnu_not_a_key",
    "PREFECT_PROFILES_PATH": "/nonexistent/profiles.toml",
    "PREFECT_HOME": "/nonexistent/prefect-home",
    "PREFECT_LOGGING_LEVEL": "DEBUG",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "true",
    "HF_HOME": "/nonexistent/hf-home",
    "HF_HUB_CACHE": "/nonexistent/hub",
    "HUGGINGFACE_HUB_CACHE": "/nonexistent/hub-old",
    "HF_DATASETS_CACHE": "/nonexistent/datasets",
    "TRANSFORMERS_CACHE": "/nonexistent/transformers",
    "HF_ENDPOINT": "http://127.0.0.1:9",
    "HF_HUB_OFFLINE": "0",
    "HF_DATASETS_OFFLINE": "0",
}


def test_caller_prefect_and_hf_settings_are_scrubbed(tmp_path):
    (tmp_path / "test_probe.py").write_text(_PROBE)
    env = {**os.environ, **POLLUTED, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest"]
        + ["--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
