"""What the demo shows (the live rich view and the plain lines) and what each `--scenario` injects."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from factories import make_record
from routewatch.demo.scenarios import SCENARIOS, TARGETS, build_scenario
from routewatch.demo.tally import Tally
from routewatch.demo.view import LiveView, PlainView
from routewatch.drift.detectors import SIGNALS
from routewatch.simulator.scenario import ScenarioRuntime

STATES = {
    "openai": ("ejected", 0.0, "invalid structured-output rate rose"),
    "anthropic": ("healthy", 1.0, "no alarms"),
    "mistral": ("degraded", 0.25, "p95 latency rose"),
}


def _tally(at_s: float = 15.0) -> Tally:
    """`at_s` into the run: five openai calls (one failed), two anthropic ones, and the events of a demotion."""
    tally = Tally(TARGETS, window_s=3600.0)
    tally.started = time.monotonic() - at_s
    for latency in (0.1, 0.2, 0.3, 0.4):
        tally.on_record(make_record(duration_s=latency, cost_usd=0.5))
    tally.on_record(make_record(status_code=503, error_type="503", duration_s=0.9, cost_usd=None, priced=True))
    for _ in range(2):
        tally.on_record(make_record(provider="anthropic", request_model="claude-haiku-4-5", cost_usd=0.25))
    tally.event("phase", "openai", "regression injected: latency doubles")
    tally.event("alarm", "openai", "schema_invalid: invalid structured-output rate of openai/gpt-4o-mini rose")
    tally.event("transition", "openai", "healthy -> ejected: invalid structured-output rate rose")
    tally.event("probe", "openai", "probe (chat) passed")
    return tally


def _rendered(at_s: float = 15.0, **kwargs: object) -> str:
    """The frame the live view leaves on screen, for a run of 60 s with the regression from 12 s to 30 s."""
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    with LiveView(_tally(at_s), lambda: STATES, "routewatch demo: test", 60.0, 12.0, 30.0, console=console, **kwargs):
        pass  # leaving the view renders it once more, and that frame stays on screen
    return console.export_text()


def test_the_live_view_has_a_row_per_provider_with_its_numbers_and_state() -> None:
    text = _rendered()
    names = tuple(f"│ {t.name} " for t in TARGETS)
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith(names)}
    assert set(rows) == {"openai", "anthropic", "mistral"}
    openai = rows["openai"].split("│")[1:-1]
    cells = [c.strip() for c in openai]
    # provider, model, router, weight, req/s, p95 latency, p95 TTFT, errors, quality fail, cost
    assert cells[:4] == ["openai", "gpt-4o-mini", "ejected", "0.00"]
    assert cells[5] == "400 ms"  # the p95 of the successful calls 100..400 ms; the failed one is left out
    assert cells[7] == "20.0 %" and cells[9] == "$2.0000"
    assert [c.strip() for c in rows["mistral"].split("│")[1:-1]][2:4] == ["degraded", "0.25"]
    anthropic = [c.strip() for c in rows["anthropic"].split("│")[1:-1]]
    assert anthropic[2] == "healthy" and anthropic[7] == "0.0 %" and anthropic[9] == "$0.5000"


def test_the_live_view_shows_the_progress_and_the_latest_events() -> None:
    text = _rendered(15.0)
    assert text.startswith("routewatch demo: test")
    assert "15/60 s  REGRESSION INJECTED" in text
    events = [line for line in text.splitlines() if " s  " in line and "│" in line]
    kinds = [line.split(" s  ", 1)[1].split()[0] for line in events]
    assert kinds == ["phase", "alarm", "transition", "probe"]
    assert all(line.startswith("│   15.0 s  ") for line in events)
    assert any("healthy -> ejected: invalid structured-output rate rose" in line for line in events)
    assert "45/60 s  recovered" in _rendered(45.0) and " 5/60 s  baseline" in _rendered(5.0)


def test_the_live_view_shows_the_verdicts_so_far() -> None:
    text = _rendered(story=lambda: ["regression detected: yes (schema_invalid)", "provider demoted: no"])
    assert "so far" in text
    assert any("regression detected:" in line and "yes (schema_invalid)" in line for line in text.splitlines())


def test_the_plain_view_prints_events_and_status_lines() -> None:
    out = io.StringIO()
    tally = _tally()
    view = PlainView(tally, lambda: STATES, out=out)
    view.on_event(tally.events[2])
    view.status()
    event, status = out.getvalue().splitlines()
    assert event.endswith("transition openai     healthy -> ejected: invalid structured-output rate rose")
    assert "status" in status
    assert "openai ejected" in status and "anthropic healthy" in status and "mistral degraded" in status
    assert "err 20.0 %" in status and "\x1b" not in out.getvalue()  # no terminal control codes


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_regresses_one_provider_in_its_window_only(name: str) -> None:
    regression = SCENARIOS[name]
    regressed, others = TARGETS[0], TARGETS[1:]
    scenario = build_scenario(regressed, regression, 10.0, 20.0, seed=1)
    assert set(regression.expected_signals) <= set(SIGNALS)
    before, during, after = -1, 0, 1  # phase indices: none yet, the regression, the recovery
    base = regressed.settings
    worse = scenario.settings_for(during, regressed.provider, regressed.route)
    assert worse.latency_s == pytest.approx(base.latency_s * regression.latency_factor)
    assert worse.ttft_s == pytest.approx(base.ttft_s * regression.latency_factor)
    assert {k: v for k, v in worse.faults.items() if v} == dict(regression.faults)
    assert regression.latency_factor > 1 or regression.faults  # something does go wrong
    for phase in (before, after):
        assert scenario.settings_for(phase, regressed.provider, regressed.route) == scenario.settings_for(
            before, regressed.provider, regressed.route
        )
        assert scenario.settings_for(phase, regressed.provider, regressed.route).latency_s == base.latency_s
    for target in others:
        for phase in (before, during, after):
            settings = scenario.settings_for(phase, target.provider, target.route)
            assert settings.latency_s == target.settings.latency_s and not any(settings.faults.values())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenarios_faults_are_drawn_at_their_rate(name: str) -> None:
    regression = SCENARIOS[name]
    regressed = TARGETS[1]  # anthropic: the scenario is not tied to the default provider
    runtime = ScenarioRuntime(build_scenario(regressed, regression, 0.0, 1e9, seed=3))
    draws = [runtime.draw(regressed.provider, regressed.route).fault for _ in range(2000)]
    for fault, probability in regression.faults:
        assert draws.count(fault) / len(draws) == pytest.approx(probability, abs=0.04)
    if not regression.faults:
        assert draws == [None] * len(draws)
    healthy = [runtime.draw(t.provider, t.route).fault for t in (TARGETS[0], TARGETS[2]) for _ in range(500)]
    assert healthy == [None] * len(healthy)
