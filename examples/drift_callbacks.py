"""Drift detection in process: a callback receives each alarm with its one-sentence explanation.

The simulator makes gpt-4o-mini six times slower after its 150th request; the monitor's detectors
are sized for a short run (baselines from 60 calls instead of 1,000). Alarms also go to the
`routewatch.drift` logger, a metric and span events.

    python examples/drift_callbacks.py
"""

from __future__ import annotations

import logging

import openai
from _simulator import simulator
from opentelemetry.sdk.trace import TracerProvider

import routewatch
from routewatch.simulator import Phase, ProviderSettings, Scenario

scenario = Scenario(
    default=ProviderSettings(latency_s=0.02, jitter_sigma=0.2),
    phases=(Phase(start_after_requests=150, default=ProviderSettings(latency_s=0.12)),),
)
# Sized for a short run on a shared machine: baselines from 60 calls, and only big moves (a shift of
# 2 standard deviations, a tight false-alarm budget), so the host's own hiccups do not alarm.
latency_detector = {"warm_up": 60, "shifts": (2.0,), "fa_per_100k": 0.1, "tail_share": 0.25}
monitor = routewatch.DriftMonitor(
    routewatch.MonitorConfig(signals=("latency", "error"), detector_overrides={"latency": latency_detector})
)
alarms: list[routewatch.Alarm] = []


def on_alarm(alarm: routewatch.Alarm) -> None:
    """Runs on routewatch's worker thread: keep it quick (page someone, post to chat, flip a flag)."""
    alarms.append(alarm)
    print(f"[{alarm.kind} {alarm.severity}] {alarm.explanation}")
    print(f"    detector {alarm.detector}, change at call {alarm.change_index}")
    print(f"    before: {alarm.before}\n    after:  {alarm.after}")


monitor.subscribe(on_alarm)
logging.basicConfig(format="log: %(name)s %(levelname)s %(message)s")

with simulator(scenario) as url:
    routewatch.instrument(tracer_provider=TracerProvider(), providers={url + "/v1/chat": "openai"}, monitor=monitor)
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-example")
    for _ in range(210):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    routewatch.flush()
    routewatch.uninstrument()

print(f"{len(alarms)} alarm(s); state of the stream:", monitor.state()["openai/gpt-4o-mini"]["open_alarms"])
slowdowns = [a for a in alarms if a.kind == "alarm" and a.signal == "latency" and a.before and a.after]
assert any((a.after.p50 or 0) > 2 * (a.before.p50 or 0) for a in slowdowns), "the slowdown was not detected"
