"""HealthBook as a specification: every state, every way in and out, and the ledger that explains it."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from pydantic import ValidationError

from routewatch.drift.alarm import Alarm, SignalStats, StreamKey
from routewatch.router.health import HealthBook, HealthPolicy, TargetState, Transition

HEALTHY, DEGRADED, EJECTED, PROBING, RAMPING = (
    TargetState.HEALTHY, TargetState.DEGRADED, TargetState.EJECTED, TargetState.PROBING, TargetState.RAMPING,
)  # fmt: skip

MODELS = {"a": ("openai", "gpt-a"), "b": ("anthropic", "claude-b"), "c": ("gemini", "gemini-c"), "d": ("x", "d")}


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def alarm(
    target: str = "a", signal: str = "latency", *, kind: str = "alarm", severity: str = "warning",
    effect: float | None = 1.0, shift: bool = False, explanation: str | None = None, operation: str = "chat",
) -> Alarm:  # fmt: skip
    provider, model = MODELS[target]
    text = explanation or f"p95 {signal} of {provider}/{model} rose from 1.00 s to 2.50 s over the last 200 calls"
    return Alarm(
        kind=kind,  # type: ignore[arg-type]
        stream_key={"provider": provider, "model": model, "operation": operation, "extra": {}},
        signal=signal, direction="up", detector="test", detected_at=datetime.now(timezone.utc),
        before=SignalStats(n=500, mean=1.0), after=SignalStats(n=200, mean=2.5), effect_size=effect,
        severity=severity,  # type: ignore[arg-type]
        traffic_shift=shift, explanation=text,
    )  # fmt: skip


def recovered(target: str = "a", signal: str = "latency", operation: str = "chat") -> Alarm:
    provider, model = MODELS[target]
    text = f"p95 {signal} of {provider}/{model} is back at its baseline (1.00 s, baseline 1.00 s)"
    return alarm(target, signal, kind="recovered", severity="info", explanation=text, operation=operation)


def improved(target: str = "a", signal: str = "latency") -> Alarm:
    provider, model = MODELS[target]
    return alarm(target, signal, kind="recovered", severity="info",
                 explanation=f"improvement: p95 {signal} of {provider}/{model} fell from 2.50 s to 1.60 s")  # fmt: skip


def make_book(
    *names: str, groups: tuple[str, ...] = ("chat",), meter_provider: Any = None, **policy: Any
) -> tuple[HealthBook, Clock, list[Transition]]:
    clock = Clock()
    book = HealthBook(HealthPolicy(**policy), clock=clock, meter_provider=meter_provider)
    for name in names or ("a", "b"):
        provider, model = MODELS[name]
        book.add_target(name, provider=provider, model=model, groups=groups)
    moves: list[Transition] = []
    book.subscribe(moves.append)
    return book, clock, moves


def fail(book: HealthBook, name: str, n: int, status: int | None = 503, **kw: Any) -> None:
    for _ in range(n):
        book.on_result(name, ok=False, status_code=status, **kw)


def eject(book: HealthBook, name: str = "a") -> None:
    fail(book, name, book.policy.consecutive_failures)
    assert book.state(name) is EJECTED


def to_probing(book: HealthBook, clock: Clock, name: str = "a") -> None:
    eject(book, name)
    clock.advance(book.policy.base_ejection_s)
    assert book.state(name) is PROBING


def pass_probes(book: HealthBook, clock: Clock, name: str = "a", n: int = 5) -> None:
    for _ in range(n):
        assert book.take_probe(name)
        book.on_result(name, ok=True, probe=True)
        clock.advance(book.policy.probe_interval_s)


# --- healthy and degraded ------------------------------------------------------------------------------
def test_a_new_target_is_healthy_at_full_weight() -> None:
    book, _, moves = make_book()
    health = book.status()["a"]
    assert (health.state, health.weight_factor, health.open_alarms, health.next_probe_at) == (HEALTHY, 1.0, (), None)
    assert book.admits("a") and moves == []


def test_a_warning_alarm_degrades_with_its_explanation_as_the_reason() -> None:
    book, clock, moves = make_book()
    book.on_alarm(alarm("a", severity="warning", effect=1.0))
    health = book.status()["a"]
    assert health.state is DEGRADED and health.weight_factor == pytest.approx(0.5)
    assert health.reason.startswith("p95 latency of openai/gpt-a rose") and health.open_alarms == ("latency",)
    assert health.since == clock.now and book.admits("a")
    assert moves == [Transition("a", HEALTHY, DEGRADED, health.reason, clock.now)]
    assert book.state("b") is HEALTHY


@pytest.mark.parametrize(
    ("severity", "effect", "weight"),
    [("warning", 1.0, 0.5), ("critical", 1.0, 0.2), ("warning", 0.2, 0.75), ("warning", None, 0.5),
     ("critical", 1.2, 0.04 + 0.01), ("warning", 3.0, 0.25)],
)  # fmt: skip
def test_the_weight_cut_follows_severity_and_effect_size(severity: str, effect: float | None, weight: float) -> None:
    book, _, _ = make_book()
    book.on_alarm(alarm("a", "ttft", severity=severity, effect=effect))
    assert book.weight_factor("a") == pytest.approx(weight)


def test_alarms_on_several_signals_multiply_and_never_go_below_the_minimum_weight() -> None:
    book, _, _ = make_book()
    book.on_alarm(alarm("a", "latency"))
    book.on_alarm(alarm("a", "ttft"))
    assert book.weight_factor("a") == pytest.approx(0.25)
    assert "latency" in book.status()["a"].reason and "ttft" in book.status()["a"].reason
    book.on_alarm(alarm("a", "tpot", severity="critical", effect=1.5))
    assert book.weight_factor("a") == pytest.approx(book.policy.min_weight)
    assert book.admits("a")


@pytest.mark.parametrize(
    ("made", "why"),
    [
        (lambda: alarm("a", "model_mismatch", kind="change", severity="info", explanation="answered with model x"),
         None),
        (lambda: alarm("a", "latency", severity="info"), "severity info"),
        (lambda: alarm("a", "cost", severity="critical"), "workload or price"),
        (lambda: alarm("a", "output_tokens"), "workload or price"),
        (lambda: alarm("a", "latency", severity="critical", shift=True), "traffic shift"),
    ],
)  # fmt: skip
def test_changes_info_alarms_workload_signals_and_traffic_shifts_demote_nobody(made: Any, why: str | None) -> None:
    book, _, moves = make_book()
    book.on_alarm(made())
    health = book.status()["a"]
    assert (health.state, health.weight_factor, moves) == (HEALTHY, 1.0, [])
    if why is not None:
        assert why in health.reason  # the ledger says why the open alarm was not acted on
        assert health.open_alarms != ()


def test_a_group_alarming_together_is_a_traffic_shift_and_nobody_is_demoted() -> None:
    book, clock, moves = make_book("a", "b", "c", "d")
    book.on_alarm(alarm("a", "latency"))
    clock.advance(10)
    book.on_alarm(alarm("b", "latency"))  # 2 of 4: could be two bad providers, or the start of a shift
    health = book.status()["a"]
    assert (health.state, health.weight_factor, health.open_alarms) == (HEALTHY, 1.0, ("latency",))
    assert "latency alarm not acted on: confirming: acts 30 s after it opened" in health.reason
    clock.advance(10)
    book.on_alarm(alarm("c", "latency"))  # 3 of 4 >= 0.6: the workload moved, not the providers
    clock.advance(book.policy.rearm_s)
    for name in "abc":
        health = book.status()[name]
        assert health.state is HEALTHY and health.weight_factor == 1.0, name
        assert "traffic shift: 3 of 4 targets moved together; no demotion (latency up in group 'chat'" in health.reason
    assert moves == []  # nobody's weight dropped, not even for a moment
    book.on_alarm(alarm("d", "error", severity="critical"))  # a hard failure is judged on its own, at once
    assert book.state("d") is EJECTED


def test_a_lone_drift_regression_is_demoted_once_the_confirmation_window_ends() -> None:
    book, clock, moves = make_book("a", "b", "c", shift_confirm_s=30)
    book.on_alarm(alarm("a", "latency", severity="critical"))
    opened = clock.now
    clock.advance(29)
    book.tick()
    assert (book.state("a"), book.weight_factor("a")) == (HEALTHY, 1.0)
    clock.advance(1)
    book.tick()
    health = book.status()["a"]
    assert (health.state, health.weight_factor) == (DEGRADED, pytest.approx(0.2))
    assert health.reason.startswith("p95 latency of openai/gpt-a rose")
    assert [(m.target, m.new, m.at - opened) for m in moves] == [("a", DEGRADED, 30)]


def test_a_further_alarm_on_a_signal_already_demoting_keeps_the_demotion() -> None:
    """The monitor alarms again on a signal still in alarm (it got worse): that is no new regression to
    confirm against peers, and waiting would leave the target with nothing demoting it, so its slow
    start would begin at full weight while the signal is worse than ever."""
    book, clock, moves = make_book("a", "b", "c", shift_confirm_s=30, min_dwell_s=30)
    book.on_alarm(alarm("a", "latency"))
    clock.advance(30)
    book.tick()
    assert (book.state("a"), book.weight_factor("a")) == (DEGRADED, pytest.approx(0.5))
    clock.advance(60)
    book.on_alarm(alarm("a", "latency", severity="critical"))
    health = book.status()["a"]
    assert (health.state, health.weight_factor) == (DEGRADED, pytest.approx(0.2))
    clock.advance(30)
    book.tick()
    assert (book.state("a"), book.weight_factor("a")) == (DEGRADED, pytest.approx(0.2))
    assert [m.new for m in moves] == [DEGRADED]


def test_two_of_four_alarming_are_demoted_and_released_when_a_third_peer_makes_it_a_shift() -> None:
    book, clock, moves = make_book("a", "b", "c", "d")
    book.on_alarm(alarm("a", "latency"))
    book.on_alarm(alarm("b", "latency"))
    clock.advance(book.policy.shift_confirm_s)
    assert book.state("a") is DEGRADED and book.state("b") is DEGRADED
    clock.advance(100)
    book.on_alarm(alarm("c", "latency"))  # a slow-moving shift: the peer window is longer than the confirmation
    assert [book.state(n) for n in "abc"] == [HEALTHY, HEALTHY, HEALTHY]
    assert [m.new for m in moves if m.target == "a"] == [DEGRADED, HEALTHY]


@pytest.mark.parametrize(
    ("policy", "names", "why"),
    [({"shift_confirm_s": 0}, "abc", "confirmation off"), ({}, "ab", "a group too small for the peer check")],
)
def test_drift_alarms_demote_at_once_when_no_confirmation_applies(policy: dict[str, Any], names: str, why: str) -> None:
    book, _, _ = make_book(*names, **policy)
    book.on_alarm(alarm("a", "latency"))
    assert book.state("a") is DEGRADED, why


def test_a_traffic_shift_alarm_releases_the_demotion_its_first_peer_caused() -> None:
    # The monitor marks only the later alarms of a shift: the first provider demoted before anyone knew.
    book, clock, moves = make_book("a", "b", "c", "d")
    book.on_alarm(alarm("a", "latency"))
    clock.advance(book.policy.shift_confirm_s)
    assert book.state("a") is DEGRADED
    clock.advance(60)
    book.on_alarm(alarm("b", "latency", shift=True))  # 2 of 4 by the book's count, but the monitor saw a shift
    health = book.status()["a"]
    assert (health.state, health.weight_factor) == (HEALTHY, 1.0)
    assert "traffic shift: 2 of 4 targets moved together; no demotion (latency up in group 'chat'" in health.reason
    assert health.open_alarms == ("latency",)  # still open in the ledger, just not acted on
    assert [m.new for m in moves] == [DEGRADED, HEALTHY] and book.state("b") is HEALTHY
    clock.advance(book.policy.rearm_s + 1)
    book.tick()
    assert book.state("a") is HEALTHY  # the released alarm never demotes again while it stays open


def test_all_slowing_together_demotes_nobody_at_any_moment() -> None:
    book, clock, moves = make_book("a", "b", "c")
    seen: list[float] = []
    book.on_alarm(alarm("a", "latency", severity="critical"))  # the first to alarm, before anyone knows
    for name in "bc":
        clock.advance(20)
        seen += [book.weight_factor(n) for n in "abc"]
        book.on_alarm(alarm(name, "latency", shift=True))
    clock.advance(book.policy.eject_after_degraded_s or 0)
    seen += [book.weight_factor(n) for n in "abc"]
    assert set(seen) == {1.0} and moves == []
    assert "traffic shift" in book.status()["a"].reason


def test_a_shift_releases_only_demotions_of_its_signal_and_direction() -> None:
    book, clock, _ = make_book("a", "b", "c", "d")
    book.on_alarm(alarm("a", "latency"))
    book.on_alarm(alarm("c", "ttft"))
    book.on_alarm(alarm("d", "latency").model_copy(update={"direction": "down"}))
    book.on_alarm(alarm("b", "latency", shift=True))
    clock.advance(book.policy.shift_confirm_s)
    assert book.state("a") is HEALTHY
    assert book.state("c") is DEGRADED and book.state("d") is DEGRADED


def test_a_demotion_undone_by_a_shift_during_the_slow_start_resumes_the_ramp() -> None:
    book, clock, _ = make_book("a", "b", "c", "d", ramp_s=100, ramp_floor=0.1)
    to_probing(book, clock)
    pass_probes(book, clock)
    book.on_alarm(alarm("a", "latency", severity="critical"))  # critical acts even inside the re-arm window
    clock.advance(book.policy.shift_confirm_s)
    assert book.state("a") is DEGRADED
    book.on_alarm(alarm("b", "latency", shift=True))
    health = book.status()["a"]
    assert health.state is RAMPING and health.reason.startswith("slow start resumed, demotion undone: traffic shift")
    clock.advance(100)
    assert book.state("a") is HEALTHY and book.weight_factor("a") == 1.0


def test_a_held_warning_in_a_shift_does_not_demote_when_the_rearm_window_ends() -> None:
    book, clock, _ = make_book("a", "b", "c", "d", rearm_s=300, ramp_s=10)
    to_probing(book, clock)
    pass_probes(book, clock)
    book.on_alarm(alarm("a", "latency"))  # held: just recovered
    book.on_alarm(alarm("b", "latency", shift=True))
    clock.advance(400)
    book.tick()
    assert book.state("a") is HEALTHY


def test_the_peer_check_needs_enough_targets_in_the_group() -> None:
    book, _, _ = make_book("a", "b")
    book.on_alarm(alarm("a"))
    book.on_alarm(alarm("b"))
    assert book.state("a") is DEGRADED and book.state("b") is DEGRADED


def test_degraded_returns_through_a_ramp_only_after_every_alarm_closed_and_the_dwell_time() -> None:
    book, clock, moves = make_book(min_dwell_s=30, ramp_s=60)
    book.on_alarm(alarm("a", "latency"))
    book.on_alarm(alarm("a", "ttft"))
    book.on_alarm(recovered("a", "latency"))
    assert book.state("a") is DEGRADED and book.weight_factor("a") == pytest.approx(0.5)  # ttft still open
    book.on_alarm(recovered("a", "ttft"))
    assert book.state("a") is DEGRADED  # closed, but only just demoted: dwell first
    assert "dwell" in book.status()["a"].reason and book.weight_factor("a") == pytest.approx(0.5)
    clock.advance(30)
    book.tick()
    assert book.state("a") is RAMPING
    assert book.weight_factor("a") == pytest.approx(0.5)  # the ramp starts at the weight it had
    clock.advance(30)
    assert book.weight_factor("a") == pytest.approx(0.75)
    clock.advance(30)
    assert book.state("a") is HEALTHY and book.weight_factor("a") == 1.0
    assert [m.new for m in moves] == [DEGRADED, RAMPING, HEALTHY]


def test_an_improvement_is_evidence_that_eases_the_demotion_but_does_not_close_the_alarm() -> None:
    book, clock, _ = make_book()
    book.on_alarm(alarm("a", "latency", effect=1.0))
    book.on_alarm(improved("a", "latency"))
    health = book.status()["a"]
    assert health.state is DEGRADED and health.open_alarms == ("latency",)
    assert health.weight_factor == pytest.approx(0.75) and "improving: improvement:" in health.reason
    clock.advance(600)
    assert book.state("a") is DEGRADED


def test_a_recovery_for_a_signal_that_never_alarmed_changes_nothing() -> None:
    book, _, moves = make_book()
    book.on_alarm(recovered("a", "latency"))
    assert book.state("a") is HEALTHY and moves == []


def test_alarms_match_targets_by_provider_and_model_whatever_the_operation() -> None:
    book, _, _ = make_book()
    book.add_target("a2", provider="openai", model="gpt-a", groups=("chat",))
    assert book.targets_for_key(StreamKey("openai", "gpt-a", "embeddings")) == ["a", "a2"]
    assert book.targets_for_key(StreamKey("openai", "other")) == []
    book.on_alarm(alarm("a", operation="responses"))
    assert book.state("a") is DEGRADED and book.state("a2") is DEGRADED


# --- ejection ------------------------------------------------------------------------------------------
def test_consecutive_hard_failures_eject_like_envoy_consecutive_5xx() -> None:
    book, clock, moves = make_book()
    fail(book, "a", 4)
    book.on_result("a", ok=True)  # a success breaks the streak
    fail(book, "a", 4)
    assert book.state("a") is HEALTHY
    book.on_result("a", ok=False, status_code=400)  # the request's fault: neither breaks nor extends it
    assert book.state("a") is HEALTHY
    fail(book, "a", 1)
    health = book.status()["a"]
    assert health.state is EJECTED and health.weight_factor == 0.0 and not book.admits("a")
    assert health.reason == "5 consecutive 503s; ejected for 30 s (ejection #1)"
    assert health.next_probe_at == clock.now + 30
    assert moves[-1].old is HEALTHY and moves[-1].new is EJECTED


def test_a_mixed_failure_streak_is_named_in_the_reason() -> None:
    book, _, _ = make_book(consecutive_failures=3)
    book.on_result("a", ok=False, status_code=429)
    book.on_result("a", ok=False, error_type="timeout")
    book.on_result("a", ok=False, status_code=502)
    assert book.status()["a"].reason.startswith("3 consecutive failures (429, timeout, 502)")


def test_a_critical_error_or_quality_alarm_ejects_and_a_warning_one_degrades() -> None:
    book, clock, _ = make_book("a", "b", "c", "d", max_ejected_fraction=1.0, shift_confirm_s=10)
    book.on_alarm(alarm("a", "error", severity="critical", explanation="error rate of openai/gpt-a rose to 40 %"))
    book.on_alarm(alarm("b", "empty", severity="critical"))
    book.on_alarm(alarm("c", "error", severity="warning"))
    book.on_alarm(alarm("d", "latency", severity="critical"))
    assert [book.state(n) for n in "abcd"] == [EJECTED, HEALTHY, DEGRADED, HEALTHY]  # drift waits for its peers
    clock.advance(book.policy.shift_confirm_s)
    assert [book.state(n) for n in "abcd"] == [EJECTED, EJECTED, DEGRADED, DEGRADED]
    assert book.status()["a"].reason.startswith("error rate of openai/gpt-a rose to 40 %; ejected for 30 s")


def test_persistent_critical_degradation_ejects() -> None:
    book, clock, _ = make_book(eject_after_degraded_s=600)
    book.on_alarm(alarm("a", "ttft", severity="warning"))
    clock.advance(500)
    book.on_alarm(alarm("a", "latency", severity="critical"))  # counted from when the critical alarm opened
    clock.advance(599)
    book.tick()
    assert book.state("a") is DEGRADED
    clock.advance(1)
    book.tick()
    health = book.status()["a"]
    assert health.state is EJECTED and health.reason.startswith("still critical after 600 s degraded: p95 latency")


def test_ejection_time_grows_with_each_ejection_up_to_the_cap_and_resets_after_lasting_health() -> None:
    book, clock, _ = make_book(base_ejection_s=30, max_ejection_s=100, ramp_s=0, rearm_s=0)
    durations = []
    for _ in range(4):
        eject(book)
        durations.append(book.status()["a"].next_probe_at - clock.now)  # type: ignore[operator]
        clock.advance(durations[-1])
        pass_probes(book, clock)
        assert book.state("a") is HEALTHY
    assert durations == [30, 60, 90, 100]
    clock.advance(100)
    book.tick()
    eject(book)
    assert book.status()["a"].next_probe_at == clock.now + 30


def test_never_more_than_max_ejected_fraction_of_a_group_is_out_the_rest_fails_open() -> None:
    book, clock, _ = make_book(max_ejected_fraction=0.5, ramp_s=60)
    eject(book, "a")
    fail(book, "b", 5)
    health = book.status()["b"]
    assert health.state is DEGRADED and health.weight_factor == book.policy.min_weight and book.admits("b")
    assert "fail open" in health.reason and "1 of 2 targets in group 'chat' already out" in health.reason
    assert "ejection cause: 5 consecutive 503s" in health.reason
    clock.advance(30)
    pass_probes(book, clock, "a")  # a is back in rotation: the group has room for b now
    assert book.state("a") is RAMPING
    assert book.state("b") is EJECTED
    assert book.status()["b"].reason.startswith("5 consecutive 503s; ejected for 30 s")


def test_a_fail_open_ejection_lapses_when_its_cause_is_gone() -> None:
    book, _, _ = make_book(max_ejected_fraction=0.5, min_dwell_s=0)
    eject(book, "a")
    fail(book, "b", 5)
    assert book.state("b") is DEGRADED
    book.on_result("b", ok=True)
    assert book.state("b") is RAMPING  # streak broken: nothing else holds it down
    book.on_alarm(alarm("b", "error", severity="critical"))
    assert book.state("b") is DEGRADED and "fail open" in book.status()["b"].reason
    book.on_alarm(recovered("b", "error"))
    assert book.state("b") is RAMPING


def test_a_lone_target_is_never_ejected() -> None:
    book, _, _ = make_book("a", groups=())
    fail(book, "a", 20)
    assert book.state("a") is DEGRADED and book.admits("a")
    assert "0 of 1 targets in group '(ungrouped)' already out" in book.status()["a"].reason


def test_ungrouped_targets_do_not_share_a_group_with_a_task_named_default() -> None:
    book, _, _ = make_book("a", "b", groups=("default",))
    book.add_target("c", provider="gemini", model="gemini-c")  # no group
    fail(book, "c", 5)
    assert book.state("c") is DEGRADED  # alone in its group: kept in rotation
    fail(book, "a", 5)
    assert book.state("a") is EJECTED  # 'default' is a, b: c does not count toward its cap


def test_a_spare_target_is_in_no_group_so_it_is_ejected_and_caps_nobody() -> None:
    book, _, _ = make_book("a", "b")
    book.add_target("c", provider="gemini", model="gemini-c", spare=True)
    fail(book, "c", 5)
    assert book.state("c") is EJECTED
    fail(book, "a", 5)
    assert book.state("a") is EJECTED


def test_a_target_in_several_groups_must_fit_every_groups_limit() -> None:
    book, _, _ = make_book("a", "b", "c", groups=(), max_ejected_fraction=0.5)
    for name, groups in (("a", ("chat", "code")), ("b", ("chat",)), ("c", ("code",))):
        provider, model = MODELS[name]
        book.add_target(name, provider=provider, model=model, groups=groups)
    book.add_target("d", provider="x", model="d", groups=("chat", "code"))
    eject(book, "b")  # chat: 1 of 3 out allowed (floor 1.5)
    fail(book, "a", 5)  # chat would have 2 of 3 out
    assert book.state("a") is DEGRADED and "group 'chat'" in book.status()["a"].reason


# --- probing -------------------------------------------------------------------------------------------
def test_an_ejection_ends_in_probing_and_probes_are_handed_out_by_budget_and_interval() -> None:
    book, clock, moves = make_book(probe_budget=3, probe_min_successes=3, probe_interval_s=5)
    eject(book)
    assert not book.take_probe("a")  # still ejected
    clock.advance(29)
    book.tick()
    assert book.state("a") is EJECTED
    clock.advance(1)
    book.tick()
    health = book.status()["a"]
    assert health.state is PROBING and health.weight_factor == 0.0 and not book.admits("a")
    assert health.next_probe_at == clock.now and "probing with up to 3 calls" in health.reason
    assert book.take_probe("a") and not book.take_probe("a")
    assert book.status()["a"].next_probe_at == clock.now + 5
    clock.advance(5)
    assert book.take_probe("a")
    clock.advance(5)
    assert book.take_probe("a")
    clock.advance(5)
    assert not book.take_probe("a")  # budget spent
    assert book.status()["a"].next_probe_at is None
    assert [m.new for m in moves] == [EJECTED, PROBING]


def test_probes_that_pass_the_sequential_test_start_the_ramp() -> None:
    book, clock, moves = make_book()
    to_probing(book, clock)
    pass_probes(book, clock, n=4)
    assert book.state("a") is PROBING and "4 of 4 probes succeeded so far" in book.status()["a"].reason
    pass_probes(book, clock, n=1)
    health = book.status()["a"]
    assert health.state is RAMPING and health.reason.startswith("probes passed (5 of 5 probes succeeded)")
    assert moves[-1].new is RAMPING


def test_one_failed_probe_needs_many_more_successes() -> None:
    book, clock, _ = make_book()
    to_probing(book, clock)
    assert book.take_probe("a")
    book.on_result("a", ok=False, status_code=503, probe=True)
    clock.advance(5)
    pass_probes(book, clock, n=8)
    assert book.state("a") is PROBING
    pass_probes(book, clock, n=1)
    assert book.state("a") is RAMPING


def test_failing_probes_eject_again_for_longer() -> None:
    book, clock, moves = make_book()
    to_probing(book, clock)
    for _ in range(2):
        assert book.take_probe("a")
        book.on_result("a", ok=False, status_code=503, probe=True)
        clock.advance(5)
    health = book.status()["a"]
    assert health.state is EJECTED
    assert health.reason.startswith("probes failed (0 of 2 probes succeeded, last: 503); ejected again for 60 s")
    assert [m.new for m in moves] == [EJECTED, PROBING, EJECTED]


def test_an_exhausted_budget_without_a_decision_ejects_again_without_escalating() -> None:
    book, clock, _ = make_book(probe_budget=4)
    to_probing(book, clock)
    for ok in (True, False, True, True):
        clock.advance(5)
        assert book.take_probe("a")
        book.on_result("a", ok=ok, probe=True)
    health = book.status()["a"]
    assert health.state is EJECTED and "probes inconclusive (3 of 4 probes succeeded)" in health.reason
    assert health.next_probe_at == clock.now + 30


def test_probing_with_no_probe_call_at_all_times_out_into_another_ejection() -> None:
    # A router that never hands out probes (e.g. no traffic) must not leave the target stuck in PROBING.
    book, clock, _ = make_book(probe_timeout_s=60)
    to_probing(book, clock)
    clock.advance(59)
    assert book.state("a") is PROBING
    clock.advance(1)
    health = book.status()["a"]
    assert health.state is EJECTED and health.next_probe_at == clock.now + book.policy.base_ejection_s
    assert health.reason.startswith("no probe call within 60 s of probing (no request took a due probe)")
    clock.advance(book.policy.base_ejection_s)
    pass_probes(book, clock)
    assert book.state("a") is RAMPING


def test_probes_that_never_answer_time_out_into_another_ejection() -> None:
    book, clock, _ = make_book(probe_budget=2, probe_min_successes=1, probe_timeout_s=60)
    to_probing(book, clock)
    assert book.take_probe("a")
    clock.advance(5)
    assert book.take_probe("a")
    clock.advance(59)
    assert book.state("a") is PROBING
    clock.advance(1)
    assert book.state("a") is EJECTED and "probes inconclusive" in book.status()["a"].reason


def test_a_successful_probe_cannot_pass_below_the_minimum_number_of_successes() -> None:
    book, clock, _ = make_book(probe_baseline_failure_rate=0.01, probe_failing_failure_rate=0.99, probe_min_successes=3)
    to_probing(book, clock)
    pass_probes(book, clock, n=2)  # each success alone is overwhelming evidence for this test
    assert book.state("a") is PROBING
    pass_probes(book, clock, n=1)
    assert book.state("a") is RAMPING


def test_late_answers_while_ejected_change_nothing() -> None:
    book, clock, _ = make_book()
    eject(book)
    book.on_result("a", ok=True)
    fail(book, "a", 10)
    assert book.state("a") is EJECTED and book.status()["a"].next_probe_at == clock.now + 30


# --- ramping -------------------------------------------------------------------------------------------
def test_the_slow_start_is_linear_from_the_floor_and_reaches_full_weight_at_ramp_s() -> None:
    book, clock, moves = make_book(ramp_s=100, ramp_floor=0.1)
    to_probing(book, clock)
    pass_probes(book, clock, n=4)
    assert book.take_probe("a")
    book.on_result("a", ok=True, probe=True)
    assert book.weight_factor("a") == pytest.approx(0.1) and book.admits("a")
    clock.advance(50)
    assert book.weight_factor("a") == pytest.approx(0.55)
    clock.advance(49)
    assert book.state("a") is RAMPING and 0.99 < book.weight_factor("a") < 1.0
    clock.advance(1)
    health = book.status()["a"]
    assert (health.state, health.weight_factor) == (HEALTHY, 1.0)
    assert health.reason == "back at baseline; slow start over after 100 s"
    assert [m.new for m in moves] == [EJECTED, PROBING, RAMPING, HEALTHY]


def test_a_ramp_is_capped_by_an_alarm_still_open_and_ends_degraded() -> None:
    book, clock, _ = make_book(ramp_s=60)
    book.on_alarm(alarm("a", "latency", effect=1.0))  # weight cap 0.5 while open
    to_probing(book, clock)
    pass_probes(book, clock)
    clock.advance(30)
    assert book.weight_factor("a") == pytest.approx(0.1 + (0.5 - 0.1) * (30 + 5) / 60, abs=1e-6)
    clock.advance(30)
    health = book.status()["a"]
    assert health.state is DEGRADED and health.reason.startswith("slow start over but still open: p95 latency")
    book.on_alarm(recovered("a", "latency"))
    clock.advance(book.policy.min_dwell_s)
    assert book.state("a") is RAMPING


@pytest.mark.parametrize("signal", ["error", "server_error", "rate_limited"])
@pytest.mark.parametrize("opened", ["before the ejection", "while ejected"])
def test_passing_probes_close_hard_failure_alarms_so_the_ramp_reaches_full_weight(signal: str, opened: str) -> None:
    # An ejected target gets almost no traffic: the monitor cannot close its error alarm on its own.
    book, clock, moves = make_book("a", "b", "c", ramp_s=60)
    outage = alarm("a", signal, severity="critical").model_copy(update={"after": SignalStats(n=10, mean=1.0)})
    if opened == "before the ejection":
        book.on_alarm(outage)
        if signal == "rate_limited":  # not an ejecting signal: the 429 streak ejects
            fail(book, "a", book.policy.consecutive_failures, 429)
        assert book.state("a") is EJECTED
    else:
        eject(book)
        book.on_alarm(outage)
    clock.advance(book.policy.base_ejection_s)
    assert book.state("a") is PROBING and book.status()["a"].open_alarms == (signal,)
    pass_probes(book, clock)
    health = book.status()["a"]
    assert health.state is RAMPING and f"probes close the {signal} alarm" in health.reason
    assert health.open_alarms == ()
    clock.advance(60)
    health = book.status()["a"]
    assert (health.state, health.weight_factor) == (HEALTHY, 1.0)
    book.on_alarm(recovered("a", signal))  # the monitor's own recovery, later, changes nothing
    clock.advance(book.policy.eject_after_degraded_s or 0)
    assert book.state("a") is HEALTHY and [m.new for m in moves if m.target == "a"][-2:] == [RAMPING, HEALTHY]


def test_passing_probes_close_only_failure_rates_their_test_can_tell_from_the_baseline() -> None:
    # Five successes in a row refute an outage, not a rise to 8 %: that alarm waits for the monitor, and
    # while it is open the target stays out (restored, the open critical alarm would eject it again: a flap).
    book, clock, moves = make_book("a", "b", "c", ramp_s=60)
    rise = alarm("a", "error", severity="critical").model_copy(update={"after": SignalStats(n=200, mean=0.08)})
    book.on_alarm(rise)
    assert book.state("a") is EJECTED
    clock.advance(book.policy.base_ejection_s)
    pass_probes(book, clock)
    health = book.status()["a"]
    assert health.state is PROBING and health.open_alarms == ("error",) and health.weight_factor == 0.0
    assert health.reason.startswith("probes passed (5 of 5 probes succeeded); probing on while the critical error")
    pass_probes(book, clock)  # the rest of the budget: more evidence for the monitor
    health = book.status()["a"]
    assert health.state is EJECTED and "would eject it again" in health.reason
    assert health.next_probe_at == health.since + book.policy.base_ejection_s  # not escalated: it answers fine
    assert RAMPING not in [m.new for m in moves]


def test_a_passed_round_held_back_by_an_open_alarm_restores_when_the_monitor_closes_it() -> None:
    book, clock, moves = make_book("a", "b", "c", ramp_s=60)
    book.on_alarm(alarm("a", "schema_invalid", severity="critical"))
    clock.advance(book.policy.shift_confirm_s)
    assert book.state("a") is EJECTED
    clock.advance(book.policy.base_ejection_s)
    pass_probes(book, clock)
    assert book.state("a") is PROBING  # the probes answered; their schema validity is the monitor's to judge
    book.on_alarm(recovered("a", "schema_invalid"))
    health = book.status()["a"]
    assert health.state is RAMPING and health.reason.startswith("probes passed (5 of 5 probes succeeded)")
    clock.advance(60)
    assert book.state("a") is HEALTHY and [m.new for m in moves] == [EJECTED, PROBING, RAMPING, HEALTHY]


def test_probes_that_watched_an_outage_end_close_its_alarm_whatever_rate_the_alarm_reported() -> None:
    # An outage's alarm reports a sliding-window mean (1 % -> 2.3 %); failed probes saw the outage itself.
    book, clock, moves = make_book("a", "b", "c", ramp_s=60)
    early = alarm("a", "error", severity="critical").model_copy(update={"after": SignalStats(n=215, mean=0.023)})
    book.on_alarm(early)
    assert book.state("a") is EJECTED
    clock.advance(book.policy.base_ejection_s)
    for _ in range(2):
        assert book.take_probe("a")
        book.on_result("a", ok=False, status_code=503, probe=True)
        clock.advance(book.policy.probe_interval_s)
    assert book.state("a") is EJECTED  # the probes saw the outage
    clock.advance(2 * book.policy.base_ejection_s)
    pass_probes(book, clock)
    health = book.status()["a"]
    assert health.state is RAMPING and "probes close the error alarm" in health.reason and health.open_alarms == ()
    clock.advance(60)
    assert (book.state("a"), book.weight_factor("a")) == (HEALTHY, 1.0)
    assert [m.new for m in moves] == [EJECTED, PROBING, EJECTED, PROBING, RAMPING, HEALTHY]  # no flap


def test_one_unlucky_failed_round_of_a_mostly_answering_target_is_not_an_outage() -> None:
    # At 8 % failures a round fails now and then; its alarm must not close on the next passed round.
    book, clock, _ = make_book("a", "b", "c", ramp_s=60)
    rise = alarm("a", "error", severity="critical").model_copy(update={"after": SignalStats(n=200, mean=0.08)})
    book.on_alarm(rise)
    clock.advance(book.policy.base_ejection_s)
    pass_probes(book, clock, n=book.policy.probe_budget)  # passed, held back by the open alarm: out again
    clock.advance(book.policy.base_ejection_s)
    for ok in (True, False, False):  # 11 of 13 answered so far: a failed round, not an outage
        assert book.take_probe("a")
        book.on_result("a", ok=ok, status_code=None if ok else 503, probe=True)
        clock.advance(book.policy.probe_interval_s)
    assert book.state("a") is EJECTED
    clock.advance(2 * book.policy.base_ejection_s)
    pass_probes(book, clock)
    health = book.status()["a"]
    assert health.state is PROBING and health.open_alarms == ("error",) and "probes close" not in health.reason


def test_passing_probes_leave_latency_alarms_and_new_failure_alarms_open() -> None:
    book, clock, _ = make_book("a", "b", "c", ramp_s=60)
    book.on_alarm(alarm("a", "latency", effect=1.0))
    book.on_alarm(alarm("a", "error", severity="critical"))
    assert book.state("a") is EJECTED
    clock.advance(book.policy.base_ejection_s)
    pass_probes(book, clock)
    assert book.status()["a"].open_alarms == ("latency",)  # a few probes say little about latency
    clock.advance(60)
    assert book.state("a") is DEGRADED and book.weight_factor("a") == pytest.approx(0.5)
    book2, clock2, _ = make_book("a", "b", "c", ramp_s=60)
    to_probing(book2, clock2)
    pass_probes(book2, clock2)
    book2.on_alarm(alarm("a", "server_error", severity="critical"))  # new evidence after the probes acts
    assert book2.state("a") is EJECTED


# --- hysteresis ----------------------------------------------------------------------------------------
def test_just_after_recovery_a_warning_alarm_is_held_and_a_critical_one_acts() -> None:
    book, clock, _ = make_book("a", "b", "c", rearm_s=300, ramp_s=10, shift_confirm_s=0)
    to_probing(book, clock)
    pass_probes(book, clock)
    clock.advance(10)
    assert book.state("a") is HEALTHY
    book.on_alarm(alarm("a", "latency", severity="warning"))
    health = book.status()["a"]
    assert health.state is HEALTHY and health.open_alarms == ("latency",)
    assert "latency alarm not acted on: held: recovered 15 s ago, within the 300 s re-arm window" in health.reason
    book.on_alarm(alarm("a", "ttft", severity="critical"))
    assert book.state("a") is DEGRADED and book.weight_factor("a") == pytest.approx(0.2)


def test_a_held_alarm_still_open_when_the_rearm_window_ends_demotes_then() -> None:
    book, clock, moves = make_book(rearm_s=300, ramp_s=10)
    to_probing(book, clock)
    pass_probes(book, clock)
    book.on_alarm(alarm("a", "latency"))
    clock.advance(294)
    book.tick()
    assert book.state("a") is HEALTHY
    clock.advance(1)
    book.tick()
    assert book.state("a") is DEGRADED and book.weight_factor("a") == pytest.approx(0.5)
    assert moves[-1].reason.startswith("p95 latency of openai/gpt-a rose")


def test_a_held_alarm_that_closes_inside_the_window_never_demotes() -> None:
    book, clock, moves = make_book(rearm_s=300, ramp_s=10)
    to_probing(book, clock)
    pass_probes(book, clock)
    book.on_alarm(alarm("a", "latency"))
    book.on_alarm(recovered("a", "latency"))
    clock.advance(400)
    book.tick()
    assert book.state("a") is HEALTHY and DEGRADED not in [m.new for m in moves]


# --- ledger, telemetry, robustness ---------------------------------------------------------------------
def test_the_ledger_is_json_able() -> None:
    book, clock, _ = make_book()
    book.on_alarm(alarm("a"))
    eject(book, "b")
    ledger = {name: health.as_dict() for name, health in book.status().items()}
    again = json.loads(json.dumps(ledger))
    assert again["a"]["state"] == "degraded" and again["a"]["open_alarms"] == ["latency"]
    assert again["b"] == {
        "target": "b", "provider": "anthropic", "model": "claude-b", "state": "ejected", "weight_factor": 0.0,
        "reason": "5 consecutive 503s; ejected for 30 s (ejection #1)", "since": clock.now,
        "next_probe_at": clock.now + 30, "open_alarms": [],
    }  # fmt: skip


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_state_and_weight_gauges_have_one_series_per_state() -> None:
    reader = InMemoryMetricReader()
    book, _, _ = make_book(meter_provider=MeterProvider(metric_readers=[reader]))
    book.on_alarm(alarm("a", "latency"))
    states = {
        (p.attributes["routewatch.router.target"], p.attributes["routewatch.router.state"]): p.value
        for p in _points(reader, "routewatch.router.target.state")
    }
    assert len(states) == 2 * len(TargetState)
    assert states[("a", "degraded")] == 1 and states[("a", "healthy")] == 0 and states[("b", "healthy")] == 1
    assert sum(states.values()) == 2
    point = next(p for p in _points(reader, "routewatch.router.target.state") if p.value == 1)
    assert {"gen_ai.provider.name", "gen_ai.request.model"} <= set(point.attributes)
    weights = {
        p.attributes["routewatch.router.target"]: p.value for p in _points(reader, "routewatch.router.target.weight")
    }
    assert weights == {"a": pytest.approx(0.5), "b": 1.0}


def test_two_books_on_one_meter_provider_both_report() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, _, _ = make_book("a", meter_provider=provider)
    second, _, _ = make_book("b", meter_provider=provider)
    names = {p.attributes["routewatch.router.target"] for p in _points(reader, "routewatch.router.target.weight")}
    assert names == {"a", "b"} and first is not second


def test_every_transition_is_a_log_record_with_structured_extras(caplog: pytest.LogCaptureFixture) -> None:
    book, _, _ = make_book()
    with caplog.at_level(logging.INFO, logger="routewatch.router"):
        eject(book)
    records = [r for r in caplog.records if hasattr(r, "routewatch_transition")]
    assert len(records) == 1 and records[0].levelno == logging.WARNING and records[0].name == "routewatch.router"
    extra = records[0].routewatch_transition
    assert extra["target"] == "a" and (extra["old"], extra["new"]) == ("healthy", "ejected")
    assert extra["reason"].startswith("5 consecutive 503s")
    assert "a healthy -> ejected: 5 consecutive 503s" in records[0].getMessage()


def test_transitions_reach_subscribers_in_the_order_they_happened_even_across_threads() -> None:
    """A restore and a re-ejection close together, from two threads: a subscriber replaying transitions
    (the collector's health feed, a router's weight pusher) must end in the book's state, not the older one."""
    clock = Clock()
    book = HealthBook(HealthPolicy(), clock=clock)
    for name in ("a", "b"):
        book.add_target(name, provider=MODELS[name][0], model=MODELS[name][1], groups=("chat",))
    to_probing(book, clock)
    seen: list[Transition] = []

    def busy(move: Transition) -> None:  # still handling the restore when another thread ejects the target again
        if move.new is RAMPING:
            other = threading.Thread(target=book.on_alarm, args=(alarm("a", "error", severity="critical"),))
            other.start()
            other.join(5)

    book.subscribe(busy)
    book.subscribe(seen.append)
    pass_probes(book, clock)
    assert book.state("a") is EJECTED
    assert [(m.old, m.new) for m in seen] == [(PROBING, RAMPING), (RAMPING, EJECTED)]
    assert seen == book.history("a")[-2:]


