"""`HealthBook`: per-target health state machine driven by drift alarms and hard failures.

Every routing target (a provider/model deployment) is in one of five states::

    HEALTHY --alarm--> DEGRADED --critical error/quality alarm, N consecutive failures,--> EJECTED
       ^                  |        or still critical after eject_after_degraded_s            |
       |                  | every demoting alarm closed, min_dwell_s spent                   | ejection time over
       |                  v                                                                  v
       +--ramp_s over-- RAMPING <------------- probes pass (sequential test) ------------ PROBING
                          |                                                                  |
                          +--ramp over but an alarm still open--> DEGRADED    probes fail --> EJECTED

The rules, explicitly:

* Only ``kind="alarm"`` alarms of warning or critical severity demote. ``change`` events, ``info``
  alarms, ``ignored_signals`` (workload or price signals, not health) and alarms with
  ``traffic_shift=True`` demote nobody; the ledger says why. The book runs its own peer check too:
  when ``peer_fraction`` of a group's targets alarm on the same signal and direction within
  ``peer_window_s``, the alarms are a traffic shift and demote nobody. So that the first target of a
  shift is not demoted before its peers alarm, a drift alarm (any signal but the hard-failure ones:
  error, server_error, rate_limited) in a group of at least ``peer_min_targets`` streams waits
  ``shift_confirm_s`` before it acts: a lone regression is demoted that much later, a shift never
  (a further alarm on a signal whose alarm already demotes acts at once, and is not held either).
  A shift seen later than that (or a ``traffic_shift`` alarm from the monitor, which marks only the
  later alarms of a shift) undoes the demotions it caused, back to the state they interrupted
  (HEALTHY, or RAMPING if its slow start is still running).
* A demoting alarm multiplies the weight by ``1 - penalty * scale``: ``penalty`` is
  ``warning_penalty`` or ``critical_penalty``; ``scale`` is the alarm's effect size (standard
  deviations or Cohen's h) over ``reference_effect``, clamped to [0.5, 1.5]. Weights never drop
  below ``min_weight`` while a target is routable.
* Ejection (circuit open): ``consecutive_failures`` hard failures in a row (5xx, 429, 408,
  auth/not-found, timeouts and connection errors; ``client_error_codes`` are the request's fault
  and do not count), a critical alarm on one of ``eject_signals``, or any critical alarm still open
  ``eject_after_degraded_s`` after it opened. An ejection lasts ``base_ejection_s`` times the
  number of times the target was ejected, capped at ``max_ejection_s`` (Envoy's outlier detection
  rule); the count resets after ``max_ejection_s`` of uninterrupted health.
* Never more than ``floor(max_ejected_fraction * size)`` targets of a group are ejected or probing
  at once (targets without a group share one; a ``spare`` target, e.g. a canary only, is in none).
  A target over the limit fails open: it stays DEGRADED at ``min_weight`` with the reason, and is
  ejected later if the group has room.
* PROBING hands out ``probe_budget`` probes through `take_probe`, one per ``probe_interval_s``.
  Their outcomes drive a sequential probability ratio test of "failure rate back at
  ``probe_baseline_failure_rate``" against "still at ``probe_failing_failure_rate``" with error
  rates ``probe_error`` both ways (Wald's SPRT). With the defaults (5 % vs 50 %, 5 % errors)
  5 successes in a row pass, 2 failures in a row fail, 1 failure needs 9 successes; at least
  ``probe_min_successes`` successes are always required. Passing starts RAMPING; failing, an
  exhausted budget without a decision, or ``probe_timeout_s`` with no probe handed out or answered
  (e.g. no request took one) ejects again. A passed round does not restore a target while a
  critical alarm the probes cannot refute is open (latency, quality, a failure rate too low for
  the test): that alarm would eject it again, a flap. Probing goes on to the end of the budget so
  the monitor sees the calls; the monitor's recovery closing the alarm then restores it, else the
  round ends in another ejection of the same length.
  Passing probes also close the hard-failure alarms (error, server_error, rate_limited) opened before
  the probe round when the probes saw the outage (a failure streak, or a failed round with most
  probes since the last restore failing) or the same test
  rejects the alarm's failure rate (an outage, not a rise to 8 %): an ejected
  target gets too little traffic for the monitor to close them, and left open they would cap the ramp
  and eject it again. Latency and quality alarms wait for the monitor's recovery.
* RAMPING (slow start) raises the weight linearly from ``ramp_floor`` (or the degraded weight) to
  1.0 over ``ramp_s``, capped by any alarm still open. It becomes HEALTHY when the ramp is over
  and no demoting alarm is open (the monitor's ``recovered`` alarm closed each one), else DEGRADED.
* Hysteresis: leaving DEGRADED needs every demoting alarm closed and ``min_dwell_s`` spent in it.
  For ``rearm_s`` after a target recovered (entered RAMPING), warning alarms are held in the ledger
  without demoting; critical alarms and hard failures still act. Held alarms still open when the
  window ends demote then. "Improved" events (recoveries that do not close an open alarm) halve
  the penalty of that signal's open alarm.

Time comes from the injected ``clock``; time-driven moves happen in `tick()` and lazily on every
query, so tests need no sleeps. One lock guards all state; subscribers are called outside it, one
transition at a time and in the order the transitions happened, whichever thread made them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from opentelemetry.metrics import MeterProvider, Observation

from ..drift.alarm import Alarm, StreamKey
from .health_gauges import STATE_METRIC, WEIGHT_METRIC, register_gauges
from .health_policy import HealthPolicy

__all__ = ["STATE_METRIC", "WEIGHT_METRIC", "HealthBook", "HealthPolicy", "TargetHealth", "TargetState", "Transition"]

log = logging.getLogger("routewatch.router")

_UNGROUPED = "(ungrouped)"  # the group of targets added without one; no task class can be named so
_HARD_FAILURE_SIGNALS = frozenset({"error", "server_error", "rate_limited"})  # passing probes close these
_HISTORY = 1_000
_WITHHELD = ("held", "confirming")  # notes of demoting alarms that wait (see `HealthBook._withheld`)
_T = TypeVar("_T")


class TargetState(str, Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    EJECTED = "ejected"
    PROBING = "probing"
    RAMPING = "ramping"


_ROUTABLE = frozenset({TargetState.HEALTHY, TargetState.DEGRADED, TargetState.RAMPING})


@dataclass(frozen=True)
class TargetHealth:
    """One target's line in the ledger."""

    target: str
    provider: str
    model: str
    state: TargetState
    weight_factor: float
    reason: str
    since: float
    next_probe_at: float | None
    open_alarms: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "provider": self.provider,
            "model": self.model,
            "state": self.state.value,
            "weight_factor": self.weight_factor,
            "reason": self.reason,
            "since": self.since,
            "next_probe_at": self.next_probe_at,
            "open_alarms": list(self.open_alarms),
        }


