"""`python -m routewatch.simulator` serves until interrupted and applies its command-line settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from routewatch.simulator.__main__ import _parser, scenario_from_args

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_command_line_settings_override_the_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"seed": 4, "default": {"output_tokens": 5, "latency_s": 0.2}}))
    args = _parser().parse_args(["--scenario", str(path), "--ttft", "0.3", "--fault", "http_429=0.1"])
    scenario = scenario_from_args(args)
    assert scenario.seed == 4
    assert (scenario.default.output_tokens, scenario.default.latency_s, scenario.default.ttft_s) == (5, 0.2, 0.3)
    assert scenario.default.faults == {"http_429": 0.1}
    inline = scenario_from_args(_parser().parse_args(["--scenario-json", '{"default": {"output_tokens": 2}}']))
    assert inline.default.output_tokens == 2


def test_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "routewatch.simulator", "--port", "0", "--output-tokens", "3"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
            assert url.startswith("http://127.0.0.1:")
            reply = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": []}, timeout=5).json()
            assert reply["usage"]["completion_tokens"] == 3
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
