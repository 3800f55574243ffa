"""RecentValues: each signal's last `window` values of one stream, as 16-bit codes (within 0.1 % of
each value) and one bit a value for 0/1 signals; the summaries are those of the plain list of the
last values as coded."""

from __future__ import annotations

import math
import random
from collections import deque

import pytest

from routewatch.collector.recent import RecentLayout, RecentStats, RecentValues, decode, encode

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
                as_stored = decode(encode(value)) if signal not in RATES else value
                reference.setdefault(signal, deque(maxlen=window)).append(as_stored)
    for recent, reference in zip(streams, kept, strict=True):
        assert recent.stats(layout) == {signal: expected(values) for signal, values in reference.items()}


def test_a_stream_holds_two_bytes_a_value_and_one_bit_a_value_for_rates() -> None:
    layout = RecentLayout(200, RATES.__contains__)
    recent = RecentValues()
    recent.push(layout, [("error", 1.0), ("latency", 0.5), ("truncated", 0.0), ("ttft", 0.1)])
    assert len(recent.codes) == 2 * 200 and recent.codes.itemsize == 2
    assert len(recent.bits) == 2 * 25
    assert recent.stats(layout)["error"] == RecentStats(1, 1.0, 1.0, 1.0)


def test_signals_other_streams_saw_do_not_show_in_a_stream_that_never_had_them() -> None:
    layout = RecentLayout(10, RATES.__contains__)
    first, second = RecentValues(), RecentValues()
    first.push(layout, [("latency", 1.0)])
    second.push(layout, [("ttft", 2.0)])
    assert set(first.stats(layout)) == {"latency"} and set(second.stats(layout)) == {"ttft"}


@pytest.mark.parametrize("value", [1.0, 0.5, 0.6, 2.2e-9, 1.7e-7, 2.3e-4, 0.033, 1_234.5, 131_072.0, -0.25, -3.0e4])
def test_a_code_keeps_a_value_within_half_a_thousandth(value: float) -> None:
    assert decode(encode(value)) == pytest.approx(value, rel=5e-4)


def test_codes_sort_as_their_values_and_the_edges_are_kept() -> None:
    values = sorted([-1e20, -5.0, -1e-3, -1e-20, 0.0, 1e-20, 1e-3, 0.999, 1.0, 1.001, 5.0, 1e20, float("inf")])
    codes = [encode(v) for v in values]
    assert codes == sorted(codes) and min(codes) > 0 and max(codes) < 1 << 16
    assert decode(encode(0.0)) == 0.0 and decode(encode(float("nan"))) == 0.0
    assert decode(encode(1e-20)) == pytest.approx(math.exp(-20), rel=1e-3)  # clamped to the range
    assert decode(encode(float("inf"))) == pytest.approx(math.exp(12), rel=1e-3)


def test_the_push_path_codes_values_as_encode_does() -> None:
    layout = RecentLayout(64, RATES.__contains__)
    recent = RecentValues()
    rng = random.Random(5)
    values = [rng.lognormvariate(-4, 6) for _ in range(60)] + [0.0, -2.0, 1e-30, 1e30]
    for v in values:
        recent.push(layout, [("latency", v)])
    assert list(recent.codes) == [encode(v) for v in values]
