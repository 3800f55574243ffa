"""RecentValues: each signal's last `window` values of one stream, in one float32 array and one bit
a value for 0/1 signals; the summaries are those of the plain list of the last values."""

from __future__ import annotations

import random
from array import array
from collections import deque

import pytest

from routewatch.collector.recent import RecentLayout, RecentStats, RecentValues

RATES = {"error", "truncated"}


def expected(values: deque[float]) -> RecentStats:
    """The summary straight from the definition: count, mean, and interpolated p50 / p95."""
    xs = sorted(values)
    n = len(xs)

    def q(p: float) -> float:
        pos = p * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return RecentStats(n, sum(values) / n, q(0.5), q(0.95))


@pytest.mark.parametrize("window", [1, 7, 8, 9, 200])
def test_summaries_are_those_of_the_last_window_values_of_each_signal(window: int) -> None:
    rng = random.Random(window)
    layout = RecentLayout(window, RATES.__contains__)
    streams = [RecentValues() for _ in range(3)]
    kept = [dict[str, deque[float]]() for _ in streams]
    for i in range(3 * window + 5):
        for recent, reference in zip(streams, kept, strict=True):
            # signals come and go: latency only from some calls, ttft appears late
            values = [("error", float(rng.random() < 0.3))]
            if rng.random() < 0.8:
                values.append(("latency", rng.lognormvariate(0, 0.5)))
            if i > window:
                values += [("ttft", rng.random()), ("truncated", float(rng.random() < 0.1))]
            recent.push(layout, values)
            for signal, value in values:
                as_stored = array("f", [value])[0] if signal not in RATES else value
                reference.setdefault(signal, deque(maxlen=window)).append(as_stored)
    for recent, reference in zip(streams, kept, strict=True):
        assert recent.stats(layout) == {signal: expected(values) for signal, values in reference.items()}


def test_a_stream_holds_one_float_array_and_one_bit_a_value_for_rates() -> None:
    layout = RecentLayout(200, RATES.__contains__)
    recent = RecentValues()
    recent.push(layout, [("error", 1.0), ("latency", 0.5), ("truncated", 0.0), ("ttft", 0.1)])
    assert len(recent.floats) == 2 * 200
    assert len(recent.bits) == 2 * 25
    assert recent.stats(layout)["error"] == RecentStats(1, 1.0, 1.0, 1.0)


def test_signals_other_streams_saw_do_not_show_in_a_stream_that_never_had_them() -> None:
    layout = RecentLayout(10, RATES.__contains__)
    first, second = RecentValues(), RecentValues()
    first.push(layout, [("latency", 1.0)])
    second.push(layout, [("ttft", 2.0)])
    assert set(first.stats(layout)) == {"latency"} and set(second.stats(layout)) == {"ttft"}
