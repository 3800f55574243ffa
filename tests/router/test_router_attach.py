"""routewatch.Router driven by a DriftMonitor through routewatch.attach: a latency alarm moves its
traffic, every decision says why, and the ledger shows it."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import routewatch
from routewatch.drift import DriftMonitor, MonitorConfig
from routewatch.router import Router, TargetState

CONFIG = MonitorConfig(detector_overrides={"latency": {"warm_up": 300}})


def latencies(rng: random.Random, median: float, n: int) -> list[float]:
    return [median * math.exp(0.2 * rng.gauss(0, 1)) for _ in range(n)]


def test_a_latency_alarm_shifts_weighted_traffic_and_the_decision_explains_it() -> None:
    now = [1000.0]
    targets = [{"name": n, "provider": "openai", "model": m, "base_url": "http://127.0.0.1:9/v1"}
               for n, m in (("fast", "gpt-4o-mini"), ("steady", "gpt-4.1-mini"))]  # fmt: skip
    router = Router({"targets": targets, "tasks": {"default": {"strategy": "weighted"}}},
                    rng=random.Random(2), listen=False, clock=lambda: now[0])  # fmt: skip
    monitor = DriftMonitor(CONFIG, sinks=[])
    attachment = routewatch.attach(monitor, router, tick_interval_s=None)
    try:
        rng = random.Random(5)
        for value in latencies(rng, 0.5, 600) + latencies(rng, 1.5, 300):
            monitor.observe(("openai", "gpt-4o-mini"), "latency", value)
        assert router.health.state("fast") is TargetState.DEGRADED
        factor = router.health.weight_factor("fast")
        assert 0 < factor < 1
        choices = [router.choose() for _ in range(2_000)]
        share = Counter(c.target for c in choices)["fast"] / len(choices)
        assert abs(share - factor / (1 + factor)) < 0.04  # effective weight = configured x health factor
        candidates = json.loads(json.dumps([c.as_dict() for c in choices[0].decision.candidates]))
        fast = next(c for c in candidates if c["target"] == "fast")
        assert fast["state"] == "degraded" and fast["weight"] == round(factor, 4)
        line = router.status()["fast"]
        assert line["state"] == "degraded" and line["reason"].startswith("p95 latency of openai/gpt-4o-mini rose")
        assert line["effective_weight"] == factor
    finally:
        attachment.detach()
        router.close()
