"""Synthetic probes: a router that never hands out probes still gets its ejected targets tested and restored,
off the request path, bounded, with a timeout, and without ever raising."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import routewatch
from factories import make_record
from routewatch.bus import bus
from routewatch.drift import DriftMonitor
from routewatch.router import TargetHealth, TargetState, attach
from routewatch.router.feedback import Attachment
from routewatch.router.health import HealthPolicy
from routewatch.router.probes import PROBE_TAG, SyntheticProber
from routewatch.tags import current_tags

TARGETS = [("a", "openai", "gpt-a", ("chat",)), ("b", "anthropic", "claude-b", ("chat",))]
POLICY = HealthPolicy(probe_interval_s=5, base_ejection_s=30, probe_timeout_s=120, max_ejected_fraction=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 5_000_000.0

    def __call__(self) -> float:
        return self.now


class QuietRouter:
    """A Demotable that takes weights and never hands out probes."""

    def __init__(self) -> None:
        self.weights: dict[str, float] = {}

    def routewatch_targets(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        return TARGETS

    def apply_health(self, name: str, health: TargetHealth) -> None:
        self.weights[name] = health.weight_factor


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wired(clock: Clock) -> Iterator[Callable[..., Attachment]]:
    made: list[Attachment] = []

    def make(probe: Any, **kw: Any) -> Attachment:
        attachment = attach(DriftMonitor(sinks=[]), QuietRouter(), policy=POLICY, clock=clock, tick_interval_s=None,
                            results_from_bus=False, probe=probe, **kw)  # fmt: skip
        made.append(attachment)
        return attachment

    yield make
    for attachment in made:
        attachment.detach()


def to_probing(attachment: Attachment, clock: Clock, name: str = "a") -> None:
    for _ in range(POLICY.consecutive_failures):
        attachment.on_result(name, ok=False, status_code=503)
    clock.now += POLICY.base_ejection_s
    assert attachment.health.state(name) is TargetState.PROBING


def answered(attachment: Attachment, name: str, before: str) -> Callable[[], bool]:
    return lambda: attachment.health.status()[name].reason != before


def probe_round(attachment: Attachment, clock: Clock, name: str = "a", rounds: int = 40) -> None:
    """Tick once per probe interval, waiting for each probe's answer, until the target leaves PROBING."""
    for _ in range(rounds):
        if attachment.health.state(name) is not TargetState.PROBING:
            return
        before = attachment.health.status()[name].reason
        clock.now += POLICY.probe_interval_s
        assert attachment.prober is not None
        if attachment.prober.tick(attachment.health, attachment.on_result):
            wait_for(answered(attachment, name, before))


def test_a_router_that_never_hands_out_probes_gets_its_target_probed_and_restored(clock: Clock, wired: Any) -> None:
    seen: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def probe(target: str) -> bool:
        seen.append((target, current_tags()))
        return True

    attachment = wired(SyntheticProber(probe, after_s=10))
    to_probing(attachment, clock)
    attachment.tick()
    assert seen == []  # due now, but a real request may still take it
    clock.now += 9
    attachment.tick()
    assert seen == []
    probe_round(attachment, clock)
    health = attachment.health.status()["a"]
    assert health.state is TargetState.RAMPING and health.reason.startswith("probes passed (5 of 5 probes succeeded)")
    assert [t for t, _ in seen] == ["a"] * 5 and attachment.prober is not None and attachment.prober.sent == 5
    assert all((PROBE_TAG, "synthetic") in tags for _, tags in seen)  # the calls say they are probes
    assert attachment.router.weights["a"] > 0


def test_a_probe_a_real_request_took_in_time_is_not_sent_again(clock: Clock, wired: Any) -> None:
    calls: list[str] = []
    attachment = wired(SyntheticProber(calls.append, after_s=10))
    to_probing(attachment, clock)
    for _ in range(3):
        assert attachment.health.take_probe("a")  # real traffic probes every 5 s
        attachment.on_result("a", ok=True, probe=True)
        clock.now += POLICY.probe_interval_s
        attachment.tick()
    assert calls == []


