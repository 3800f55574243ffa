"""Every example in examples/ runs to completion against the simulator (each asserts its own outcome)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "instrument_app.py", "drift_callbacks.py", "router_failover.py", "record_score.py", "replay.py",
        "zero_code.py", "litellm_router.py",
    }  # fmt: skip


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ROUTEWATCH_SIMULATOR_URL", None)  # each example starts its own simulator
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    args = [sys.executable, str(example)] + ([str(tmp_path)] if example.name == "replay.py" else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=150, env=env, cwd=tmp_path)
    assert done.returncode == 0, f"{example.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    assert done.stdout.strip()
