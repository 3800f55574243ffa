"""The collector's own view of the fleet: per stream, what the last calls looked like, and per
provider/model, a verdict from a `HealthBook` fed by the drift monitor's alarms.

The detectors know each signal's baseline; they do not keep a "current" figure a person can read.
`Fleet` keeps one for them: per stream and signal, the last `window` values (a bounded ring), and
monotonic call and error counts for `/metrics`. The verdict (healthy, degraded, ejected, ...) is the
same state machine an app's router runs, so the status page and the health feed say what a router
attached to this collector would do.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..drift.alarm import Alarm, StreamKey
from ..drift.detectors.rates import BernoulliCUSUM
from ..drift.detectors.registry import DETECTORS
from ..drift.monitor import DriftMonitor
from ..records import CallRecord
from ..router.health import HealthBook, HealthPolicy, TargetHealth, Transition

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


@dataclass(frozen=True, slots=True)
class RecentStats:
    """The last values of one signal of one stream (rates: share of 1s in `mean`)."""

    n: int
    mean: float
    p50: float
    p95: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "mean": self.mean, "p50": self.p50, "p95": self.p95}


def _summary(values: list[float], binary: bool) -> RecentStats | None:
    """Count, mean, p50 and p95 (linear interpolation); 0/1 signals without sorting."""
    n = len(values)
    if n == 0:
        return None
    total = sum(values)
    if binary:  # sorted, the values are n - k zeros then k ones
        ones = round(total)

        def at(i: int) -> float:
            return 1.0 if i >= n - ones else 0.0
    else:
        xs = sorted(values)

        def at(i: int) -> float:
            return xs[i]

    def q(p: float) -> float:
        pos = p * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return at(lo) + (at(hi) - at(lo)) * (pos - lo)

    return RecentStats(n, total / n, q(0.5), q(0.95))


class _Ring:
    """The last `size` values of one signal, compact: float32 (4 bytes a value; figures for people,
    not for the detectors), or one byte a value for 0/1 signals. A deque of floats costs 32."""

    __slots__ = ("n", "pos", "values")

    def __init__(self, size: int, binary: bool) -> None:
        self.values: array[Any] = array("B" if binary else "f", bytes((1 if binary else 4) * size))
        self.pos = 0
        self.n = 0

    def push(self, value: float) -> None:
        values = self.values
        pos = self.pos
        if values.typecode == "B":
            values[pos] = 1 if value else 0
        else:
            values[pos] = value
        pos += 1
        self.pos = 0 if pos == len(values) else pos
        if self.n < len(values):
            self.n += 1

    def __len__(self) -> int:
        return self.n

    def to_list(self) -> list[float]:
        """Oldest first."""
        values, pos, n = self.values, self.pos, self.n
        ordered = values[:n] if n < len(values) else values[pos:] + values[:pos]
        return [float(v) for v in ordered]


class _StreamView:
    __slots__ = ("calls", "errors", "last_seen", "values")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.last_seen = 0.0
        self.values: dict[str, _Ring] = {}


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
        self.max_streams = max_streams
        self.book = HealthBook(policy, clock=clock, meter_provider=meter_provider)
        self._clock = clock
        self._streams: OrderedDict[StreamKey, _StreamView] = OrderedDict()
        self._targets: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted_streams = 0

    # --- inputs -------------------------------------------------------------------------------------
    def observe(self, call: CallRecord, key: StreamKey | None = None) -> None:
        """Count one finished call and remember its signal values (same signals the monitor sees)."""
        stream_key = key or StreamKey(call.provider, call.request_model or call.response_model or "unknown",
                                      call.operation)  # fmt: skip
        name = self._ensure_target(stream_key)
        # The calls the fleet's routers make are evidence for the collector's verdict too: hard
        # failures in a row eject, and while probing, observed calls stand in for probes.
        probe = self.book.take_probe(name)
        self.book.on_result(name, ok=call.ok, status_code=call.status_code, error_type=call.error_type,
                            latency_s=call.duration_s, probe=probe)  # fmt: skip
        with self._lock:
            view = self._view(stream_key)
            view.calls += 1
            view.errors += 0 if call.ok else 1
            view.last_seen = self._clock()
            for signal, value in DriftMonitor.signals_of(call):
                if self.signals is not None and signal not in self.signals:
                    continue
                ring = view.values.get(signal)
                if ring is None:
                    ring = view.values[signal] = _Ring(self.window, is_rate(signal))
                ring.push(value)

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
            rings = {s: v.to_list() for s, v in view.values.items()} if view is not None else {}
        return {
            signal: stats for signal, ring in rings.items() if (stats := _summary(ring, is_rate(signal))) is not None
        }

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