@dataclass(frozen=True)
class Transition:
    """A target changed state, and why."""

    target: str
    old: TargetState
    new: TargetState
    reason: str
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "old": self.old.value, "new": self.new.value, "reason": self.reason,
                "at": self.at}  # fmt: skip


@dataclass(slots=True)
class _OpenAlarm:
    key: str  # signal, plus the operation and extra dimensions when they are not plain chat
    operation: str
    signal: str
    direction: str
    severity: str
    effect: float | None
    explanation: str
    at: float
    demotes: bool
    note: str = ""  # why it does not demote
    improving: bool = False
    prior: TargetState | None = None  # the state its demotion moved the target out of (HEALTHY or RAMPING)
    level: float | None = None  # the signal's mean after the change (a failure rate for hard-failure signals)


@dataclass(slots=True)  # a collector holds one per provider/model it sees: thousands
class _Target:
    name: str
    provider: str
    model: str
    groups: tuple[str, ...]
    state: TargetState
    since: float
    reason: str
    spare: bool = False  # in no group (see `HealthBook.add_target`)
    open: dict[str, _OpenAlarm] = field(default_factory=dict)
    # tuples, not lists: a fleet holds thousands of targets, nearly all with none of either
    streak: tuple[str, ...] = ()  # labels of consecutive hard failures
    times_ejected: int = 0
    eject_until: float = 0.0
    pending_eject: str | None = None  # reason of an ejection refused by max_ejected_fraction
    pending_signal: str | None = None  # key of the alarm behind it; None: a failure streak
    recovered_at: float | None = None
    settled_weight: float = 1.0  # weight of a DEGRADED target whose alarms closed, while it dwells
    # probing round
    probes_given: int = 0
    probe_ok: int = 0
    probe_fail: int = 0
    llr: float = 0.0
    next_probe_at: float | None = None
    last_probe_at: float | None = None
    probing_since: float = 0.0
    probe_seen_at: float = 0.0  # last probe handed out or answered in this round (the timeout's clock)
    probe_closed: tuple[str, ...] = ()  # hard-failure alarms this round's probes closed
    outage_seen: bool = False  # a failure streak, or failed probe rounds that saw mostly failures, since restored
    probed_ok: int = 0  # probe outcomes over every round since the target was last restored
    probed_fail: int = 0
    # ramp
    ramp_start: float = 0.0
    ramp_from: float = 0.0