def test_a_failing_subscriber_is_logged_and_counted_never_raised() -> None:
    book, _, moves = make_book()

    def broken(_: Transition) -> None:
        raise RuntimeError("boom")

    book.subscribe(broken)
    book.on_alarm(alarm("a"))
    assert book.callback_errors == 1 and len(moves) == 1
    book.unsubscribe(broken)
    fail(book, "b", 5)
    assert book.callback_errors == 1 and len(moves) == 2


def test_unknown_targets_are_ignored_by_inputs_and_refused_by_queries() -> None:
    book, _, _ = make_book()
    book.on_result("nope", ok=False)
    assert not book.take_probe("nope")
    with pytest.raises(KeyError, match="nope"):
        book.state("nope")
    book.remove_target("a")
    assert list(book.status()) == ["b"]


def test_re_adding_a_target_keeps_its_state() -> None:
    book, _, _ = make_book()
    book.on_alarm(alarm("a"))
    book.add_target("a", provider="openai", model="gpt-a", groups=("chat", "code"))
    assert book.state("a") is DEGRADED


def test_concurrent_results_are_counted_exactly_once() -> None:
    book, _, moves = make_book(consecutive_failures=1000)
    threads = [threading.Thread(target=fail, args=(book, "a", 250)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert book.state("a") is EJECTED and [m.new for m in moves] == [EJECTED]


@pytest.mark.parametrize(
    "bad",
    [{"base_ejection_s": 100, "max_ejection_s": 50}, {"probe_baseline_failure_rate": 0.5,
     "probe_failing_failure_rate": 0.4}, {"probe_min_successes": 5, "probe_budget": 3}, {"ramp_s": -1},
     {"surprise": 1}],
)  # fmt: skip
def test_inconsistent_policies_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HealthPolicy(**bad)


def test_the_ledger_is_never_stale() -> None:
    book, clock, _ = make_book(ramp_s=100)
    first = book.status()
    assert book.status() == first and book.status() is not first  # reused, but callers get their own dict
    book.on_alarm(alarm("a"))
    assert book.status()["a"].state is DEGRADED
    to_probing(book, clock, "b")
    assert book.status()["b"].next_probe_at == clock.now
    pass_probes(book, clock, "b")
    ramp = [book.status()["b"].weight_factor for _ in range(2)]
    clock.advance(10)
    assert book.status()["b"].weight_factor > ramp[0] == ramp[1]  # a ramp moves with the clock


def test_a_move_that_falls_due_during_any_input_is_published() -> None:
    book, clock, moves = make_book()
    eject(book)
    clock.advance(30)
    book.on_result("a", ok=False, status_code=400)  # ignored as the request's fault, but the clock moved on
    assert [m.new for m in moves] == [EJECTED, PROBING]


def test_alarms_of_one_signal_on_two_operations_are_two_alarms() -> None:
    book, _, _ = make_book(min_dwell_s=0)
    book.on_alarm(alarm("a", "latency", operation="chat"))
    book.on_alarm(alarm("a", "latency", operation="embeddings"))
    assert book.weight_factor("a") == pytest.approx(0.25) and book.status()["a"].open_alarms == ("latency",)
    book.on_alarm(recovered("a", "latency", operation="embeddings"))
    assert book.state("a") is DEGRADED and book.weight_factor("a") == pytest.approx(0.5)  # chat still slow
    book.on_alarm(recovered("a", "latency", operation="chat"))
    assert book.state("a") is RAMPING


def test_failures_during_the_slow_start_eject_again_for_longer() -> None:
    book, clock, moves = make_book(ramp_s=60)
    to_probing(book, clock)
    pass_probes(book, clock)
    assert book.state("a") is RAMPING
    fail(book, "a", 5)
    health = book.status()["a"]
    assert health.state is EJECTED and health.reason == "5 consecutive 503s; ejected for 60 s (ejection #2)"
    assert [m.new for m in moves] == [EJECTED, PROBING, RAMPING, EJECTED]


def test_a_critical_alarm_during_the_slow_start_demotes_at_once() -> None:
    book, clock, _ = make_book(ramp_s=60, rearm_s=300)
    to_probing(book, clock)
    pass_probes(book, clock)
    book.on_alarm(alarm("a", "latency", severity="critical"))
    health = book.status()["a"]
    assert health.state is DEGRADED and health.weight_factor == pytest.approx(0.2)


def test_history_keeps_every_transition_with_its_reason() -> None:
    book, clock, moves = make_book()
    to_probing(book, clock)
    book.on_alarm(alarm("b"))
    assert book.history() == moves and len(moves) == 3
    assert [m.new for m in book.history("a")] == [EJECTED, PROBING]
    assert book.history("a", limit=1)[0].reason.startswith("ejection over; probing")


def test_one_targets_health_is_its_line_of_the_ledger_whatever_its_state() -> None:
    book, clock, _ = make_book("a", "b", "c", "d", max_ejected_fraction=1.0, ramp_s=60)
    book.on_alarm(alarm("b", severity="critical"))
    eject(book, "c")
    to_probing(book, clock, "d")
    pass_probes(book, clock, "d")  # ramping: its weight moves with the clock
    clock.advance(7)
    for name in ("a", "b", "c", "d"):
        assert book.health(name) == book.status()[name]
    assert book.health("unknown") is None


def test_an_observed_call_is_a_taken_probe_then_its_result() -> None:
    """`on_observed` (the collector's fleet) ends where `take_probe` then `on_result` end, through
    failure streaks, ejections, probing, ramps and alarms (its shortcut only skips what changes nothing)."""
    import random

    rng = random.Random(4)
    observed, observed_clock, observed_moves = make_book("a", "b")
    reference, reference_clock, reference_moves = make_book("a", "b")
    for step in range(3_000):
        name = rng.choice("ab")
        roll = rng.random()
        if roll < 0.01:
            made = alarm(name, "error", severity=rng.choice(["warning", "critical"]))
            observed.on_alarm(made)
            reference.on_alarm(made)
        elif roll < 0.02:
            observed.on_alarm(recovered(name, "error"))
            reference.on_alarm(recovered(name, "error"))
        else:
            outage = (step // 400) % 3 == 1 and name == "a"
            ok = rng.random() > (0.7 if outage else 0.02)
            status = None if ok else rng.choice([429, 500, 503])
            observed.on_observed(name, ok=ok, status_code=status, latency_s=0.5)
            probe = reference.take_probe(name)
            reference.on_result(name, ok=ok, status_code=status, latency_s=0.5, probe=probe)
        seconds = rng.choice([0.01, 0.5, 3.0])
        observed_clock.advance(seconds)
        reference_clock.advance(seconds)
    assert [(m.target, m.old, m.new, m.reason) for m in observed_moves] == [
        (m.target, m.old, m.new, m.reason) for m in reference_moves
    ]
    assert len({m.new for m in reference_moves}) >= 3  # the walk went through ejection and back
    assert observed.status() == reference.status()
    assert observed._version == reference._version
