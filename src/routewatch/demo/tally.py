"""What the demo shows: rolling per-provider statistics from CallRecords, routing counts and events."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..drift.quality import quality_verdicts
from ..records import CallRecord
from .scenarios import Target

__all__ = ["Event", "Row", "Tally"]


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # seconds since the run started
    kind: str  # phase | alarm | recovered | transition | probe
    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Row:
    rate: float  # calls per second over the window
    p95_latency_s: float | None
    p95_ttft_s: float | None
    error_rate: float | None
    quality_failure_rate: float | None  # structured outputs invalid, refusals, empty replies
    cost_usd: float
    calls: int
    unpriced: int


@dataclass
class _Window:
    points: deque[tuple[float, float | None, float | None, bool, int | None]] = field(default_factory=deque)
    calls: int = 0
    cost: float = 0.0
    unpriced: int = 0


class Tally:
    """Thread-safe: fed by the routewatch listener thread and the workload threads, read by the view."""

    def __init__(self, targets: tuple[Target, ...], window_s: float = 4.0) -> None:
        self.started = time.monotonic()
        self.window_s = window_s
        self.targets = targets
        self._by_key = {(t.provider, t.model): t.name for t in targets}
        self._windows = {t.name: _Window() for t in targets}
        self._routed: list[tuple[float, str, bool]] = []  # (at, target, probe)
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started

    def event(self, kind: str, target: str, text: str) -> Event:
        ev = Event(round(self.now(), 2), kind, target, text)
        with self._lock:
            self.events.append(ev)
        return ev

    def routed(self, target: str, probe: bool) -> None:
        with self._lock:
            self._routed.append((self.now(), target, probe))

    def target_of(self, provider: str, model: str) -> str | None:
        return self._by_key.get((provider, model))

    def on_record(self, record: CallRecord) -> None:
        name = self._by_key.get((record.provider, record.request_model or ""))
        if name is None:
            return
        verdicts = quality_verdicts(record)
        quality = None if not verdicts else int(any(verdicts.get(s) for s in ("schema_invalid", "refusal", "empty")))
        latency = record.duration_s if record.ok else None
        point = (self.now(), latency, record.time_to_first_chunk_s, not record.ok, quality)
        with self._lock:
            w = self._windows[name]
            w.points.append(point)
            w.calls += 1
            if record.cost_usd is not None:
                w.cost += record.cost_usd
            elif not record.priced:
                w.unpriced += 1

    def row(self, name: str) -> Row:
        now = self.now()
        with self._lock:
            w = self._windows[name]
            while w.points and w.points[0][0] < now - self.window_s:
                w.points.popleft()
            points = list(w.points)
            calls, cost, unpriced = w.calls, w.cost, w.unpriced
        span = min(self.window_s, max(now, 1e-3))
        latencies = [p[1] for p in points if p[1] is not None]
        ttfts = [p[2] for p in points if p[2] is not None]
        judged = [p[4] for p in points if p[4] is not None]
        return Row(
            rate=len(points) / span,
            p95_latency_s=_p95(latencies),
            p95_ttft_s=_p95(ttfts),
            error_rate=sum(p[3] for p in points) / len(points) if points else None,
            quality_failure_rate=sum(judged) / len(judged) if judged else None,
            cost_usd=cost,
            calls=calls,
            unpriced=unpriced,
        )

    def shares(self, start: float, end: float) -> tuple[dict[str, float], int]:
        """Share of ordinary (non-probe) requests routed to each target in [start, end), and their count."""
        with self._lock:
            picked = [t for at, t, probe in self._routed if start <= at < end and not probe]
        total = len(picked)
        return {t.name: (picked.count(t.name) / total if total else 0.0) for t in self.targets}, total

    def probes(self, target: str) -> int:
        """Requests the router sent to `target` as probes."""
        with self._lock:
            return sum(1 for _, t, probe in self._routed if probe and t == target)


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
