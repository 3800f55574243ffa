"""What the Router decides and shows: every attempt's decision on the span, failover counts, scores on
probe and canary decisions, a canary's share scaled by health, the panic path, spare targets, and the
ledger's timing fields. Clients are stand-ins: these tests are about decisions, not SDK calls."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

from routewatch.drift.alarm import Alarm, SignalStats
from routewatch.router import Router, TargetState
from routewatch.router.decisions import ATTR


class Clock:
    def __init__(self) -> None:
        self.now = 7_000_000.0

    def __call__(self) -> float:
        return self.now


class Unavailable(Exception):
    status_code = 503


def router(task: dict[str, Any], *, names: str = "abc", clock: Clock | None = None, health: Any = None,
           tracer_provider: Any = None) -> Router:  # fmt: skip
    targets = [{"name": n, "provider": "openai", "model": f"model-{n}", "priority": i} for i, n in enumerate(names)]
    config: dict[str, Any] = {"targets": targets, "tasks": {"default": task}, "health": health or {}}
    return Router(config, clients={n: n for n in names}, rng=random.Random(4), listen=False,
                  clock=clock or Clock(), tracer_provider=tracer_provider)  # fmt: skip


def eject(r: Router, name: str) -> None:
    for _ in range(r.health.policy.consecutive_failures):
        r.health.on_result(name, ok=False, status_code=503)
    assert r.health.state(name) is TargetState.EJECTED


def latency_alarm(model: str, severity: str = "warning") -> Alarm:
    return Alarm(
        kind="alarm", stream_key={"provider": "openai", "model": model, "operation": "chat", "extra": {}},
        signal="latency", direction="up", detector="test", detected_at=datetime.now(timezone.utc),
        before=SignalStats(n=500, mean=1.0), after=SignalStats(n=200, mean=2.5), effect_size=1.0,
        severity=severity, explanation=f"p95 latency of openai/{model} rose from 1.00 s to 2.50 s",  # type: ignore[arg-type]
    )  # fmt: skip


def route_span(telemetry: Any) -> Any:
    return next(s for s in telemetry.spans() if s.name.startswith("routewatch.route "))


# --- the decision span -------------------------------------------------------------------------------
def test_every_attempts_decision_is_an_event_and_failovers_are_counted(telemetry: Any) -> None:
    r = router({"strategy": "priority"}, tracer_provider=telemetry.tracer_provider)

    def call(client: str, model: str) -> str:
        if client in ("a", "b"):
            raise Unavailable(f"{client} is down")
        return client

    assert r.run(call) == "c"
    span = route_span(telemetry)
    decisions = [e for e in span.events if e.name == "routewatch.decision"]
    attempts = [(e.attributes["routewatch.router.attempt"], e.attributes[ATTR.TARGET]) for e in decisions]
    assert attempts == [(1, "a"), (2, "b"), (3, "c")]
    first = json.loads(decisions[0].attributes["routewatch.router.candidates"])
    assert [c["target"] for c in first] == ["a", "b", "c"] and all("score" in c for c in first)
    second = json.loads(decisions[1].attributes["routewatch.router.skipped"])
    assert second == [{"target": "a", "reason": "already failed in this request"}]
    assert span.attributes["routewatch.router.failovers"] == 2
    assert span.attributes["routewatch.router.attempt"] == 3 and span.attributes["routewatch.router.target"] == "c"
    assert [e.attributes["routewatch.router.target"] for e in span.events if e.name == "routewatch.failover"] == [
        "a", "b"]  # fmt: skip


def test_a_request_without_failover_says_zero(telemetry: Any) -> None:
    r = router({"strategy": "priority"}, tracer_provider=telemetry.tracer_provider)
    r.run(lambda client, model: client)
    span = route_span(telemetry)
    assert span.attributes["routewatch.router.failovers"] == 0
    assert len([e for e in span.events if e.name == "routewatch.decision"]) == 1


def test_a_request_that_gives_up_counts_every_failover(telemetry: Any) -> None:
    r = router({"strategy": "priority", "max_attempts": 2}, tracer_provider=telemetry.tracer_provider)

    def down(client: str, model: str) -> str:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        r.run(down)
    span = route_span(telemetry)
    assert span.attributes["routewatch.router.failovers"] == 2
    assert span.attributes["routewatch.router.gave_up"] == "max_attempts 2 reached"


def test_a_probe_decision_carries_the_strategys_scores(telemetry: Any) -> None:
    clock = Clock()
    r = router({"strategy": "weighted"}, clock=clock, tracer_provider=telemetry.tracer_provider)
    eject(r, "a")
    clock.now += r.health.policy.base_ejection_s
    choice = r.choose()
    assert (choice.target, choice.probe, choice.decision.reason) == ("a", True, "probe")
    scored = {c.name: c for c in choice.decision.candidates}
    assert scored["b"].score == pytest.approx(0.5) and scored["c"].score == pytest.approx(0.5)
    assert scored["a"].note == "half-open probe (probing)"
    event = next(e for e in route_span(telemetry).events if e.name == "routewatch.decision")
    listed = {c["target"]: c for c in json.loads(event.attributes["routewatch.router.candidates"])}
    assert listed["b"]["score"] == 0.5 and event.attributes["routewatch.router.probe"] is True


def test_a_canary_decision_carries_its_share_and_the_strategys_scores() -> None:
    r = router({"strategy": "weighted", "targets": ["a", "b"], "canary": {"target": "c", "percent": 20}})
    choice = next(c for c in (r.choose() for _ in range(200)) if c.decision.reason == "canary")
    scored = {c.name: c for c in choice.decision.candidates}
    assert choice.target == "c" and scored["c"].score == pytest.approx(0.2)
    assert scored["c"].note == "canary: 20 % x health 1" and scored["a"].score == pytest.approx(0.5)


# --- canary, panic, spare targets ----------------------------------------------------------------------
def test_a_degraded_canarys_share_is_scaled_by_its_health_factor() -> None:
    r = router({"strategy": "weighted", "targets": ["a", "b"], "canary": {"target": "c", "percent": 20}})
    r.health.on_alarm(latency_alarm("model-c"))  # a warning with effect 1: factor 0.5
    assert r.health.state("c") is TargetState.DEGRADED and r.health.weight_factor("c") == pytest.approx(0.5)
    n = 4_000
    counts = Counter(r.choose().target for _ in range(n))
    assert counts["c"] / n == pytest.approx(0.20 * 0.5, abs=0.015)  # binomial sd at n=4000 is 0.005
    choice = next(c for c in (r.choose() for _ in range(500)) if c.target == "c")
    assert {c.name: c.score for c in choice.decision.candidates}["c"] == pytest.approx(0.1)


def test_with_every_candidate_out_the_router_tries_one_anyway() -> None:
    r = router({"strategy": "weighted"}, health={"max_ejected_fraction": 1.0})
    for name in "abc":
        eject(r, name)
    choice = r.choose()
    assert choice.decision.reason == "panic: every candidate is out; trying anyway"
    assert choice.target in {"a", "b", "c"} and choice.probe is False
    assert {t for t, why in choice.decision.skipped if why.startswith("ejected: 5 consecutive 503s")} == {"a", "b", "c"}
    served = r.run(lambda client, model: client)
    assert served in {"a", "b", "c"}  # the request is served rather than refused


def test_the_panic_path_never_repeats_a_target_that_failed_in_this_request() -> None:
    r = router({"strategy": "weighted"}, health={"max_ejected_fraction": 1.0})
    for name in "abc":
        eject(r, name)
    tried: list[str] = []

    def down(client: str, model: str) -> str:
        tried.append(client)
        raise Unavailable("still down")

    with pytest.raises(Unavailable):
        r.run(down)
    assert sorted(tried) == ["a", "b", "c"]


def test_a_canary_only_target_is_spare_outside_the_tasks_ejection_cap() -> None:
    r = router({"strategy": "weighted", "targets": ["a", "b"], "canary": {"target": "c", "percent": 5}})
    eject(r, "c")
    eject(r, "a")  # 1 of the task's 2 targets: room, whatever the canary does
    assert r.health.state("b") is TargetState.HEALTHY
    for _ in range(r.health.policy.consecutive_failures):
        r.health.on_result("b", ok=False, status_code=503)
    health = r.health.status()["b"]
    assert health.state is TargetState.DEGRADED and "group 'default'" in health.reason  # the cap counts a and b


# --- the ledger through Router.status ------------------------------------------------------------------
def test_status_reports_since_and_next_probe_at_through_ejection_and_probing() -> None:
    clock = Clock()
    r = router({"strategy": "weighted"}, clock=clock, health={"probe_interval_s": 5, "base_ejection_s": 30})
    started = clock.now
    assert (r.status()["a"]["since"], r.status()["a"]["next_probe_at"]) == (started, None)
    clock.now += 10
    eject(r, "a")
    line = r.status()["a"]
    assert (line["state"], line["since"], line["next_probe_at"]) == ("ejected", started + 10, started + 40)
    assert line["effective_weight"] == 0.0
    clock.now = started + 40
    line = r.status()["a"]
    assert (line["state"], line["since"], line["next_probe_at"]) == ("probing", started + 40, started + 40)
    assert r.choose().probe
    assert r.status()["a"]["next_probe_at"] == started + 45
    assert r.status()["b"]["since"] == started and r.status()["b"]["next_probe_at"] is None