class HealthBook:
    """Per-target health: states, weights, probes and the reasons behind them."""

    def __init__(
        self,
        policy: HealthPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.policy = policy or HealthPolicy()
        self._clock = clock
        self._lock = threading.RLock()
        self._targets: dict[str, _Target] = {}
        self._subscribers: tuple[Callable[[Transition], Any], ...] = ()
        self._version = 0  # bumped by every change; status() reuses its last ledger while unchanged
        self._history: deque[Transition] = deque(maxlen=_HISTORY)
        self._outbox: deque[Transition] = deque()  # made, not yet delivered to subscribers (see `_publish`)
        self._delivering = False  # some thread is draining the outbox
        self._ledger: tuple[int, dict[str, TargetHealth]] | None = None
        self._refused = False  # some target may hold a refused ejection (see `_fill_pending`)
        self._membership = 0  # bumped when targets come, go or change groups
        self._group_sizes: tuple[int, dict[str, int]] | None = None  # (membership, provider/models per group)
        self.callback_errors = 0
        p = self.policy
        self._llr_ok = math.log((1 - p.probe_failing_failure_rate) / (1 - p.probe_baseline_failure_rate))
        self._llr_fail = math.log(p.probe_failing_failure_rate / p.probe_baseline_failure_rate)
        self._accept = math.log(p.probe_error / (1 - p.probe_error))
        self._reject = math.log((1 - p.probe_error) / p.probe_error)
        register_gauges(self, meter_provider)

    # --- targets ------------------------------------------------------------------------------------
    def add_target(
        self, name: str, *, provider: str, model: str, groups: Iterable[str] = (), spare: bool = False
    ) -> None:
        """Add (or re-describe, keeping its state) a target.

        `groups`: the task classes that must keep a share of their targets in rotation (targets without
        one share a group). `spare`: a target no group depends on (a canary or shadow target): it is in
        no group, so it is ejected whatever `max_ejected_fraction` says and is nobody's peer.
        """
        with self._lock:
            self._version += 1
            self._membership += 1
            existing = self._targets.get(name)
            if existing is not None:
                existing.provider, existing.model, existing.groups = provider, model, tuple(groups)
                existing.spare = spare
                return
            self._targets[name] = _Target(name, provider, model, tuple(groups), TargetState.HEALTHY, self._clock(),
                                          "no alarms, no failures", spare=spare)  # fmt: skip

    def remove_target(self, name: str) -> None:
        with self._lock:
            self._version += 1
            self._membership += 1
            self._targets.pop(name, None)

    def targets_for_key(self, key: StreamKey) -> list[str]:
        """Targets serving the stream's provider and model (the operation does not matter)."""
        with self._lock:
            return [t.name for t in self._targets.values() if t.provider == key.provider and t.model == key.model]

    # --- inputs -------------------------------------------------------------------------------------
    def on_alarm(self, alarm: Alarm) -> None:
        """Alarms demote, recoveries close alarms and restore, traffic shifts and changes never demote."""
        moves: list[Transition] = []
        with self._lock:
            self._version += 1
            now = self._clock()
            names = self.targets_for_key(alarm.key)
            if not names:
                return
            kind = str(alarm.kind)
            if kind == "change":
                log.debug("change event does not demote: %s", alarm.explanation)
                return
            for name in names:
                target = self._targets[name]
                self._advance(target, now, moves)
                if kind == "alarm":
                    self._open_alarm(target, alarm, now, moves)
                elif kind in ("recovered", "improved"):
                    self._recovery(target, alarm, now, moves)
            if kind == "alarm":
                self._peer_check(names, alarm, now, moves)
            self._fill_pending(now, moves)
        self._publish(moves)

    def on_result(
        self,
        name: str,
        *,
        ok: bool,
        status_code: int | None = None,
        error_type: str | None = None,
        latency_s: float | None = None,
        probe: bool = False,
    ) -> None:
        """One finished call to `name`: hard failures in a row eject; in PROBING every answer is evidence.

        ``latency_s`` is accepted from routers that have it; slowness reaches the book as the drift
        monitor's latency alarms, judged against the target's own baseline, not as a fixed limit.
        """
        moves: list[Transition] = []
        with self._lock:
            self._version += 1
            target = self._targets.get(name)
            if target is None:
                return
            now = self._clock()
            self._advance(target, now, moves)
            if not ok and status_code is not None and status_code in self.policy.client_error_codes:
                pass  # the request's fault: neither success nor failure of the target
            elif target.state is TargetState.PROBING:
                self._probe_result(target, ok, _failure_label(status_code, error_type), now, moves)
            elif target.state is TargetState.EJECTED:
                pass  # a late answer from before the ejection
            elif ok:
                target.streak = ()
                if target.pending_eject and target.pending_signal is None:
                    self._drop_pending(target, "the failure streak broke", now, moves)
            else:
                target.streak += (_failure_label(status_code, error_type),)
                if len(target.streak) >= self.policy.consecutive_failures:
                    reason = _streak_reason(target.streak)
                    target.streak = ()
                    target.outage_seen = True
                    self._eject(target, reason, now, moves)
            self._fill_pending(now, moves)
        self._publish(moves)

    def tick(self) -> None:
        """Time-driven moves: ejections ending, ramps finishing, dwell and re-arm windows passing."""
        moves: list[Transition] = []
        with self._lock:
            now = self._clock()
            for target in list(self._targets.values()):
                self._advance(target, now, moves)
            self._fill_pending(now, moves)
        self._publish(moves)

    # --- queries ------------------------------------------------------------------------------------
    def now(self) -> float:
        """The book's clock: the time base of `since` and `next_probe_at`."""
        return self._clock()

    def state(self, name: str) -> TargetState:
        return self._query(name, lambda target, now: target.state)

    def weight_factor(self, name: str) -> float:
        """1 healthy, between 0 and 1 degraded or ramping, 0 ejected or probing."""
        return self._query(name, lambda target, now: round(self._weight(target, now), 6))

    def admits(self, name: str) -> bool:
        """Whether ordinary traffic may go to `name` (probes go through `take_probe`)."""
        return self._query(name, lambda target, now: target.state in _ROUTABLE)

    def on_observed(
        self, name: str, *, ok: bool, status_code: int | None = None, error_type: str | None = None,
        latency_s: float | None = None,
    ) -> None:  # fmt: skip
        """A call to `name` seen by an observer (the collector), not sent by this book's router: it
        takes a due probe, then counts as its result; `take_probe` then `on_result(probe=...)`.

        A success of a healthy target with nothing open, no failure streak and no pending ejection
        changes nothing but the version: that case (nearly every call) is answered under one lock.
        """
        with self._lock:
            target = self._targets.get(name)
            if (
                ok and target is not None and target.state is TargetState.HEALTHY and not target.open
                and not target.times_ejected and not target.streak and not target.pending_eject and not self._refused
            ):  # fmt: skip
                self._version += 2  # as take_probe and on_result would
                return
        probe = self.take_probe(name)
        self.on_result(name, ok=ok, status_code=status_code, error_type=error_type, latency_s=latency_s, probe=probe)

    def take_probe(self, name: str) -> bool:
        """True when a probe call to `name` is due now; the caller must then send one and report it
        with ``on_result(..., probe=True)``. Consumes one unit of the round's budget."""
        moves: list[Transition] = []
        with self._lock:
            self._version += 1
            target = self._targets.get(name)
            if target is None:
                return False
            now = self._clock()
            self._advance(target, now, moves)
            due = (
                target.state is TargetState.PROBING
                and target.probes_given < self.policy.probe_budget
                and target.next_probe_at is not None
                and now >= target.next_probe_at
            )
            if due:
                target.probes_given += 1
                target.last_probe_at = target.probe_seen_at = now
                more = target.probes_given < self.policy.probe_budget
                target.next_probe_at = now + self.policy.probe_interval_s if more else None
        self._publish(moves)
        return due

    def status(self) -> dict[str, TargetHealth]:
        """The ledger: every target's state, weight, reason, and open alarms."""
        moves: list[Transition] = []
        with self._lock:
            now = self._clock()
            ramping = False
            for target in self._targets.values():
                self._advance(target, now, moves)
                ramping = ramping or target.state is TargetState.RAMPING  # weights move with time
            if self._ledger is not None and self._ledger[0] == self._version and not ramping:
                result = dict(self._ledger[1])
            else:
                result = {name: self._health(target, now) for name, target in self._targets.items()}
                self._ledger = (self._version, dict(result))
        self._publish(moves)
        return result

    def health(self, name: str) -> TargetHealth | None:
        """`status().get(name)` without building every other target's line (a subscriber that
        describes each transition would otherwise rebuild the whole ledger per transition)."""
        moves: list[Transition] = []
        with self._lock:
            now = self._clock()
            for target in self._targets.values():
                self._advance(target, now, moves)
            found = self._targets.get(name)
            result = self._health(found, now) if found is not None else None
        self._publish(moves)
        return result

    def history(self, name: str | None = None, *, limit: int | None = None) -> list[Transition]:
        """Recent state changes, oldest first (the last 1,000 over all targets), of one target or all."""
        with self._lock:
            moves = [m for m in self._history if name is None or m.target == name]
        return moves[-limit:] if limit else moves

    def subscribe(self, fn: Callable[[Transition], Any]) -> None:
        """Call `fn(transition)` after every state change (exceptions are logged, never raised)."""
        with self._lock:
            self._subscribers = (*self._subscribers, fn)

    def unsubscribe(self, fn: Callable[[Transition], Any]) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not fn)

    # --- internals: queries ---------------------------------------------------------------------------
    def _query(self, name: str, read: Callable[[_Target, float], _T]) -> _T:
        moves: list[Transition] = []
        with self._lock:
            target = self._targets.get(name)
            if target is None:
                raise KeyError(f"unknown target {name!r}")
            now = self._clock()
            self._advance(target, now, moves)
            value = read(target, now)
        self._publish(moves)
        return value

    def _health(self, target: _Target, now: float) -> TargetHealth:
        next_probe = None
        if target.state is TargetState.EJECTED:
            next_probe = target.eject_until
        elif target.state is TargetState.PROBING:
            next_probe = target.next_probe_at
        return TargetHealth(
            target=target.name,
            provider=target.provider,
            model=target.model,
            state=target.state,
            weight_factor=round(self._weight(target, now), 6),
            reason=self._reason(target),
            since=target.since,
            next_probe_at=next_probe,
            open_alarms=tuple(sorted({a.signal for a in target.open.values()})),
        )

    def _reason(self, target: _Target) -> str:
        notes = [f"{a.signal} alarm not acted on: {a.note}" for a in target.open.values()
                 if not a.demotes and a.note and a.note not in target.reason]  # fmt: skip
        return "; ".join([target.reason, *notes])

    def _alarm_weight(self, target: _Target) -> float:
        weight = 1.0
        p = self.policy
        for alarm in target.open.values():
            if not alarm.demotes:
                continue
            penalty = p.critical_penalty if alarm.severity == "critical" else p.warning_penalty
            scale = 1.0 if alarm.effect is None else min(1.5, max(0.5, abs(alarm.effect) / p.reference_effect))
            if alarm.improving:
                scale /= 2
            weight *= max(0.0, 1.0 - penalty * scale)
        return max(p.min_weight, weight)

    def _weight(self, target: _Target, now: float) -> float:
        state = target.state
        if state is TargetState.HEALTHY:
            return 1.0
        if state in (TargetState.EJECTED, TargetState.PROBING):
            return 0.0
        cap = self._alarm_weight(target)
        if state is TargetState.DEGRADED:
            if target.pending_eject:
                return self.policy.min_weight
            return cap if any(a.demotes for a in target.open.values()) else min(cap, target.settled_weight)
        # RAMPING
        done = 1.0 if self.policy.ramp_s <= 0 else min(1.0, (now - target.ramp_start) / self.policy.ramp_s)
        start = min(target.ramp_from, cap)
        return start + (cap - start) * done

    # --- internals: moves ---------------------------------------------------------------------------
    def _move(self, target: _Target, new: TargetState, reason: str, now: float, moves: list[Transition]) -> None:
        old = target.state
        target.state, target.reason = new, reason
        self._version += 1
        if new is not old:
            target.since = now
            move = Transition(target.name, old, new, reason, now)
            moves.append(move)
            self._history.append(move)
            self._outbox.append(move)

    def _advance(self, target: _Target, now: float, moves: list[Transition]) -> None:
        """Apply every time-driven move that is due for `target`."""
        if target.state is TargetState.HEALTHY and not target.open and not target.times_ejected:
            return  # the common case: nothing can be due
        p = self.policy
        for alarm in target.open.values():  # confirmation or re-arm window over: withheld alarms demote now
            if alarm.demotes or not alarm.note.startswith(_WITHHELD):
                continue
            note = self._withheld(target, alarm, now)
            if note is None:
                alarm.demotes, alarm.note = True, ""
                self._version += 1
                self._demote(target, alarm, now, moves)
            elif not note.startswith(alarm.note.split(":")[0]):
                alarm.note = note  # confirmed, but now held by the re-arm window
                self._version += 1
        state = target.state
        if state is TargetState.HEALTHY:
            if target.times_ejected and now - target.since >= p.max_ejection_s:
                target.times_ejected = 0
        elif state is TargetState.EJECTED and now >= target.eject_until:
            self._start_probing(target, now, moves)
        elif state is TargetState.PROBING:
            if now - target.probe_seen_at >= p.probe_timeout_s:
                self._reeject(target, self._probe_timeout_reason(target), now, moves, escalate=False)
        elif state is TargetState.RAMPING:
            if now - target.ramp_start >= p.ramp_s:
                self._finish_ramp(target, now, moves)
        elif state is TargetState.DEGRADED:
            demoting = [a for a in target.open.values() if a.demotes]
            if not demoting and not target.pending_eject and now - target.since >= p.min_dwell_s:
                self._start_ramp(target, self._weight(target, now), "every alarm closed; slow start", now, moves)
            elif p.eject_after_degraded_s is not None and not target.pending_eject:
                lasting = [a for a in demoting if a.severity == "critical" and now - a.at >= p.eject_after_degraded_s]
                if lasting:
                    self._eject(target, f"still critical after {now - lasting[0].at:.0f} s degraded: "
                                        f"{lasting[0].explanation}", now, moves, lasting[0].key)  # fmt: skip

    def _open_alarm(self, target: _Target, alarm: Alarm, now: float, moves: list[Transition]) -> None:
        p = self.policy
        opened = _OpenAlarm(_alarm_key(alarm), alarm.key.operation, alarm.signal, alarm.direction, alarm.severity,
                            alarm.effect_size, alarm.explanation, now, True,
                            level=alarm.after.mean if alarm.after is not None else None)  # fmt: skip
        if alarm.severity not in ("warning", "critical"):
            opened.demotes, opened.note = False, f"severity {alarm.severity}"
        elif alarm.signal in p.ignored_signals:
            opened.demotes, opened.note = False, "signal describes the workload or price, not health"
        elif alarm.traffic_shift:
            opened.demotes, opened.note = False, "traffic shift (most streams moved at once)"
        else:
            # A further alarm on a signal whose alarm already demotes (it got worse) is not a new regression
            # to confirm or hold: waiting would leave nothing demoting, and the target would ramp back up.
            previous = target.open.get(opened.key)
            if previous is not None and previous.demotes:
                opened.prior = previous.prior
            elif (withheld := self._withheld(target, opened, now)) is not None:
                opened.demotes, opened.note = False, withheld
        target.open[opened.key] = opened
        if not opened.demotes:
            log.info("routewatch router: %s alarm on %s not acted on: %s", alarm.signal, target.name, opened.note,
                     extra={"routewatch_router": {"target": target.name, "signal": alarm.signal,
                                                  "ignored": opened.note}})  # fmt: skip
            return
        self._demote(target, opened, now, moves)

    def _withheld(self, target: _Target, alarm: _OpenAlarm, now: float) -> str | None:
        """Why a demoting alarm waits before it acts (None: it acts now).

        Held: a warning just after a recovery waits for the re-arm window. Confirming: a drift alarm
        in a group big enough for the peer check waits `shift_confirm_s` for its peers, so a traffic
        shift demotes nobody, not even the first target to alarm. Hard failures never wait.
        """
        p = self.policy
        if alarm.severity == "warning" and self._rearming(target, now):
            assert target.recovered_at is not None
            return (f"held: recovered {now - target.recovered_at:.0f} s ago, within the "
                    f"{p.rearm_s:.0f} s re-arm window that needs critical evidence")  # fmt: skip
        if (p.shift_confirm_s > 0 and now - alarm.at < p.shift_confirm_s
                and alarm.signal not in _HARD_FAILURE_SIGNALS and self._has_peers(target)):  # fmt: skip
            return (f"confirming: acts {p.shift_confirm_s:g} s after it opened unless peers' alarms show a "
                    "traffic shift")  # fmt: skip
        return None

    def _has_peers(self, target: _Target) -> bool:
        """Whether one of the target's groups is big enough for the book's peer check."""
        sizes = self._streams_per_group()
        return any(sizes.get(group, 0) >= self.policy.peer_min_targets for group in self._groups_of(target))

    def _streams_per_group(self) -> dict[str, int]:
        """Distinct provider/models per group. Asked on every call of a target whose alarm is being
        confirmed, so counted again only after targets came, went or changed groups."""
        cached = self._group_sizes
        if cached is None or cached[0] != self._membership:
            streams: dict[str, set[tuple[str, str]]] = {}
            for t in self._targets.values():
                for group in self._groups_of(t):
                    streams.setdefault(group, set()).add((t.provider, t.model))
            cached = self._group_sizes = (self._membership, {group: len(s) for group, s in streams.items()})
        return cached[1]

    def _demote(self, target: _Target, alarm: _OpenAlarm, now: float, moves: list[Transition]) -> None:
        state = target.state
        if state in (TargetState.EJECTED, TargetState.PROBING):
            return  # already out; the alarm stays open and caps the ramp later
        if state in (TargetState.HEALTHY, TargetState.RAMPING):
            alarm.prior = state  # where a withdrawn demotion (traffic shift) returns the target
        if alarm.severity == "critical" and alarm.signal in self.policy.eject_signals:
            self._eject(target, alarm.explanation, now, moves, alarm.key)
            return
        if target.pending_eject:
            return
        self._move(target, TargetState.DEGRADED, alarm.explanation if state is not TargetState.DEGRADED
                   else self._degraded_reason(target), now, moves)  # fmt: skip

    def _degraded_reason(self, target: _Target) -> str:
        texts = [a.explanation for a in target.open.values() if a.demotes]
        return "; ".join(texts) if texts else target.reason

    def _recovery(self, target: _Target, alarm: Alarm, now: float, moves: list[Transition]) -> None:
        improvement = str(alarm.kind) == "improved" or alarm.explanation.startswith("improvement")
        key = _alarm_key(alarm)
        opened = target.open.get(key)
        if opened is None:
            return
        if improvement:
            opened.improving = True
            if target.state is TargetState.DEGRADED and opened.demotes:
                target.reason = self._degraded_reason(target) + f"; improving: {alarm.explanation}"
            return
        if target.state is TargetState.DEGRADED:
            target.settled_weight = self._weight(target, now)
        del target.open[key]
        if target.pending_eject and target.pending_signal == key:
            self._drop_pending(target, alarm.explanation, now, moves)
            return
        if not opened.demotes:
            return
        if target.state is TargetState.PROBING:
            if self._probes_passed(target) and not self._blocking(target):
                self._restore(target, now, moves)  # the alarm that held the passed round back closed
            return
        if target.state is TargetState.DEGRADED:
            if any(a.demotes for a in target.open.values()):
                target.reason = self._degraded_reason(target)
            else:
                target.reason = f"{alarm.explanation}; waiting out the {self.policy.min_dwell_s:.0f} s dwell"
                self._advance(target, now, moves)
        elif target.state is TargetState.RAMPING:
            target.reason = f"slow start; {alarm.explanation}"

    def _peer_check(self, names: list[str], alarm: Alarm, now: float, moves: list[Transition]) -> None:
        """Most of a group alarming on one signal and direction at once is a traffic shift: undo those demotions.

        The book counts its own groups; an alarm the monitor marked ``traffic_shift`` (most of the streams
        it watches moved) is evidence enough, so the demotions its earlier peers caused are released too.
        """
        p = self.policy
        for group in sorted({g for n in names for g in self._groups_of(self._targets[n])}):
            members = [t for t in self._targets.values() if group in self._groups_of(t)]
            streams = {(t.provider, t.model) for t in members}  # deployments of one model are not peers
            operation = alarm.key.operation
            moving = [
                (t, a)
                for t in members
                for a in t.open.values()
                if a.signal == alarm.signal
                and a.operation == operation
                and a.direction == alarm.direction
                and now - a.at <= p.peer_window_s
                and a.note != "severity info"
            ]
            moved = {(t.provider, t.model) for t, _ in moving}
            together = len(streams) >= p.peer_min_targets and len(moved) / len(streams) >= p.peer_fraction
            if not (together or alarm.traffic_shift):
                continue
            note = (f"traffic shift: {len(moved)} of {len(streams)} targets moved together; no demotion "
                    f"({alarm.signal} {alarm.direction} in group {group!r} within {p.peer_window_s:.0f} s"
                    f"{'' if together else ', most streams the drift monitor watches moved'})")  # fmt: skip
            for target, opened in moving:
                if opened.demotes:
                    opened.demotes, opened.note = False, note
                    self._release(target, opened, note, now, moves)
                elif opened.note.startswith((*_WITHHELD, "traffic shift")):
                    opened.note = note  # a held warning in a shift must not demote when the re-arm window ends

    def _release(self, target: _Target, opened: _OpenAlarm, note: str, now: float, moves: list[Transition]) -> None:
        """A demotion's cause was withdrawn: back to the state it interrupted, unless another cause holds."""
        if target.pending_eject and target.pending_signal == opened.key:
            target.pending_eject = target.pending_signal = None
        if target.state is not TargetState.DEGRADED or target.pending_eject:
            return  # ejected targets come back through their probes
        if any(a.demotes for a in target.open.values()):
            target.reason = self._degraded_reason(target)
        elif opened.prior is TargetState.RAMPING and now - target.ramp_start < self.policy.ramp_s:
            self._move(target, TargetState.RAMPING, f"slow start resumed, demotion undone: {note}", now, moves)
        else:
            self._move(target, TargetState.HEALTHY, f"demotion undone: {note}", now, moves)

    def _groups_of(self, target: _Target) -> tuple[str, ...]:
        if target.spare:
            return ()
        return target.groups or (_UNGROUPED,)

    def _room_to_eject(self, target: _Target) -> str | None:
        """None when `target` may be ejected, else why not (the group already has enough out)."""
        for group in self._groups_of(target):
            members = [t for t in self._targets.values() if group in self._groups_of(t)]
            out = sum(t.state in (TargetState.EJECTED, TargetState.PROBING) for t in members if t is not target)
            allowed = math.floor(self.policy.max_ejected_fraction * len(members) + 1e-9)
            if out + 1 > allowed:
                return (f"{out} of {len(members)} targets in group {group!r} already out and "
                        f"max_ejected_fraction {self.policy.max_ejected_fraction:g} allows {allowed}")  # fmt: skip
        return None

    def _eject(
        self, target: _Target, reason: str, now: float, moves: list[Transition], signal: str | None = None
    ) -> None:
        refusal = self._room_to_eject(target)
        if refusal is not None:
            target.pending_eject, target.pending_signal = reason, signal
            self._refused = True
            self._move(target, TargetState.DEGRADED,
                       f"kept in rotation at minimum weight (fail open) instead of ejecting: {refusal}; "
                       f"ejection cause: {reason}", now, moves)  # fmt: skip
            return
        target.pending_eject = target.pending_signal = None
        target.times_ejected += 1
        duration = min(self.policy.max_ejection_s, self.policy.base_ejection_s * target.times_ejected)
        target.eject_until = now + duration
        target.streak = ()
        self._move(target, TargetState.EJECTED, f"{reason}; ejected for {duration:.0f} s "
                   f"(ejection #{target.times_ejected})", now, moves)  # fmt: skip

    def _reeject(self, target: _Target, reason: str, now: float, moves: list[Transition], *, escalate: bool) -> None:
        if not escalate:
            target.times_ejected = max(0, target.times_ejected - 1)
        # Already out: the group limit counts this target as out, so re-ejecting always has room.
        target.times_ejected += 1
        duration = min(self.policy.max_ejection_s, self.policy.base_ejection_s * target.times_ejected)
        target.eject_until = now + duration
        self._move(target, TargetState.EJECTED, f"{reason}; ejected again for {duration:.0f} s", now, moves)

    def _drop_pending(self, target: _Target, why: str, now: float, moves: list[Transition]) -> None:
        """The cause of a refused ejection is gone: the target is judged by its open alarms again."""
        target.settled_weight = self.policy.min_weight
        target.pending_eject = target.pending_signal = None
        reason = self._degraded_reason(target) if any(a.demotes for a in target.open.values()) else why
        self._move(target, TargetState.DEGRADED, f"ejection no longer pending ({why}); {reason}", now, moves)
        self._advance(target, now, moves)

    def _fill_pending(self, now: float, moves: list[Transition]) -> None:
        """Fail-open targets are ejected once their group has room again.

        Runs after every input; the walk over all targets happens only while some ejection is refused.
        """
        if not self._refused:
            return
        for target in self._targets.values():
            if target.pending_eject and target.state is TargetState.DEGRADED and self._room_to_eject(target) is None:
                self._eject(target, target.pending_eject, now, moves, target.pending_signal)
        self._refused = any(target.pending_eject for target in self._targets.values())

    def _start_probing(self, target: _Target, now: float, moves: list[Transition]) -> None:
        target.probes_given = target.probe_ok = target.probe_fail = 0
        target.llr = 0.0
        target.next_probe_at = now
        target.last_probe_at = None
        target.probing_since = target.probe_seen_at = now
        target.probe_closed = ()
        self._move(target, TargetState.PROBING, f"ejection over; probing with up to {self.policy.probe_budget} "
                   f"calls, one per {self.policy.probe_interval_s:g} s", now, moves)  # fmt: skip

    def _probe_result(self, target: _Target, ok: bool, label: str, now: float, moves: list[Transition]) -> None:
        p = self.policy
        target.probe_seen_at = now
        if ok:
            target.probe_ok += 1
            target.probed_ok += 1
            target.llr += self._llr_ok
        else:
            target.probe_fail += 1
            target.probed_fail += 1
            target.llr += self._llr_fail
        tally = self._tally(target)
        answered = target.probe_ok + target.probe_fail
        if target.llr >= self._reject:
            # An outage, if most probes of every round so far failed; one unlucky round of a target at
            # 8 % failures is not one (closing its alarm on the next passed round would hide the 8 %).
            if target.probed_fail >= p.probe_failing_failure_rate * (target.probed_ok + target.probed_fail):
                target.outage_seen = True
            self._reeject(target, f"probes failed ({tally}, last: {label})", now, moves, escalate=True)
        elif self._probes_passed(target):
            for key in self._close_hard_failure_alarms(target):
                target.probe_closed += (key,)
            blocking = self._blocking(target)
            if not blocking:
                self._restore(target, now, moves)
                return
            names = ", ".join(a.key for a in blocking)
            if answered >= p.probe_budget:
                self._reeject(target, f"probes passed ({tally}) but the open critical {names} alarm would eject it "
                              "again; it closes when the monitor sees its calls back at baseline", now, moves,
                              escalate=False)  # fmt: skip
            else:
                target.reason = (f"probes passed ({tally}); probing on while the critical {names} alarm is open "
                                 "(the monitor closes it from these calls)")  # fmt: skip
        elif answered >= p.probe_budget:
            self._reeject(target, f"probes inconclusive ({tally})", now, moves, escalate=False)
        else:
            target.reason = f"probing: {tally} so far"

    def _tally(self, target: _Target) -> str:
        return f"{target.probe_ok} of {target.probe_ok + target.probe_fail} probes succeeded"

    def _probes_passed(self, target: _Target) -> bool:
        return target.llr <= self._accept and target.probe_ok >= self.policy.probe_min_successes

    def _blocking(self, target: _Target) -> list[_OpenAlarm]:
        """Open alarms that would eject the target again: restoring it now would be a flap.

        Probes answer "does it work?"; a critical latency, quality or failure-rate alarm they cannot
        refute says "not well enough", and left open it ejects again (at once, or after
        `eject_after_degraded_s`). Such a target stays out until the monitor, which sees the probes too,
        closes the alarm.
        """
        p = self.policy
        return [a for a in target.open.values() if a.demotes and a.severity == "critical"
                and (a.signal in p.eject_signals or p.eject_after_degraded_s is not None)]  # fmt: skip

    def _restore(self, target: _Target, now: float, moves: list[Transition]) -> None:
        """The probe round passed and nothing open would eject the target again: slow start."""
        p = self.policy
        target.recovered_at = now
        target.outage_seen = False
        target.probed_ok = target.probed_fail = 0
        closed = target.probe_closed
        note = f"; probes close the {', '.join(closed)} alarm{'s' if len(closed) > 1 else ''}" if closed else ""
        self._start_ramp(target, p.ramp_floor, f"probes passed ({self._tally(target)}){note}; slow start over "
                         f"{p.ramp_s:g} s", now, moves)  # fmt: skip

    def _probe_timeout_reason(self, target: _Target) -> str:
        wait = self.policy.probe_timeout_s
        if target.probes_given == 0 and target.probe_ok + target.probe_fail == 0:
            return f"no probe call within {wait:g} s of probing (no request took a due probe)"
        unanswered = max(0, target.probes_given - target.probe_ok - target.probe_fail)
        return (f"probes inconclusive: {target.probe_ok} of {target.probes_given} succeeded, {target.probe_fail} "
                f"failed, {unanswered} unanswered, nothing new for {wait:g} s")  # fmt: skip

    def _close_hard_failure_alarms(self, target: _Target) -> list[str]:
        """Passing probes are recovery evidence for hard failures opened before this probe round.

        An ejected target gets almost no traffic, so the monitor's error alarms cannot close on their own;
        left open they would cap the ramp and eject the target again. The probes refute only failures they
        can tell from the baseline: either they saw the failure themselves (a failure streak ejected the
        target, or a round failed with most probes of all rounds since the last restore failing) and now
        see it gone, or the round passes the same sequential test
        against the alarm's own failure rate (an outage's ~100 % yes, a rise to 8 % no; that one waits for
        the monitor). The alarm's rate is a sliding-window mean that an outage's first calls barely move,
        hence the first way. Latency and quality alarms always wait for the monitor's recovery.
        """
        p = self.policy
        closed: list[str] = []
        for key, a in target.open.items():
            if a.signal not in _HARD_FAILURE_SIGNALS or a.at > target.probing_since:
                continue
            rate = p.probe_failing_failure_rate if a.level is None else min(a.level, 1 - 1e-9)
            if target.outage_seen:
                closed.append(key)
            elif rate > p.probe_baseline_failure_rate:
                llr = (target.probe_ok * math.log((1 - rate) / (1 - p.probe_baseline_failure_rate))
                       + target.probe_fail * math.log(rate / p.probe_baseline_failure_rate))  # fmt: skip
                if llr <= self._accept:
                    closed.append(key)
        for key in closed:
            del target.open[key]
        return closed

    def _start_ramp(self, target: _Target, start: float, reason: str, now: float, moves: list[Transition]) -> None:
        target.ramp_start = now
        target.ramp_from = max(self.policy.ramp_floor, min(1.0, start))
        if target.recovered_at is None or target.recovered_at < now:
            target.recovered_at = now
        self._move(target, TargetState.RAMPING, reason, now, moves)
        if self.policy.ramp_s <= 0:
            self._finish_ramp(target, now, moves)

    def _finish_ramp(self, target: _Target, now: float, moves: list[Transition]) -> None:
        demoting = [a for a in target.open.values() if a.demotes]
        if demoting:
            self._move(target, TargetState.DEGRADED, "slow start over but still open: " + "; ".join(
                a.explanation for a in demoting), now, moves)  # fmt: skip
        else:
            self._move(target, TargetState.HEALTHY, f"back at baseline; slow start over after {self.policy.ramp_s:g} s",
                       now, moves)  # fmt: skip

    def _rearming(self, target: _Target, now: float) -> bool:
        return target.recovered_at is not None and now - target.recovered_at < self.policy.rearm_s

    # --- outputs ------------------------------------------------------------------------------------
    def _publish(self, moves: list[Transition]) -> None:
        """Deliver every transition made so far, oldest first, outside the lock.

        Transitions are queued under the lock as they are made and delivered by one thread at a time,
        so a restore and a re-ejection made close together by two threads (or by a subscriber calling
        back into the book) never reach a subscriber in the wrong order. A thread that finds another
        one delivering leaves its transitions to it.
        """
        if not moves:
            return
        with self._lock:
            if self._delivering:
                return
            self._delivering = True
        try:
            while True:
                with self._lock:
                    if not self._outbox:
                        self._delivering = False
                        return
                    move = self._outbox.popleft()
                    subscribers = self._subscribers
                self._notify(move, subscribers)
        except BaseException:
            with self._lock:
                self._delivering = False
            raise

    def _notify(self, move: Transition, subscribers: tuple[Callable[[Transition], Any], ...]) -> None:
        level = logging.WARNING if move.new in (TargetState.EJECTED, TargetState.DEGRADED) else logging.INFO
        log.log(level, "routewatch router: %s %s -> %s: %s", move.target, move.old.value, move.new.value,
                move.reason, extra={"routewatch_transition": move.as_dict()})  # fmt: skip
        for fn in subscribers:
            try:
                fn(move)
            except Exception:
                self.callback_errors += 1
                log.warning("routewatch health subscriber %r failed", fn, exc_info=True)

    def _observations(self) -> tuple[list[Observation], list[Observation]]:
        states: list[Observation] = []
        weights: list[Observation] = []
        for name, health in self.status().items():
            base = {"routewatch.router.target": name, "gen_ai.provider.name": health.provider,
                    "gen_ai.request.model": health.model}  # fmt: skip
            for state in TargetState:
                states.append(Observation(int(health.state is state), {**base, "routewatch.router.state": state.value}))
            weights.append(Observation(health.weight_factor, base))
        return states, weights


def _alarm_key(alarm: Alarm) -> str:
    """One open alarm per signal and stream: chat latency and embeddings latency are two alarms."""
    key = alarm.key
    parts = ([] if key.operation == "chat" else [key.operation]) + [f"{k}={v}" for k, v in key.extra]
    return f"{alarm.signal} ({', '.join(parts)})" if parts else alarm.signal


def _failure_label(status_code: int | None, error_type: str | None) -> str:
    if status_code is not None:
        return str(status_code)
    return error_type or "error"


def _streak_reason(labels: tuple[str, ...]) -> str:
    if len(set(labels)) == 1:
        label = labels[0]
        return f"{len(labels)} consecutive {label}s" if label.isdigit() else f"{len(labels)} consecutive {label} errors"
    return f"{len(labels)} consecutive failures ({', '.join(labels)})"
