"""The system-tool switch in tests/conftest.py: a test marked `requires_tool` is skipped when the tool
is missing on a laptop, and fails under CI (or ROUTEWATCH_REQUIRE_TOOLS=1), so a failed apt install
in scripts/test cannot turn the Prometheus and Chromium tests into silent skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
INNER = """
import pytest

@pytest.mark.requires_tool("routewatch-no-such-tool")
def test_needs_a_missing_tool():
    pass

@pytest.mark.requires_tool("sh")
def test_needs_a_present_tool():
    pass
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER)
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "ROUTEWATCH_REQUIRE_TOOLS", "PYTEST_ADDOPTS")}
    base["PYTHONPATH"] = os.pathsep.join([str(TESTS), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "conftest", "--rootdir", str(tmp_path), "test_inner.py"],
        cwd=tmp_path, env={**base, **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("env", [{}, {"CI": "false"}, {"ROUTEWATCH_REQUIRE_TOOLS": "0"}], ids=str)
def test_a_missing_tool_skips_outside_ci(tmp_path: Path, env: dict[str, str]) -> None:
    done = _run(tmp_path, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout
    assert "routewatch-no-such-tool not installed" in done.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {"CI": "1"}, {"ROUTEWATCH_REQUIRE_TOOLS": "1"}], ids=str)
def test_a_missing_tool_fails_when_tools_are_required(tmp_path: Path, env: dict[str, str]) -> None:
    done = _run(tmp_path, **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 1 error" in done.stdout  # failed in setup: the run is red
    assert "required because CI or ROUTEWATCH_REQUIRE_TOOLS=1 is set" in done.stdout
