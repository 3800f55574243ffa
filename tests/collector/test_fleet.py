"""The collector's own verdict per provider/model: a HealthBook over the streams it sees, moved by
the monitor's alarms and by the calls it observes; recent figures per stream, bounded."""

from __future__ import annotations

from outputs_support import calls, fast_monitor, regression

from routewatch.collector.fleet import Fleet, closes_alarm
from routewatch.drift import StreamKey
from routewatch.router.health import HealthPolicy, TargetState


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def wire(fleet: Fleet):
    monitor = fast_monitor()
    monitor.subscribe(fleet.on_alarm)

    def feed(records) -> list:
        alarms = []
        for record in records:
            alarms += monitor.record(record)
            fleet.observe(record, monitor.key_for(record))
        return alarms

    return monitor, feed


def test_every_provider_model_seen_gets_a_healthy_verdict_and_recent_figures() -> None:
    fleet = Fleet()
    _, feed = wire(fleet)
    feed(calls(50, median_s=0.5))
    feed(calls(20, median_s=2.0, provider="anthropic", model="claude-x"))
    status = fleet.status()
    assert set(status) == {"openai/gpt-4o-mini", "anthropic/claude-x"}
    assert all(h.state is TargetState.HEALTHY for h in status.values())
    recent = fleet.recent(StreamKey("anthropic", "claude-x"))
    assert recent["latency"].n == 20 and 1.0 < recent["latency"].p50 < 4.0
    assert recent["error"].mean == 0.0
    assert fleet.counts()[StreamKey("openai", "gpt-4o-mini")] == (50, 0)


def test_a_latency_regression_degrades_and_its_recovery_restores() -> None:
    clock = Clock()
    fleet = Fleet(policy=HealthPolicy(min_dwell_s=0, ramp_s=0, rearm_s=0), clock=clock)
    moves = []
    fleet.subscribe(moves.append)
    _, feed = wire(fleet)
    alarms = feed(regression())
    assert any(a.kind == "alarm" for a in alarms)
    assert fleet.status()["openai/gpt-4o-mini"].state is TargetState.DEGRADED
    assert "p95 latency of openai/gpt-4o-mini rose" in fleet.status()["openai/gpt-4o-mini"].reason
    later = feed(calls(1000, median_s=0.5, start=900, seed=3))
    assert any(closes_alarm(a) for a in later)
    clock.t += 1
    assert fleet.status()["openai/gpt-4o-mini"].state is TargetState.HEALTHY
    assert [m.new for m in moves][:1] == [TargetState.DEGRADED]


def test_hard_failures_the_collector_sees_eject() -> None:
    fleet = Fleet(policy=HealthPolicy(consecutive_failures=3, max_ejected_fraction=1.0))
    _, feed = wire(fleet)
    feed(calls(3, median_s=0.5, error_every=1))
    assert fleet.status()["openai/gpt-4o-mini"].state is TargetState.EJECTED


def test_observed_calls_stand_in_for_probes_after_an_ejection() -> None:
    clock = Clock()
    policy = HealthPolicy(consecutive_failures=3, max_ejected_fraction=1.0, base_ejection_s=10, probe_interval_s=0,
                          ramp_s=0)  # fmt: skip
    fleet = Fleet(policy=policy, clock=clock)
    _, feed = wire(fleet)
    feed(calls(3, median_s=0.5, error_every=1))
    clock.t += 11
    assert fleet.status()["openai/gpt-4o-mini"].state is TargetState.PROBING
    feed(calls(6, median_s=0.5, start=10))
    assert fleet.status()["openai/gpt-4o-mini"].state in (TargetState.RAMPING, TargetState.HEALTHY)


def test_streams_and_targets_are_bounded() -> None:
    fleet = Fleet(max_streams=5, window=10)
    _, feed = wire(fleet)
    for i in range(12):
        feed(calls(15, median_s=0.5, model=f"m{i}", seed=i))
    assert len(fleet.counts()) == 5 and len(fleet.status()) == 5
    assert fleet.evicted_streams == 7
    assert {k.model for k in fleet.streams()} == {f"m{i}" for i in range(7, 12)}
    assert fleet.recent(StreamKey("openai", "m11"))["latency"].n == 10  # the window, not all 15
