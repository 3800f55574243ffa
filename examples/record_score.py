"""Downstream scores as a drift signal: user thumbs (or eval grades) tied to the call that earned them.

`routewatch.record_score(score, response_id=...)` files the score under the stream of the call with
that provider response id; when scores fall, the monitor raises a `score` alarm like any other.
Here users stop liking the answers after the 150th call.

    python examples/record_score.py
"""

from __future__ import annotations

import random

import openai
from _simulator import simulator
from opentelemetry.sdk.trace import TracerProvider

import routewatch

monitor = routewatch.DriftMonitor(
    routewatch.MonitorConfig(signals=("score",), detector_overrides={"score": {"warm_up": 60}}), sinks=[]
)
alarms: list[routewatch.Alarm] = []
monitor.subscribe(alarms.append)
rng = random.Random(5)

with simulator() as url:
    routewatch.instrument(tracer_provider=TracerProvider(), providers={url + "/v1/chat": "openai"}, monitor=monitor)
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-example")
    for i in range(260):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        routewatch.flush()  # the call reaches the monitor off the request path; wait for it here
        liked = rng.random() < (0.9 if i < 150 else 0.4)  # what the user clicked
        routewatch.record_score(1.0 if liked else 0.0, response_id=reply.id)
    routewatch.uninstrument()

for alarm in alarms:
    print(f"[{alarm.kind}] {alarm.explanation}")
assert any(a.kind == "alarm" and a.signal == "score" and a.direction == "down" for a in alarms), alarms
