"""`routewatch demo`: the verdict is computed from what happened, and the real run earns it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from routewatch.demo.scenarios import SCENARIOS, TARGETS
from routewatch.demo.summary import Summary, summarise
from routewatch.demo.tally import Event, Tally

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _tally(
    events: list[tuple[float, str, str, str]], routed: list[tuple[float, str]], probes: list[tuple[float, str]] = ()
) -> Tally:
    tally = Tally(TARGETS)
    tally.events = [Event(at, kind, target, text) for at, kind, target, text in events]
    for at, target, probe in sorted([(at, t, False) for at, t in routed] + [(at, t, True) for at, t in probes]):
        tally._routed.append((at, target, probe))
    return tally


def _summary() -> Summary:
    return Summary("latency", "latency doubles", "openai", "test", 60.0, 10.0, 30.0, 0,
                   expected_signals=("latency", "ttft"))  # fmt: skip


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


ROUTED = (
    _even(0, 11, {"openai": 1, "anthropic": 1, "mistral": 1})
    + _even(11, 39, {"openai": 1, "anthropic": 5, "mistral": 5})
    + _even(39, 60, {"openai": 1, "anthropic": 1, "mistral": 1})
)


def test_every_verdict_is_earned_from_events_and_routing() -> None:
    s = summarise(_summary(), _tally(EVENTS, ROUTED), {"openai": "healthy"})
    verdicts = (s.detected, s.demoted, s.traffic_moved, s.restored, s.traffic_returned, s.passed)
    assert verdicts == (True, True, True, True, True, True)
    assert s.detection is not None and s.detection["signal"] == "latency" and s.detection["delay_s"] == 1.0
    assert round(s.shares["before"]["openai"], 2) == 0.33 and round(s.shares["during"]["openai"], 2) == 0.09
    assert round(s.shares["after"]["openai"], 2) == 0.33 and s.requests["after"] == 63
    lines = s.lines()
    assert "regression detected: yes (latency alarm on openai/gpt-4o-mini at 11.0 s" in lines[1]
    assert "provider restored: yes (openai healthy again at 39.0 s, 9.0 s after the regression ended" in lines[4]
    assert (
        lines[5]
        == "traffic returned: yes (openai's share 33 % of 63 requests after its restoration, 33 % before the injection)"
    )
    assert lines[-1] == "result: PASS"


def test_an_alarm_on_a_signal_the_regression_does_not_move_is_not_a_detection() -> None:
    events = [(11.0, "alarm", "openai", "error: error rate of openai/gpt-4o-mini rose"), *EVENTS[1:]]
    s = summarise(_summary(), _tally(events, ROUTED), {"openai": "healthy"})
    assert not s.detected and not s.passed
    assert "openai error" in s.other_alarms
    assert s.lines()[1] == "regression detected: no (no latency or ttft alarm on openai after the injection)"
    later = [*events, (12.5, "alarm", "openai", "ttft: p95 time to first chunk rose")]
    s = summarise(_summary(), _tally(later, ROUTED), {"openai": "healthy"})
    assert s.detected and s.detection is not None and (s.detection["signal"], s.detection["at"]) == ("ttft", 12.5)


def test_the_other_alarms_line_says_how_many_it_leaves_out() -> None:
    s = summarise(_summary(), _tally(EVENTS, ROUTED), {"openai": "healthy"})
    s.other_alarms = ["a latency", "b latency", "c error", "d ttft"]
    assert "other alarms: 4 (a latency; b latency; c error; and 1 more)" in s.lines()
    s.other_alarms = ["a latency"]
    assert "other alarms: 1 (a latency)" in s.lines()


def test_a_restoration_before_the_regression_ended_is_not_a_restoration() -> None:
    events = [*EVENTS[:2], (25.0, "transition", "openai", "degraded -> healthy: every alarm closed")]
    s = summarise(_summary(), _tally(events, ROUTED), {"openai": "healthy"})
    assert s.demoted and not s.restored and not s.traffic_returned and not s.passed
    assert "healthy again at 25.0 s, before the regression ended" in s.lines()[4]


def test_a_noise_demotion_after_the_restoration_is_reported_but_does_not_undo_it() -> None:
    events = [*EVENTS, (50.0, "transition", "openai", "healthy -> degraded: p95 latency rose (host noise)")]
    s = summarise(_summary(), _tally(events, ROUTED), {"openai": "degraded"})
    assert s.restored and s.traffic_returned and s.passed
    assert s.requests["after"] == 33  # 39 s to 50 s: the share is judged while it was restored
    assert "; demoted again at 50.0 s: p95 latency rose (host noise))" in s.lines()[4]


def test_a_restoration_that_does_not_last_has_no_traffic_to_show() -> None:
    events = [*EVENTS, (39.2, "transition", "openai", "healthy -> ejected: the alarm is still open")]
    s = summarise(_summary(), _tally(events, ROUTED), {"openai": "ejected"})
    assert s.restored and not s.traffic_returned and not s.passed


def test_traffic_that_does_not_come_back_after_the_restoration_fails() -> None:
    routed = ROUTED[: -len(_even(39, 60, {"openai": 1, "anthropic": 1, "mistral": 1}))] + _even(
        39, 60, {"openai": 1, "anthropic": 5, "mistral": 5}
    )
    s = summarise(_summary(), _tally(EVENTS, routed), {"openai": "healthy"})
    assert s.restored and not s.traffic_returned and not s.passed
    assert s.lines()[5].startswith("traffic returned: no (openai's share 9 % of ")


def test_probes_are_not_traffic() -> None:
    probes = [(t + 0.5, "openai") for t in range(11, 39)] * 4  # probes of the demoted provider
    s = summarise(_summary(), _tally(EVENTS, ROUTED, probes), {"openai": "healthy"})
    assert round(s.shares["during"]["openai"], 2) == 0.09  # as without the probes
    assert s.probes == len(probes) and "112 probes" in s.lines()[4]


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
    summary = _summary()
    summary.expected_signals = ("schema_invalid",)
    s = summarise(summary, _tally(events, []), {"openai": "ejected"})
    assert s.detected and s.demoted
    assert s.demotion is not None and (s.demotion["old"], s.demotion["new"]) == ("degraded", "ejected")


def test_an_alarm_before_the_injection_is_not_a_detection() -> None:
    early = [(5.0, "alarm", "openai", "latency: noise"), (5.0, "transition", "openai", "healthy -> degraded: noise")]
    s = summarise(_summary(), _tally(early, []), {"openai": "degraded"})
    assert not s.detected and not s.demoted


@pytest.mark.timeout(240)  # the default 60 s run, its start-up and teardown, on a busy two-core machine
def test_the_demo_run_detects_demotes_moves_traffic_and_restores(tmp_path: Path) -> None:
    """The run users see (60 s: shorter runs leave the rate detectors too few calls to close an alarm)."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    traces = tmp_path / "traces.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "routewatch.cli", "demo", "--json", "--traces", str(traces)],
        capture_output=True, text=True, timeout=200, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    why = json.dumps(summary, indent=1)
    verdicts = {k: summary[k] for k in ("detected", "demoted", "traffic_moved", "restored", "traffic_returned")}
    assert verdicts == dict.fromkeys(verdicts, True), why
    assert done.returncode == 0 and summary["passed"]
    assert summary["router"] == "routewatch.Router"
    injected, recovered = summary["injected_at_s"], summary["recovered_at_s"]

    detection, demotion, restoration = summary["detection"], summary["demotion"], summary["restoration"]
    assert detection["stream"] == "openai/gpt-4o-mini"
    assert detection["signal"] in SCENARIOS["latency-and-schema"].expected_signals, why
    assert injected <= detection["at"] < recovered, why
    assert detection["at"] <= demotion["at"] < recovered and demotion["new"] in ("degraded", "ejected"), why
    assert restoration["at"] >= recovered, why  # a busy host's noise may demote it again later: reported, not failed

    before, during, after = (summary["shares"][w]["openai"] for w in ("before", "during", "after"))
    assert during < before / 2 and after > 0.6 * before, why
    assert summary["requests"]["during"] > 0 and summary["requests"]["after"] >= 30, why
    assert summary["probes"] > 0, why

    # --json implies --no-live: the plain lines went to stderr, in order, without terminal codes
    lines = done.stderr.splitlines()
    assert lines[0].startswith("routewatch demo: openai will regress") and "\x1b" not in done.stderr
    kinds = [tuple(line.split("] ", 1)[1].split()[:2]) for line in lines[1:] if line.startswith("[")]
    injection = kinds.index(("phase", "openai"))
    assert ("alarm", "openai") in kinds[injection:] and ("transition", "openai") in kinds[injection:]
    assert ("probe", "openai") in kinds and sum(kind == "status" for kind, _ in kinds) >= 5
    assert any("regression over: back to baseline" in line for line in lines)

    assert summary["traces_file"] == str(traces)
    spans = [
        span
        for line in traces.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    names = {span["name"] for span in spans}
    assert "routewatch.route default" in names and "chat gpt-4o-mini" in names and "chat claude-haiku-4-5" in names
