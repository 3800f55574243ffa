"""instrument(monitor=...): the monitor is fed off the request path and sees a real regression."""

from __future__ import annotations

import time

import httpx2

import routewatch
from routewatch.drift import Alarm, DriftMonitor, MonitorConfig
from routewatch.simulator import Phase, ProviderSettings, Scenario

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_server_errors_starting_mid_run_raise_an_alarm(telemetry, simulator) -> None:
    alarms: list[Alarm] = []
    monitor = DriftMonitor(
        MonitorConfig(detector_overrides={"error": {"warm_up": 200}, "server_error": {"warm_up": 200}}),
        sinks=[alarms.append],
    )
    routewatch.uninstrument()
    routewatch.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        providers={simulator.url + "/v1": "openai"},
        monitor=monitor,
    )
    simulator.set_scenario(
        Scenario(
            default=ProviderSettings(output_tokens=4),
            phases=(Phase(start_after_requests=300, default=ProviderSettings(faults={"http_500": 0.3})),),
        )
    )
    deadline = time.monotonic() + 60
    with httpx2.Client() as client:
        for _ in range(800):
            client.post(simulator.url + "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer k"})
            if time.monotonic() > deadline:
                break
    assert routewatch.flush(10)
    raised = [a for a in alarms if a.kind == "alarm" and a.signal in ("error", "server_error")]
    assert raised, [a.explanation for a in alarms]
    assert raised[0].stream_key == {"provider": "openai", "model": "gpt-4o-mini", "operation": "chat", "extra": {}}
    detected_at_call = raised[0].change_index + raised[0].calls_since_change
    assert 300 < detected_at_call < 450  # after the regression began, and soon after
    assert "rate of openai/gpt-4o-mini rose" in raised[0].explanation


def test_record_score_reaches_the_attached_monitor(telemetry, simulator) -> None:
    monitor = DriftMonitor(sinks=[])
    routewatch.uninstrument()
    routewatch.instrument(tracer_provider=telemetry.tracer_provider, monitor=monitor,
                          providers={simulator.url + "/v1": "openai"})  # fmt: skip
    simulator.set_scenario(Scenario())
    with httpx2.Client() as client:
        body = client.post(simulator.url + "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer k"})
    assert routewatch.flush(10)
    routewatch.record_score(0.0, response_id=body.json()["id"])
    assert "score" in monitor.state()["openai/gpt-4o-mini"]["signals"]
