"""The collector's own view of the fleet: per stream, what the last calls looked like, and per
provider/model, a verdict from a `HealthBook` fed by the drift monitor's alarms.

The detectors know each signal's baseline; they do not keep a "current" figure a person can read.
`Fleet` keeps one for them: per stream and signal, the last `window` values (compact rings, see
`recent.py`), and monotonic call and error counts for `/metrics`. The verdict (healthy, degraded,
ejected, ...) is the same state machine an app's router runs, so the status page and the health
feed say what a router attached to this collector would do.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ..drift.alarm import Alarm, StreamKey
from ..drift.detectors.rates import BernoulliCUSUM
from ..drift.detectors.registry import DETECTORS
from ..drift.monitor import DriftMonitor
from ..records import CallRecord
from ..router.health import HealthBook, HealthPolicy, TargetHealth, Transition
from .recent import RecentLayout, RecentStats, RecentValues

__all__ = ["Fleet", "RecentStats", "closes_alarm", "is_rate", "target_name"]


def is_rate(signal: str) -> bool:
    """0/1 signals (error, refusal, ...): only their mean (the rate) means anything."""
    entry = DETECTORS.get(signal)
    return entry is not None and entry[0] is BernoulliCUSUM


def target_name(provider: str, model: str) -> str:
    """The fleet's name for a provider/model: `provider/model` (operations share one verdict)."""
    return f"{provider}/{model}"


def closes_alarm(alarm: Alarm) -> bool:
    """Whether a `recovered` alarm closes an open alarm (back at baseline) rather than reporting an
    improvement on a signal that was not in alarm. DriftMonitor gives both kind "recovered" and
    words only the improvement as "improvement: ..."."""
    return alarm.kind == "recovered" and not alarm.explanation.startswith("improvement")


class _StreamView(RecentValues):
    """A stream's counts and, being its `RecentValues` (one object, not two), its last values."""

    __slots__ = ("calls", "errors", "last_seen")

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.errors = 0
        self.last_seen = 0.0


class Fleet:
    """Recent figures per stream and a health verdict per provider/model, both bounded.

    `observe(call)` runs on the collector's worker after the monitor saw the call; `on_alarm` is
    subscribed to the monitor. Both are cheap and thread-safe. Streams beyond `max_streams` evict
    the least recently seen (their counters restart, which Prometheus' `rate()` tolerates).
    """

    def __init__(
        self, *, policy: HealthPolicy | None = None, window: int = 200, max_streams: int = 2_000,
        clock: Callable[[], float] = time.time, meter_provider: Any = None, signals: Iterable[str] | None = None,
    ) -> None:  # fmt: skip
        """`signals`: the ones the monitor watches (None: all); others are not figures worth showing
        (e.g. "empty" from spans without content, where every call would read as empty)."""
        if window < 1 or max_streams < 1:
            raise ValueError("window >= 1 and max_streams >= 1 are required")
        self.window = window
        self.signals = frozenset(signals) if signals is not None else None
        self._layout = RecentLayout(window, is_rate)
        self.max_streams = max_streams
        self.book = HealthBook(policy, clock=clock, meter_provider=meter_provider)
        self._clock = clock
        self._streams: OrderedDict[StreamKey, _StreamView] = OrderedDict()
        self._targets: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted_streams = 0

    # --- inputs -------------------------------------------------------------------------------------
    def observe(
        self, call: CallRecord, key: StreamKey | None = None, values: Iterable[tuple[str, float]] | None = None,
        *, watched: bool = False,
    ) -> None:  # fmt: skip
        """Count one finished call and remember its signal values (same signals the monitor sees).
        `values`: the call's (signal, value) pairs when the caller has them (`DriftMonitor.seen`);
        `watched`: they are only of the fleet's `signals` already (a monitor watching the same)."""
        stream_key = key or StreamKey(call.provider, call.request_model or call.response_model or "unknown",
                                      call.operation)  # fmt: skip
        name = self._ensure_target(stream_key)
        # The calls the fleet's routers make are evidence for the collector's verdict too: hard
        # failures in a row eject, and while probing, observed calls stand in for probes.
        self.book.on_observed(name, ok=call.ok, status_code=call.status_code, error_type=call.error_type,
                              latency_s=call.duration_s)  # fmt: skip
        if values is None:
            values = DriftMonitor.signals_of(call)
        if self.signals is not None and not watched:
            values = [(s, v) for s, v in values if s in self.signals]
        with self._lock:
            view = self._view(stream_key)
            view.calls += 1
            view.errors += 0 if call.ok else 1
            view.last_seen = self._clock()
            view.push(self._layout, values)

    def on_alarm(self, alarm: Alarm) -> None:
        """Alarms demote the provider/model, recoveries restore it (the HealthBook decides how)."""
        if alarm.kind == "change":
            return
        self._ensure_target(alarm.key)
        self.book.on_alarm(alarm)

    def subscribe(self, callback: Callable[[Transition], None]) -> None:
        """Call `callback(transition)` whenever a provider/model changes state."""
        self.book.subscribe(callback)

    # --- outputs ------------------------------------------------------------------------------------
    def recent(self, key: StreamKey) -> dict[str, RecentStats]:
        """Per signal, the summary of its last `window` values in this stream."""
        with self._lock:
            view = self._streams.get(key)
            return view.stats(self._layout) if view is not None else {}

    def counts(self) -> dict[StreamKey, tuple[int, int]]:
        """(calls, errors) per stream since the collector started (or the stream was last evicted)."""
        with self._lock:
            return {key: (view.calls, view.errors) for key, view in self._streams.items()}

    def streams(self) -> list[StreamKey]:
        with self._lock:
            return list(self._streams)

    def status(self) -> dict[str, TargetHealth]:
        """Verdict per provider/model, after applying any time-driven moves (end of an ejection, ramp)."""
        self.book.tick()
        return self.book.status()

    # --- internals ----------------------------------------------------------------------------------
    def _view(self, key: StreamKey) -> _StreamView:
        view = self._streams.get(key)
        if view is None:
            view = self._streams[key] = _StreamView()
            if len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)
                self.evicted_streams += 1
        else:
            self._streams.move_to_end(key)
        return view

    def _ensure_target(self, key: StreamKey) -> str:
        name = target_name(key.provider, key.model)
        with self._lock:
            if name in self._targets:
                self._targets.move_to_end(name)
                return name
            self._targets[name] = None
            evicted = self._targets.popitem(last=False)[0] if len(self._targets) > self.max_streams else None
        self.book.add_target(name, provider=key.provider, model=key.model)
        if evicted is not None:
            self.book.remove_target(evicted)
        return name
