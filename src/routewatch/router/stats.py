"""Live per-target statistics the cost and latency strategies read: p95 latency, error rate, quality
failure rate, mean cost, time-to-first-token p95 per prompt-length bucket.

Two feeds: the router's own outcome of every attempt (ok, latency, time to first chunk) and, when
routewatch instruments the SDK, the finished `CallRecord` (actual cost, quality verdicts), matched to
the target by the `router_target` tag the router sets around each call. Samples older than
`window_s` or beyond `max_samples` are forgotten, so a target that was slow an hour ago is judged
on what it does now. Summaries are cached until the next sample (or a second passes).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LiveStats", "StatsBook", "TargetStats", "bucket_of", "percentile"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class TargetStats:
    """One target's summary over the window; rates and percentiles are None below one sample."""

    calls: int = 0
    errors: int = 0
    error_rate: float | None = None
    p95_latency_s: float | None = None
    judged: int = 0
    quality_failure_rate: float | None = None
    priced: int = 0
    mean_cost_usd: float | None = None
    ttft_p95_s: dict[int, float] = field(default_factory=dict)  # bucket index -> p95
    ttft_samples: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p95_latency_s": self.p95_latency_s,
            "judged": self.judged,
            "quality_failure_rate": self.quality_failure_rate,
            "priced": self.priced,
            "mean_cost_usd": self.mean_cost_usd,
            "ttft_p95_s": {str(k): v for k, v in self.ttft_p95_s.items()},
        }


class LiveStats:
    """Bounded, time-windowed samples of one target."""

    def __init__(self, window_s: float, max_samples: int, clock: Callable[[], float]) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._outcomes: deque[tuple[float, bool, float | None, float | None, int]] = deque(maxlen=max_samples)
        self._records: deque[tuple[float, float | None, bool | None]] = deque(maxlen=max_samples)
        self._cached: TargetStats | None = None
        self._cached_at = -math.inf
        self._dirty = False

    def add_outcome(self, ok: bool, latency_s: float | None, ttft_s: float | None = None, bucket: int = 0) -> None:
        with self._lock:
            self._outcomes.append((self._clock(), ok, latency_s, ttft_s, bucket))
            self._dirty = True

    def add_record(self, cost_usd: float | None, quality_failed: bool | None) -> None:
        with self._lock:
            self._records.append((self._clock(), cost_usd, quality_failed))
            self._dirty = True

    def summary(self, *, fresh: bool = True) -> TargetStats:
        """The window's summary; `fresh=False` (the routing path) accepts one up to a second old,
        so a busy router sorts its samples about once a second, not once a request."""
        now = self._clock()
        with self._lock:
            if self._cached is not None and (not fresh or not self._dirty) and now - self._cached_at < 1.0:
                return self._cached
            horizon = now - self.window_s
            while self._outcomes and self._outcomes[0][0] < horizon:
                self._outcomes.popleft()
            while self._records and self._records[0][0] < horizon:
                self._records.popleft()
            self._cached = _summarise(list(self._outcomes), list(self._records))
            self._cached_at, self._dirty = now, False
            return self._cached


def _summarise(
    outcomes: list[tuple[float, bool, float | None, float | None, int]],
    records: list[tuple[float, float | None, bool | None]],
) -> TargetStats:
    calls = len(outcomes)
    errors = sum(1 for o in outcomes if not o[1])
    latencies = [o[2] for o in outcomes if o[1] and o[2] is not None]
    by_bucket: dict[int, list[float]] = {}
    for _, ok, _, ttft, bucket in outcomes:
        if ok and ttft is not None:
            by_bucket.setdefault(bucket, []).append(ttft)
    verdicts = [r[2] for r in records if r[2] is not None]
    costs = [r[1] for r in records if r[1] is not None]
    return TargetStats(
        calls=calls,
        errors=errors,
        error_rate=errors / calls if calls else None,
        p95_latency_s=percentile(latencies, 0.95),
        judged=len(verdicts),
        quality_failure_rate=sum(verdicts) / len(verdicts) if verdicts else None,
        priced=len(costs),
        mean_cost_usd=sum(costs) / len(costs) if costs else None,
        ttft_p95_s={b: v for b, xs in by_bucket.items() if (v := percentile(xs, 0.95)) is not None},
        ttft_samples={b: len(xs) for b, xs in by_bucket.items()},
    )


class StatsBook:
    """LiveStats per target name, created on first use."""

    def __init__(self, window_s: float, max_samples: int, clock: Callable[[], float]) -> None:
        self.window_s, self.max_samples, self._clock = window_s, max_samples, clock
        self._stats: dict[str, LiveStats] = {}
        self._lock = threading.Lock()

    def of(self, name: str) -> LiveStats:
        found = self._stats.get(name)
        if found is None:
            with self._lock:
                found = self._stats.setdefault(name, LiveStats(self.window_s, self.max_samples, self._clock))
        return found

    def summary(self, name: str, *, fresh: bool = True) -> TargetStats:
        return self.of(name).summary(fresh=fresh)

    def retain(self, names: set[str]) -> None:
        with self._lock:
            for name in [n for n in self._stats if n not in names]:
                del self._stats[name]


def bucket_of(tokens: int, bounds: tuple[int, ...]) -> int:
    """Index of the prompt-length bucket: 0 for <= bounds[0], ..., len(bounds) above the last."""
    return bisect.bisect_left(bounds, tokens)
