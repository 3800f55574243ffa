"""RemoteHealth: an app's router follows the collector's alarms over the SSE health feed, resyncs
from the snapshot after a disconnect, reconnects on its own, and never raises into the app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from outputs_support import OutputsServer, calls, fast_monitor, regression

from routewatch.collector.outputs import Outputs, OutputsConfig
from routewatch.router.health import HealthBook, HealthPolicy, TargetHealth, TargetState
from routewatch.router.remote import RemoteHealth

POLICY = HealthPolicy(min_dwell_s=0, ramp_s=0, rearm_s=0)


class ToyRouter:
    """A Demotable router: two deployments, weights scaled by the health routewatch pushes."""

    def __init__(self) -> None:
        self.health_of: dict[str, TargetHealth] = {}

    def routewatch_targets(self):
        return [("gpt", "openai", "gpt-4o-mini", ("chat",)), ("claude", "anthropic", "claude-x", ("chat",))]

    def apply_health(self, name: str, health: TargetHealth) -> None:
        self.health_of[name] = health


class BookRouter:
    """A router that owns its HealthBook (like routewatch.Router)."""

    def __init__(self) -> None:
        self.health = HealthBook(POLICY)
        self.health.add_target("gpt", provider="openai", model="gpt-4o-mini")


def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def feed(outputs: Outputs, records) -> None:
    for record in records:
        outputs.monitor.record(record)
        outputs.observe(record)


@pytest.fixture
def served() -> Iterator[OutputsServer]:
    server = OutputsServer(Outputs(fast_monitor()), token="s3cret")
    yield server
    server.stop()


def test_a_collector_alarm_demotes_and_its_recovery_restores_a_demotable_router(served: OutputsServer) -> None:
    router = ToyRouter()
    with RemoteHealth(served.url, router, token="s3cret", policy=POLICY, results_from_bus=False) as remote:
        assert remote.wait_synced(5)
        feed(served.outputs, regression())
        assert until(lambda: router.health_of.get("gpt") is not None
                     and router.health_of["gpt"].state is TargetState.DEGRADED)  # fmt: skip
        assert "p95 latency of openai/gpt-4o-mini rose" in router.health_of["gpt"].reason
        assert router.health_of["claude"].state is TargetState.HEALTHY
        feed(served.outputs, calls(2500, median_s=0.5, start=900, seed=3))
        assert until(lambda: router.health_of["gpt"].state is TargetState.HEALTHY)
        assert remote.errors == 0 and remote.open_alarms() == []


def test_a_router_with_its_own_health_book_is_driven_directly(served: OutputsServer) -> None:
    router = BookRouter()
    with RemoteHealth(served.url + "/api/health/stream", router, token="s3cret") as remote:
        assert remote.wait_synced(5)
        feed(served.outputs, regression())
        assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
        assert remote.health is router.health


def test_after_a_disconnect_it_reconnects_and_resyncs_from_the_snapshot(served: OutputsServer) -> None:
    router = BookRouter()
    remote = RemoteHealth(served.url, router, token="s3cret", min_backoff_s=0.05, max_backoff_s=0.2)
    try:
        remote.start()
        assert remote.wait_synced(5)
        served.stop()  # the collector goes away ...
        assert until(lambda: not remote.connected.is_set())
        feed(served.outputs, regression())  # ... an alarm opens meanwhile ...
        served.restart()  # ... and it comes back on the same port
        assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
        assert remote.connects >= 2 and remote.resyncs >= 2
        # the alarm closes while the app is cut off again: the snapshot carries no open alarm, so the
        # router gets a recovery for it
        served.stop()
        assert until(lambda: not remote.connected.is_set())
        feed(served.outputs, calls(2500, median_s=0.5, start=900, seed=3))
        assert served.outputs.alarms.open() == {}
        served.restart()
        assert until(lambda: router.health.state("gpt") is TargetState.HEALTHY)
        assert remote.open_alarms() == []
    finally:
        remote.close()


def test_without_the_missed_events_the_snapshot_alone_reconciles() -> None:
    served = OutputsServer(Outputs(fast_monitor(), OutputsConfig(sse_replay=1)))
    router = BookRouter()
    seen = []
    remote = RemoteHealth(served.url, router, min_backoff_s=0.05, max_backoff_s=0.2)
    remote.subscribe(seen.append)
    try:
        remote.start()
        assert remote.wait_synced(5)
        feed(served.outputs, regression())
        assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
        served.stop()
        assert until(lambda: not remote.connected.is_set())
        feed(served.outputs, calls(2500, median_s=0.5, start=900, seed=3))  # recoveries, then more events
        served.outputs.hub.publish("state", {"target": "x"})  # pushes the recoveries out of the replay buffer
        served.restart()
        assert until(lambda: router.health.state("gpt") is TargetState.HEALTHY)
        made_up = [a for a in seen if a.detector == "routewatch.remote"]
        assert made_up and all(a.kind == "recovered" for a in made_up)
        assert "no longer in alarm at the collector" in made_up[0].explanation
    finally:
        remote.close()
        served.stop()


def test_an_unreachable_or_refusing_collector_never_raises_and_stop_is_prompt(served: OutputsServer) -> None:
    remote = RemoteHealth("http://127.0.0.1:9", ToyRouter(), min_backoff_s=0.05, max_backoff_s=0.1)
    started = time.perf_counter()
    remote.start()
    assert time.perf_counter() - started < 0.5
    assert until(lambda: remote.errors >= 3)
    remote.close()
    wrong = RemoteHealth(served.url, ToyRouter(), token="wrong", min_backoff_s=0.05, max_backoff_s=0.1)
    with wrong:
        assert until(lambda: wrong.errors >= 2)
        assert not wrong.synced.is_set()


def test_stop_interrupts_a_quiet_stream_at_once(served: OutputsServer) -> None:
    remote = RemoteHealth(served.url, None, token="s3cret", read_timeout_s=60).start()
    assert remote.wait_synced(5)
    started = time.perf_counter()
    remote.stop(timeout_s=5)
    assert time.perf_counter() - started < 2.0
    assert remote._thread is not None and not remote._thread.is_alive()


def test_bad_urls_are_refused_up_front() -> None:
    with pytest.raises(ValueError):
        RemoteHealth("collector:14318", None)
