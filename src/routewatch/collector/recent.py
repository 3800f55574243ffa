"""The last values of every signal of one stream, compact: what the collector's "current" figures
(p50, p95, rates on `/metrics`, the health feed and the status page) are computed from.

A fleet holds thousands of streams, each with a dozen signals and a window of ~200 values per
signal, so the layout is what the memory is: per stream, one array of 16-bit codes for the
continuous signals and one bit a value for 0/1 signals, each signal a fixed slice of them. A code
is a value's sign and its log on a grid of 1/1024 (`encode`): 2 bytes a value, within 0.05 % of it
from 2.1e-9 to 162,754 (a cost of 1e-8 USD, a latency of 1e-4 s, a 128k-token reply; past those,
the edge), so a round figure shown to three digits reads as it is (600 ms stays 600 ms). That
is what figures for people need; the detectors keep their own state. float32 took twice the
memory, ~2.4 MB per 1,000 streams; float16 holds neither a 100,000-token reply nor a small cost.
The slices are numbered once per fleet (`RecentLayout`), so a stream keeps no table of its own.
An array (with its 64-byte header) per signal and a dict of them cost half as much again.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["RecentLayout", "RecentStats", "RecentValues", "decode", "encode"]

_PER_UNIT = 1024.0  # steps per unit of log: a value is kept within exp(1 / 2048) - 1 < 0.05 % of itself
_MIDDLE = 20480  # the step of a magnitude of 1: magnitudes from exp(-20) to exp(12)
_TOP = 32767  # steps of each sign
_ZERO = 32768  # the code of zero; positive values above it, negative ones below (the order of the values)


def encode(value: float) -> int:
    """A value's unsigned 16-bit code: ``_ZERO`` for zero (and NaN), else ``_ZERO`` plus or minus
    (by its sign) 1 + its log magnitude on the grid, clamped to |value| in [exp(-20), exp(12)]
    (~2.1e-9 to 162,754). Codes sort as their values do."""
    if value != value or value == 0.0:
        return _ZERO
    magnitude = abs(value)
    m = int(math.log(magnitude) * _PER_UNIT + (_MIDDLE + 0.5)) if magnitude < math.inf else _TOP
    m = m if 0 < m <= _TOP else (1 if m <= 0 else _TOP)
    return _ZERO + m if value > 0.0 else _ZERO - m


def decode(code: int) -> float:
    """The value a code stands for (the middle of its step)."""
    if code > _ZERO:
        return math.exp((code - _ZERO - _MIDDLE) / _PER_UNIT)
    return -math.exp((_ZERO - code - _MIDDLE) / _PER_UNIT) if code < _ZERO else 0.0


_TABLE: array[float] = array("d")  # decode(c) at c, made on first use (512 KB, once a process)


def decoded(codes: Iterable[int]) -> list[float]:
    """`decode` of many codes, by table."""
    global _TABLE
    if not _TABLE:
        _TABLE = array("d", map(decode, range(2 * _ZERO)))
    return list(map(_TABLE.__getitem__, codes))


@dataclass(frozen=True, slots=True)
class RecentStats:
    """The last values of one signal of one stream (rates: share of 1s in `mean`)."""

    n: int
    mean: float
    p50: float
    p95: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "mean": self.mean, "p50": self.p50, "p95": self.p95}


def _quantile(at: Callable[[int], float], n: int, p: float) -> float:
    """Linear interpolation between the order statistics `at(i)` of `n` values."""
    pos = p * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return at(lo) + (at(hi) - at(lo)) * (pos - lo)


def _float_stats(values: list[float]) -> RecentStats:
    xs = sorted(values)
    n = len(xs)
    return RecentStats(n, sum(values) / n, _quantile(xs.__getitem__, n, 0.5), _quantile(xs.__getitem__, n, 0.95))


def _rate_stats(n: int, ones: int) -> RecentStats:
    """Sorted, the values are n - ones zeros then `ones` ones: no sorting needed."""

    def at(i: int) -> float:
        return 1.0 if i >= n - ones else 0.0

    return RecentStats(n, float(ones) / n, _quantile(at, n, 0.5), _quantile(at, n, 0.95))


class RecentLayout:
    """Where each signal's values live in every stream's `RecentValues` (numbered on first sight)."""

    def __init__(self, window: int, binary: Callable[[str], bool]) -> None:
        """`binary(signal)`: whether the signal is 0/1 (kept as bits; only its rate means anything)."""
        if window < 1:
            raise ValueError("window >= 1 is required")
        self.window = window
        self.row_bytes = (window + 7) // 8  # one 0/1 signal's bits
        self.counter = "H" if window < 1 << 16 else "I"  # typecode of a stream's heads and counts
        # signal -> (column, binary, where its row starts: in the codes for values, in `bits` for 0/1)
        self.columns: dict[str, tuple[int, bool, int]] = {}
        self.floats = 0
        self.bits = 0
        self._binary = binary

    def column(self, signal: str) -> tuple[int, bool, int]:
        found = self.columns.get(signal)
        if found is None:
            binary = self._binary(signal)
            start = self.bits * self.row_bytes if binary else self.floats * self.window
            found = self.columns[signal] = (len(self.columns), binary, start)
            if binary:
                self.bits += 1
            else:
                self.floats += 1
        return found


class RecentValues:
    """The last `layout.window` values of each signal of one stream."""

    __slots__ = ("bits", "codes", "ring")

    def __init__(self) -> None:
        self.codes: array[int] = array("H")  # codes (`encode`) of the continuous signals' values
        self.bits = bytearray()
        # per column c: ring[2c] where its next value goes, ring[2c + 1] values held (up to the window)
        self.ring: array[int] = array("H")

    def push(self, layout: RecentLayout, values: Iterable[tuple[str, float]]) -> None:
        """Remember one call's values (the oldest value of each signal drops out of a full window)."""
        window = layout.window
        columns = layout.columns
        ring, codes, bits = self.ring, self.codes, self.bits
        log, inf, per_unit, half_up, zero, top = math.log, math.inf, _PER_UNIT, _MIDDLE + 0.5, _ZERO, _TOP
        for signal, value in values:
            place = columns.get(signal)
            if place is None or 2 * place[0] >= len(ring):  # a signal new to the fleet or to this stream
                place = layout.column(signal)
                if 2 * place[0] >= len(ring):
                    self._grow(layout)
                    ring, codes, bits = self.ring, self.codes, self.bits
            column, binary, start = place
            at = column + column
            head = ring[at]
            if binary:
                if value:
                    bits[start + (head >> 3)] |= 1 << (head & 7)
                else:
                    bits[start + (head >> 3)] &= ~(1 << (head & 7))
            elif 0.0 < value < inf:  # `encode`, inlined for the common case
                m = int(log(value) * per_unit + half_up)  # floor(x + 0.5): the nearest step
                codes[start + head] = zero + (m if 0 < m <= top else (1 if m <= 0 else top))
            else:
                codes[start + head] = encode(value)
            ring[at] = head + 1 if head + 1 < window else 0
            held = ring[at + 1]
            if held < window:
                ring[at + 1] = held + 1

    def stats(self, layout: RecentLayout) -> dict[str, RecentStats]:
        """Per signal seen in this stream, the summary of its last values."""
        window, row = layout.window, layout.row_bytes
        ring = self.ring
        out: dict[str, RecentStats] = {}
        for signal, (column, binary, start) in layout.columns.items():
            n = ring[2 * column + 1] if 2 * column < len(ring) else 0
            if n == 0:
                continue
            if binary:  # bits never written are 0, so the row's set bits are the ones held
                ones = int.from_bytes(self.bits[start : start + row], "little").bit_count()
                out[signal] = _rate_stats(n, ones)
            else:
                head = ring[2 * column]
                values = self.codes[start : start + window]
                ordered = values[:n] if n < window else values[head:] + values[:head]  # oldest first
                out[signal] = _float_stats(decoded(ordered))
        return out

    def _grow(self, layout: RecentLayout) -> None:
        """Room for every column the layout has now (a stream grows when it first sees a signal).
        Concatenation allocates exactly what is asked; appending would over-allocate."""
        ring = self.ring if self.ring.typecode == layout.counter else array(layout.counter, self.ring)
        self.ring = ring + array(layout.counter, [0]) * (2 * len(layout.columns) - len(ring))
        self.codes = self.codes + array("H", [_ZERO]) * (layout.floats * layout.window - len(self.codes))
        self.bits = self.bits + bytes(layout.bits * layout.row_bytes - len(self.bits))
