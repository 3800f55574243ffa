"""The last values of every signal of one stream, compact: what the collector's "current" figures
(p50, p95, rates on `/metrics`, the health feed and the status page) are computed from.

A fleet holds thousands of streams, each with a dozen signals and a window of ~200 values per
signal, so the layout is what the memory is: per stream, one float32 array for the continuous
signals (4 bytes a value; figures for people, not for the detectors) and one bit a value for 0/1
signals, each signal a fixed slice of them. The slices are numbered once per fleet
(`RecentLayout`), so a stream keeps no table of its own. An array (with its 64-byte header) per
signal and a dict of them cost half as much again.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["RecentLayout", "RecentStats", "RecentValues"]


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
        # signal -> (column, binary, index among the signals of its kind)
        self.columns: dict[str, tuple[int, bool, int]] = {}
        self.floats = 0
        self.bits = 0
        self._binary = binary

    def column(self, signal: str) -> tuple[int, bool, int]:
        found = self.columns.get(signal)
        if found is None:
            binary = self._binary(signal)
            found = self.columns[signal] = (len(self.columns), binary, self.bits if binary else self.floats)
            if binary:
                self.bits += 1
            else:
                self.floats += 1
        return found


class RecentValues:
    """The last `layout.window` values of each signal of one stream."""

    __slots__ = ("bits", "counts", "floats", "heads")

    def __init__(self) -> None:
        self.floats: array[float] = array("f")
        self.bits = bytearray()
        self.heads: array[int] = array("I")  # per column: where its next value goes
        self.counts: array[int] = array("I")  # per column: values held (up to the window)

    def push(self, layout: RecentLayout, values: Iterable[tuple[str, float]]) -> None:
        """Remember one call's values (the oldest value of each signal drops out of a full window)."""
        window = layout.window
        columns = layout.columns
        heads, counts = self.heads, self.counts
        for signal, value in values:
            column, binary, index = columns.get(signal) or layout.column(signal)
            if column >= len(heads):
                self._grow(layout)
                heads, counts = self.heads, self.counts
            head = heads[column]
            if binary:
                byte = index * layout.row_bytes + (head >> 3)
                if value:
                    self.bits[byte] |= 1 << (head & 7)
                else:
                    self.bits[byte] &= ~(1 << (head & 7))
            else:
                self.floats[index * window + head] = value
            head += 1
            heads[column] = 0 if head == window else head
            if counts[column] < window:
                counts[column] += 1

    def stats(self, layout: RecentLayout) -> dict[str, RecentStats]:
        """Per signal seen in this stream, the summary of its last values."""
        window, row = layout.window, layout.row_bytes
        out: dict[str, RecentStats] = {}
        for signal, (column, binary, index) in layout.columns.items():
            n = self.counts[column] if column < len(self.counts) else 0
            if n == 0:
                continue
            if binary:  # bits never written are 0, so the row's set bits are the ones held
                ones = int.from_bytes(self.bits[index * row : (index + 1) * row], "little").bit_count()
                out[signal] = _rate_stats(n, ones)
            else:
                start, head = index * window, self.heads[column]
                ring = self.floats[start : start + window]
                ordered = ring[:n] if n < window else ring[head:] + ring[:head]  # oldest first
                out[signal] = _float_stats(ordered.tolist())
        return out

    def _grow(self, layout: RecentLayout) -> None:
        """Room for every column the layout has now (a stream grows when it first sees a signal).
        Concatenation allocates exactly what is asked; appending would over-allocate."""
        grow = len(layout.columns) - len(self.heads)
        self.heads = self.heads + array("I", [0]) * grow
        self.counts = self.counts + array("I", [0]) * grow
        self.floats = self.floats + array("f", [0.0]) * (layout.floats * layout.window - len(self.floats))
        self.bits = self.bits + bytes(layout.bits * layout.row_bytes - len(self.bits))
