"""RemoteHealth against a real collector: an app's router follows the collector's alarms over the
SSE health feed, catches up after its connection was cut (replay, or the snapshot alone), keeps the
verdict across a collector restart, reconnects on its own, and never raises into the app."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from outputs_support import (
    TOKEN,
    CuttableProxy,
    collector_config,
    genai_span_request,
    inject_regression,
    post_spans,
    recover,
)

from routewatch.collector import Collector
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


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector(collector_config()) as running:
        yield running


def test_a_collector_alarm_demotes_and_its_recovery_restores_a_demotable_router(collector: Collector) -> None:
    router = ToyRouter()
    with RemoteHealth(collector.http_url, router, token=TOKEN, policy=POLICY, results_from_bus=False) as remote:
        assert remote.wait_synced(5)
        inject_regression(collector)
        assert until(lambda: "gpt" in router.health_of and router.health_of["gpt"].state is TargetState.DEGRADED)
        assert "p95 latency of openai/gpt-4o-mini rose" in router.health_of["gpt"].reason
        assert router.health_of["claude"].state is TargetState.HEALTHY
        recover(collector)
        assert until(lambda: router.health_of["gpt"].state is TargetState.HEALTHY)
        assert remote.errors == 0 and remote.open_alarms() == []
        # the collector's own verdict (default policy: dwells before restoring) is there for display
        assert remote.fleet["openai/gpt-4o-mini"]["state"] in ("degraded", "ramping", "healthy")


def test_a_router_with_its_own_health_book_is_driven_directly(collector: Collector) -> None:
    router = BookRouter()
    with RemoteHealth(collector.http_url + "/api/health/stream", router, token=TOKEN) as remote:
        assert remote.wait_synced(5)
        inject_regression(collector)
        assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
        assert remote.health is router.health


def test_after_a_cut_connection_it_reconnects_and_catches_up(collector: Collector) -> None:
    proxy = CuttableProxy(collector.http_port or 0)
    router = BookRouter()
    remote = RemoteHealth(proxy.url, router, token=TOKEN, min_backoff_s=0.05, max_backoff_s=0.2)
    try:
        remote.start()
        assert remote.wait_synced(5)
        proxy.cut()  # the network between app and collector fails ...
        assert until(lambda: not remote.connected.is_set())
        inject_regression(collector)  # ... an alarm opens meanwhile ...
        time.sleep(0.3)
        assert router.health.state("gpt") is TargetState.HEALTHY  # (the app cannot know yet)
        proxy.resume()  # ... and the connection comes back
        assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
        # the missed alarm is replayed before the fresh snapshot, so the resync may land a moment later
        assert until(lambda: remote.resyncs >= 2) and remote.connects >= 2
        proxy.cut()  # cut again: this time the alarm closes while the app is away
        assert until(lambda: not remote.connected.is_set())
        recover(collector)
        proxy.resume()
        assert until(lambda: router.health.state("gpt") is TargetState.HEALTHY)
        assert remote.open_alarms() == []
    finally:
        remote.close()
        proxy.close()


def test_when_the_missed_events_are_gone_the_snapshot_alone_reconciles() -> None:
    with Collector(collector_config(outputs={"sse_replay": 1})) as collector:
        proxy = CuttableProxy(collector.http_port or 0)
        router = BookRouter()
        seen = []
        remote = RemoteHealth(proxy.url, router, token=TOKEN, min_backoff_s=0.05, max_backoff_s=0.2)
        remote.subscribe(seen.append)
        try:
            remote.start()
            assert remote.wait_synced(5)
            inject_regression(collector)
            assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
            proxy.cut()
            assert until(lambda: not remote.connected.is_set())
            recover(collector)
            post_spans(collector, genai_span_request(3, median_s=1.0, provider="x", model="y"))  # more events
            collector.outputs.hub.publish("state", {"target": "x"})  # the recoveries left the replay buffer
            proxy.resume()
            assert until(lambda: router.health.state("gpt") is TargetState.HEALTHY)
            made_up = [a for a in seen if a.detector == "routewatch.remote"]
            assert made_up and all(a.kind == "recovered" for a in made_up)
            assert "no longer in alarm at the collector" in made_up[0].explanation
        finally:
            remote.close()
            proxy.close()


def test_a_restarted_collector_keeps_its_open_alarms_so_routers_stay_demoted(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = collector_config(http_port=port, snapshot_path=tmp_path / "state.json")
    router = BookRouter()
    seen = []
    remote = RemoteHealth(f"http://127.0.0.1:{port}", router, token=TOKEN, min_backoff_s=0.05, max_backoff_s=0.2)
    remote.subscribe(seen.append)
    try:
        with Collector(config) as first:
            remote.start()
            assert remote.wait_synced(5)
            inject_regression(first)
            assert until(lambda: router.health.state("gpt") is TargetState.DEGRADED)
        assert until(lambda: not remote.connected.is_set())
        with Collector(config) as second:
            assert until(lambda: remote.synced.is_set())
            assert second.outputs.alarms.open(), "the open alarm came back from the snapshot"
            time.sleep(0.2)
            assert router.health.state("gpt") is TargetState.DEGRADED
            assert not [a for a in seen if a.detector == "routewatch.remote"]  # no made-up recovery
    finally:
        remote.close()


def test_an_unreachable_or_refusing_collector_never_raises_and_stop_is_prompt(collector: Collector, caplog) -> None:
    caplog.set_level("DEBUG", logger="routewatch")
    remote = RemoteHealth("http://127.0.0.1:9", ToyRouter(), min_backoff_s=0.05, max_backoff_s=0.1)
    started = time.perf_counter()
    remote.start()
    assert time.perf_counter() - started < 0.5
    assert until(lambda: remote.errors >= 3)
    remote.close()
    wrong = RemoteHealth(collector.http_url, ToyRouter(), token="wrong", min_backoff_s=0.05, max_backoff_s=0.1)
    with wrong:
        assert until(lambda: wrong.errors >= 2)
        assert not wrong.synced.is_set()
    assert "HTTP 401" in caplog.text and "Bearer" not in caplog.text and "wrong" not in caplog.text


def test_stop_interrupts_a_quiet_stream_at_once(collector: Collector) -> None:
    remote = RemoteHealth(collector.http_url, None, token=TOKEN, read_timeout_s=60).start()
    assert remote.wait_synced(5)
    started = time.perf_counter()
    remote.stop(timeout_s=5)
    assert time.perf_counter() - started < 2.0
    assert remote._thread is not None and not remote._thread.is_alive()


def test_bad_urls_are_refused_up_front() -> None:
    with pytest.raises(ValueError):
        RemoteHealth("collector:14318", None)


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    import random

    from routewatch.router.remote import backoff_delay

    rng = random.Random(7)
    for failures, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (100, 30.0)):
        delays = [backoff_delay(failures, 0.5, 30.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # spread out, not in lockstep


def test_sse_parsing_follows_the_event_stream_format() -> None:
    from routewatch.router.remote import parse_sse

    lines = [": comment", "retry: 1500", "", "id: 3", "event: alarm", "data: {\"a\":", "data: 1}", "",
             "data: no event name", "", "id: 4", "event: state", "", "event:snapshot", "data:{}", ""]  # fmt: skip
    events = [(e, d, i) for e, d, i, _ in parse_sse(lines) if e != "retry"]
    assert events == [("alarm", '{"a":\n1}', "3"), ("message", "no event name", "3"), ("snapshot", "{}", "4")]


def test_routewatch_router_follows_the_collector(collector: Collector) -> None:
    from routewatch import Router

    router = Router({
        "name": "checkout",
        "targets": [{"name": "primary", "provider": "openai", "model": "gpt-4o-mini"},
                    {"name": "backup", "provider": "anthropic", "model": "claude-x", "priority": 1}],
        "health": {"min_dwell_s": 0, "ramp_s": 0},
    }, listen=False)  # fmt: skip
    with RemoteHealth(collector.http_url, router, token=TOKEN) as remote:
        assert remote.wait_synced(5)
        inject_regression(collector)
        assert until(lambda: router.status()["primary"]["state"] == "degraded")
        row = router.status()["primary"]
        assert row["effective_weight"] < row["configured_weight"]
        assert "p95 latency of openai/gpt-4o-mini rose" in row["reason"]
        assert router.status()["backup"]["state"] == "healthy"
