"""attach(): a real DriftMonitor's alarms and observed failures demote and restore targets in any router."""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import pytest

import routewatch
from factories import make_record
from routewatch.bus import bus
from routewatch.drift import DriftMonitor, MonitorConfig
from routewatch.router import Attachment, Demotable, HealthBook, HealthPolicy, TargetHealth, TargetState, attach

FAST = {"warm_up": 300}
CONFIG = MonitorConfig(detector_overrides={s: FAST for s in ("latency", "error")})
TARGETS = [("fast", "openai", "gpt-4o-mini", ("chat",)), ("steady", "anthropic", "claude-haiku", ("chat",))]


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


class ToyRouter:
    """The smallest Demotable: weighted choice over two deployments."""

    def __init__(self, targets: list[tuple[str, str, str, tuple[str, ...]]] = TARGETS) -> None:
        self.targets = targets
        self.weights = {name: 1.0 for name, *_ in targets}
        self.seen: list[tuple[str, TargetState, float]] = []
        self.lock = threading.Lock()

    def routewatch_targets(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        return self.targets

    def apply_health(self, name: str, health: TargetHealth) -> None:
        with self.lock:
            self.weights[name] = health.weight_factor
            self.seen.append((name, health.state, health.weight_factor))

    def states(self, name: str) -> list[TargetState]:
        with self.lock:
            states = [state for n, state, _ in self.seen if n == name]
        return [s for i, s in enumerate(states) if i == 0 or states[i - 1] is not s]


def feed(monitor: DriftMonitor, key: tuple[str, str], signal: str, values: list[float]) -> int:
    alarms = 0
    for value in values:
        alarms += len(monitor.observe(key, signal, value))
    return alarms


def latencies(rng: random.Random, median: float, n: int) -> list[float]:
    return [median * rng.lognormvariate(0, 0.4) for _ in range(n)]


def test_the_toy_router_is_demotable() -> None:
    assert isinstance(ToyRouter(), Demotable)
    assert routewatch.attach is attach and routewatch.Demotable is Demotable


def test_a_latency_alarm_demotes_and_its_recovery_restores_through_a_ramp() -> None:
    rng = random.Random(5)
    monitor, router, clock = DriftMonitor(CONFIG, sinks=[]), ToyRouter(), Clock()
    policy = HealthPolicy(min_dwell_s=30, ramp_s=60)
    attachment = attach(monitor, router, policy=policy, clock=clock, tick_interval_s=None, results_from_bus=False)
    try:
        assert router.seen == [("fast", TargetState.HEALTHY, 1.0), ("steady", TargetState.HEALTHY, 1.0)]
        key = ("openai", "gpt-4o-mini")
        feed(monitor, key, "latency", latencies(rng, 0.5, 600))
        assert router.states("fast") == [TargetState.HEALTHY]
        assert feed(monitor, key, "latency", latencies(rng, 1.5, 300)) >= 1
        health = attachment.health.status()["fast"]
        assert health.state is TargetState.DEGRADED and 0 < router.weights["fast"] < 1
        assert health.reason.startswith("p95 latency of openai/gpt-4o-mini rose from")
        assert router.weights["steady"] == 1.0
        feed(monitor, key, "latency", latencies(rng, 0.5, 1500))  # the monitor says: back at baseline
        assert attachment.health.status()["fast"].open_alarms == ()
        clock.now += 30
        attachment.tick()
        assert router.seen[-1][:2] == ("fast", TargetState.RAMPING)
        clock.now += 30
        attachment.tick()
        assert router.seen[-1][0] == "fast" and router.seen[-1][2] > 0.5  # pushed as the ramp grows
        clock.now += 30
        attachment.tick()
        assert router.states("fast") == [TargetState.HEALTHY, TargetState.DEGRADED, TargetState.RAMPING,
                                         TargetState.HEALTHY]  # fmt: skip
        assert router.weights["fast"] == 1.0
    finally:
        attachment.detach()


def test_a_critical_error_rate_alarm_ejects_and_probes_restore() -> None:
    rng = random.Random(9)
    monitor, router, clock = DriftMonitor(CONFIG, sinks=[]), ToyRouter(), Clock()
    attachment = attach(monitor, router, clock=clock, tick_interval_s=None, results_from_bus=False)
    try:
        key = ("anthropic", "claude-haiku")
        feed(monitor, key, "error", [float(rng.random() < 0.01) for _ in range(600)])
        feed(monitor, key, "error", [float(rng.random() < 0.6) for _ in range(100)])
        health = attachment.health.status()["steady"]
        assert health.state is TargetState.EJECTED and router.weights["steady"] == 0.0
        assert health.reason.startswith("error rate of anthropic/claude-haiku rose")
        clock.now += 30
        book = attachment.health
        sent = 0
        while book.state("steady") is TargetState.PROBING and sent < book.policy.probe_budget:
            assert book.take_probe("steady")
            attachment.on_result("steady", ok=True, probe=True)
            sent += 1
            clock.now += 5
        attachment.tick()
        # the alarm saw >= 80 % failures since its change point: the round's 5 successes in a row refute
        # that too (0.2 ** 5 < 5 %), so they close it
        seen = re.search(r"to ([0-9.]+) %", health.reason)
        assert seen is not None and float(seen[1]) >= 80.0
        assert sent == 5 and "probes close the error alarm" in book.status()["steady"].reason
        assert router.states("steady")[-3:] == [TargetState.EJECTED, TargetState.PROBING, TargetState.RAMPING]
        assert router.weights["steady"] > 0
    finally:
        attachment.detach()


def test_failures_routewatch_observes_reach_the_router_through_the_bus() -> None:
    router = ToyRouter()
    attachment = attach(DriftMonitor(sinks=[]), router, tick_interval_s=None)
    try:
        for _ in range(5):
            bus.publish(make_record(status_code=503, error_type="503"))
        routewatch.flush()
        health = attachment.health.status()["fast"]
        assert health.state is TargetState.EJECTED and health.reason.startswith("5 consecutive 503s")
        assert router.weights["fast"] == 0.0
    finally:
        attachment.detach()


def test_calls_of_a_model_served_by_several_targets_are_not_guessed() -> None:
    router = ToyRouter([("east", "openai", "gpt-4o-mini", ()), ("west", "openai", "gpt-4o-mini", ())])
    attachment = attach(DriftMonitor(sinks=[]), router, tick_interval_s=None)
    try:
        for _ in range(5):
            bus.publish(make_record(status_code=503, error_type="503"))
        routewatch.flush()
        assert {h.state for h in attachment.health.status().values()} == {TargetState.HEALTHY}
        for _ in range(5):
            attachment.on_result("east", ok=False, status_code=503)
        assert attachment.health.state("east") is TargetState.EJECTED
    finally:
        attachment.detach()


def test_the_ticker_moves_time_driven_states_and_stops_on_detach() -> None:
    router = ToyRouter()
    policy = HealthPolicy(base_ejection_s=0.2, max_ejection_s=1.0)
    attachment = attach(DriftMonitor(sinks=[]), router, policy=policy, tick_interval_s=0.02, results_from_bus=False)
    ticker = attachment._thread
    assert ticker is not None and ticker.daemon and ticker.is_alive()
    for _ in range(5):
        attachment.on_result("fast", ok=False, status_code=500)
    deadline = time.monotonic() + 5
    while TargetState.PROBING not in router.states("fast") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert router.states("fast") == [TargetState.HEALTHY, TargetState.EJECTED, TargetState.PROBING]
    attachment.detach()
    assert not ticker.is_alive() and not attachment.attached
    attachment.detach()  # idempotent


def test_a_router_that_raises_never_breaks_the_monitor() -> None:
    class Broken(ToyRouter):
        def apply_health(self, name: str, health: TargetHealth) -> None:
            raise RuntimeError("router bug")

    rng = random.Random(5)
    monitor = DriftMonitor(CONFIG, sinks=[])
    attachment = attach(monitor, Broken(), tick_interval_s=None, results_from_bus=False)
    try:
        feed(monitor, ("openai", "gpt-4o-mini"), "latency", latencies(rng, 0.5, 600) + latencies(rng, 1.5, 300))
        assert monitor.callback_errors == 0 and attachment.errors >= 3
        assert attachment.health.state("fast") is TargetState.DEGRADED
    finally:
        attachment.detach()


def test_after_detach_alarms_move_nothing() -> None:
    rng = random.Random(5)
    monitor, router = DriftMonitor(CONFIG, sinks=[]), ToyRouter()
    attachment = attach(monitor, router, tick_interval_s=None, results_from_bus=False)
    attachment.detach()
    feed(monitor, ("openai", "gpt-4o-mini"), "latency", latencies(rng, 0.5, 600) + latencies(rng, 1.5, 300))
    assert attachment.health.state("fast") is TargetState.HEALTHY and len(router.seen) == 2


def test_a_router_with_its_own_health_book_is_driven_directly() -> None:
    class BookRouter:
        def __init__(self) -> None:
            self.health = HealthBook()
            self.health.add_target("fast", provider="openai", model="gpt-4o-mini", groups=("chat",))
            self.health.add_target("steady", provider="anthropic", model="claude-haiku", groups=("chat",))

    rng = random.Random(5)
    monitor, router = DriftMonitor(CONFIG, sinks=[]), BookRouter()
    with attach(monitor, router, tick_interval_s=None) as attachment:
        assert isinstance(attachment, Attachment) and attachment.health is router.health
        feed(monitor, ("openai", "gpt-4o-mini"), "latency", latencies(rng, 0.5, 600) + latencies(rng, 1.5, 300))
        assert router.health.state("fast") is TargetState.DEGRADED
    with pytest.raises(ValueError, match="own HealthBook"):
        attach(monitor, router, policy=HealthPolicy())


@pytest.mark.parametrize(
    ("monitor", "router", "message"),
    [(DriftMonitor(sinks=[]), object(), "neither a routewatch Router"), (object(), ToyRouter(), "DriftMonitor")],
)
def test_attach_refuses_what_it_cannot_drive(monitor: Any, router: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        attach(monitor, router)


def test_results_for_unknown_targets_are_ignored_quietly() -> None:
    with attach(DriftMonitor(sinks=[]), ToyRouter(), tick_interval_s=None, results_from_bus=False) as attachment:
        attachment.on_result("nobody", ok=False, status_code=503)
        assert attachment.errors == 0


def test_a_push_in_flight_when_detaching_lands_before_the_clean_up_never_after_it() -> None:
    """detach() restores the router's own settings (LiteLLM: its original weights); a push another thread
    was making at that moment must not overwrite them afterwards."""
    book = HealthBook()
    book.add_target("fast", provider="openai", model="gpt-4o-mini")
    order: list[str] = []
    entered, go = threading.Event(), threading.Event()

    def push(name: str, health: TargetHealth) -> None:
        if entered.is_set() or not armed:
            order.append("push")
            return
        entered.set()
        go.wait(5)
        order.append("push")

    armed = False
    attachment = Attachment(DriftMonitor(sinks=[]), book, push=push, results_from_bus=False, tick_interval_s=None,
                            on_detach=lambda: order.append("restore"))  # fmt: skip
    armed = True
    pusher = threading.Thread(target=attachment.sync, kwargs={"force": True})
    pusher.start()
    assert entered.wait(5)
    detacher = threading.Thread(target=attachment.detach)
    detacher.start()
    detacher.join(0.5)  # without the fix, the clean-up has run by now, before the push in flight lands
    go.set()
    pusher.join(5)
    detacher.join(5)
    assert order == ["push", "push", "restore"]
    attachment.sync(force=True)
    assert order[-1] == "restore"