def test_an_async_probe_function_runs_on_its_own_loop(clock: Clock, wired: Any) -> None:
    async def probe(target: str) -> bool:
        await asyncio.sleep(0)
        return target == "a"

    attachment = wired(probe)  # a plain function: default schedule (after 10 s)
    to_probing(attachment, clock)
    clock.now += 10
    probe_round(attachment, clock)
    assert attachment.health.state("a") is TargetState.RAMPING


def test_a_hung_probe_times_out_as_a_failure_and_keeps_its_slot_until_it_returns(clock: Clock, wired: Any) -> None:
    release = threading.Event()
    calls: list[str] = []

    def probe(target: str) -> bool:
        calls.append(target)
        release.wait(30)
        return True

    prober = SyntheticProber(probe, after_s=0, timeout_s=0.2)
    attachment = wired(prober)
    to_probing(attachment, clock)
    attachment.tick()
    wait_for(lambda: calls == ["a"])
    wait_for(lambda: (attachment.tick(), prober.timed_out)[1] == 1)  # reported on the tick after the timeout
    health = attachment.health.status()["a"]
    assert health.state is TargetState.PROBING and health.reason == "probing: 0 of 1 probes succeeded so far"
    clock.now += POLICY.probe_interval_s
    attachment.tick()
    assert calls == ["a"] and prober.in_flight == 1  # no second thread while the first is stuck
    release.set()
    wait_for(lambda: prober.in_flight == 0)
    assert attachment.health.status()["a"].reason == "probing: 0 of 1 probes succeeded so far"  # late: dropped


def test_failures_count_but_the_probe_functions_own_bugs_do_not(clock: Clock, wired: Any) -> None:
    class Unavailable(Exception):
        status_code = 503

    def probe(target: str) -> bool:
        if target == "a":
            raise Unavailable("simulated")
        raise KeyError(target)  # the probe function's bug, not b's failure

    prober = SyntheticProber(probe, after_s=0, max_concurrent=2)
    attachment = wired(prober)
    to_probing(attachment, clock, "a")
    to_probing(attachment, clock, "b")
    started = prober.tick(attachment.health, attachment.on_result)
    assert sorted(started) == ["a", "b"]
    wait_for(lambda: prober.in_flight == 0)
    assert attachment.health.status()["a"].reason == "probing: 0 of 1 probes succeeded so far"
    assert attachment.health.status()["b"].reason.startswith("ejection over; probing")  # unanswered
    assert prober.errors == 1


def test_at_most_max_concurrent_probes_fly_at_once(clock: Clock, wired: Any) -> None:
    release = threading.Event()
    prober = SyntheticProber(lambda target: release.wait(30), after_s=0, max_concurrent=1)
    attachment = wired(prober)
    to_probing(attachment, clock, "a")
    to_probing(attachment, clock, "b")
    assert prober.tick(attachment.health, attachment.on_result) == ["a"]
    clock.now += POLICY.probe_interval_s
    assert prober.tick(attachment.health, attachment.on_result) == []  # b waits for a free slot
    release.set()
    wait_for(lambda: prober.in_flight == 0)


def test_detach_stops_synthetic_probes(clock: Clock, wired: Any) -> None:
    calls: list[str] = []
    attachment = wired(SyntheticProber(calls.append, after_s=0))
    to_probing(attachment, clock)
    attachment.detach()
    attachment.tick()
    assert calls == []


def test_the_bus_leaves_a_synthetic_probes_calls_to_the_prober(clock: Clock) -> None:
    attachment = attach(DriftMonitor(sinks=[]), QuietRouter(), policy=POLICY, clock=clock, tick_interval_s=None)
    try:
        to_probing(attachment, clock)
        bus.publish(make_record(request_model="gpt-a", tags=((PROBE_TAG, "synthetic"),)))
        routewatch.flush()
        assert attachment.health.status()["a"].reason.startswith("ejection over; probing")  # not counted twice
        bus.publish(make_record(request_model="gpt-a"))  # an ordinary call while probing is evidence
        routewatch.flush()
        assert attachment.health.status()["a"].reason == "probing: 1 of 1 probes succeeded so far"
    finally:
        attachment.detach()


@pytest.mark.parametrize("bad", [{"after_s": -1}, {"timeout_s": 0}, {"max_concurrent": 0}])
def test_bad_prober_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SyntheticProber(lambda target: True, **bad)
    with pytest.raises(TypeError):
        SyntheticProber("not callable")  # type: ignore[arg-type]
