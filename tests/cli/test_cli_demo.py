"""`routewatch demo`: the verdict is computed from what happened, and the real run earns it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from routewatch.demo.scenarios import TARGETS
from routewatch.demo.summary import Summary, summarise
from routewatch.demo.tally import Event, Tally

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _tally(events: list[tuple[float, str, str, str]], routed: list[tuple[float, str]]) -> Tally:
    tally = Tally(TARGETS)
    tally.events = [Event(at, kind, target, text) for at, kind, target, text in events]
    tally._routed = [(at, target, False) for at, target in routed]
    return tally


def _summary() -> Summary:
    return Summary("latency", "latency doubles", "openai", "test", 60.0, 10.0, 30.0, 0)


def _even(start: float, end: float, share: dict[str, int]) -> list[tuple[float, str]]:
    out, t = [], start
    while t < end:
        for name, n in share.items():
            out += [(t, name)] * n
        t += 1.0
    return out


EVENTS = [
    (11.0, "alarm", "openai", "latency: p95 latency of openai/gpt-4o-mini rose from 150 ms to 300 ms"),
    (11.0, "transition", "openai", "healthy -> degraded: p95 latency rose"),
    (36.0, "recovered", "openai", "latency: back at its baseline"),
    (37.0, "transition", "openai", "degraded -> ramping: every alarm closed; slow start"),
    (39.0, "transition", "openai", "ramping -> healthy: back at baseline"),
]


def test_every_verdict_is_earned_from_events_and_routing() -> None:
    routed = (
        _even(0, 11, {"openai": 1, "anthropic": 1, "mistral": 1})
        + _even(11, 39, {"openai": 1, "anthropic": 5, "mistral": 5})
        + _even(39, 60, {"openai": 1, "anthropic": 1, "mistral": 1})
    )
    s = summarise(_summary(), _tally(EVENTS, routed), {"openai": "healthy"})
    assert (s.detected, s.demoted, s.traffic_moved, s.restored, s.passed) == (True, True, True, True, True)
    assert s.detection is not None and s.detection["signal"] == "latency" and s.detection["delay_s"] == 1.0
    assert round(s.shares["before"]["openai"], 2) == 0.33 and round(s.shares["during"]["openai"], 2) == 0.09
    lines = s.lines()
    assert "regression detected: yes (latency alarm on openai/gpt-4o-mini at 11.0 s" in lines[1]
    assert lines[-1] == "result: PASS"


def test_no_move_no_restore_means_fail() -> None:
    routed = _even(0, 60, {"openai": 1, "anthropic": 1, "mistral": 1})
    s = summarise(_summary(), _tally(EVENTS[:2], routed), {"openai": "degraded"})
    assert s.detected and s.demoted
    assert not s.traffic_moved and not s.restored and not s.passed
    assert s.lines()[-1] == "result: FAIL"


def test_a_provider_already_degraded_by_noise_is_demoted_further() -> None:
    events = [
        (4.0, "transition", "openai", "healthy -> degraded: a noise alarm"),
        (11.0, "alarm", "openai", "schema_invalid: invalid structured-output rate rose"),
        (11.0, "transition", "openai", "degraded -> ejected: invalid structured-output rate rose"),
    ]
    s = summarise(_summary(), _tally(events, []), {"openai": "ejected"})
    assert s.detected and s.demoted
    assert s.demotion is not None and (s.demotion["old"], s.demotion["new"]) == ("degraded", "ejected")


def test_an_alarm_before_the_injection_is_not_a_detection() -> None:
    early = [(5.0, "alarm", "openai", "latency: noise"), (5.0, "transition", "openai", "healthy -> degraded: noise")]
    s = summarise(_summary(), _tally(early, []), {"openai": "degraded"})
    assert not s.detected and not s.demoted


def test_the_demo_run_detects_demotes_moves_traffic_and_restores(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    traces = tmp_path / "traces.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "routewatch.cli", "demo", "--duration", "60", "--json", "--traces", str(traces)],
        capture_output=True, text=True, timeout=200, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    verdicts = {k: summary[k] for k in ("detected", "demoted", "traffic_moved", "restored")}
    assert verdicts == dict.fromkeys(verdicts, True), json.dumps(summary, indent=1)
    assert done.returncode == 0
    assert summary["router"] == "routewatch.Router"
    assert summary["detection"]["stream"] == "openai/gpt-4o-mini"
    assert summary["shares"]["during"]["openai"] < summary["shares"]["before"]["openai"] / 2
    assert traces.stat().st_size > 0
