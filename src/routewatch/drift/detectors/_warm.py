"""A continuous detector's warm-up values, on a fine grid and compressed while they are collected.

``LogScaleCUSUM`` keeps its first ``warm_up`` transformed values to fit its baseline, and a fleet of
streams at warm-up holds them for every continuous signal of every stream: 4 bytes a value as
float32, 4 KB a detector, most of what a young stream costs. The fit only needs them as a multiset
(sorted for the quantile knots, counted for the atoms, summed with ``math.fsum``), and only to a
precision far below their sampling error: values are kept on a grid of ``STEP`` = 1/4096 (in log
units for the log transform: 0.024 % of a latency, a cost or a token rate; a quantile knot from
1,000 values is uncertain by ~4 % of the spread, ~100 grid steps at a 0.6 log-sd). The grid's codes
are held sorted, as the deflated byte planes of their gaps: measured on the collector benchmark's
streams at 999 values, latency-like values deflate to ~0.7 bytes a value and token counts or prices
to ~0.2; with the buffer of fresh codes, ~0.9 and ~0.4 (2.5-2.9 and 0.5 as deflated float32). Values
off the grid's range (``|y| >= 2048``: only untransformed signals of that size, and infinities) are
kept apart as float32, where float32 is no finer than the grid. Iteration gives the grid values,
sorted (then the fresh ones, then those apart).
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain, islice
from operator import sub
from typing import overload

__all__ = ["FRESH", "STEP", "WarmValues", "on_grid"]

FRESH = 64  # values appended before they are packed (one deflate per FRESH values)
_SCALE = 4096.0  # grid steps per unit
STEP = 1.0 / _SCALE
_LIMIT = 2048.0  # |y| below: on the grid (codes < 2**23, so a grid value is a float32 exactly)
_PLANES = (3, 2, 1, 0) if sys.byteorder == "little" else (0, 1, 2, 3)  # most significant byte first
_F32 = struct.Struct("f")
_NOTHING: array[float] = array("f")  # shared: no values kept apart (nearly every detector)


def on_grid(y: float) -> float:
    """The value a warm-up keeps for ``y``: the nearest grid value, or off the grid its float32."""
    if -_LIMIT < y < _LIMIT:
        return round(y * _SCALE) * STEP
    return _F32.unpack(_F32.pack(y))[0]  # type: ignore[no-any-return]


class WarmValues(Sequence[float]):
    """Values appended one at a time, held on the grid, sorted and deflated (see the module)."""

    __slots__ = ("_apart", "_first", "_fresh", "_n", "_packed")

    def __init__(self, values: Iterable[float] = ()) -> None:
        self._packed = b""  # deflated byte planes of the gaps between `_n` sorted codes
        self._first = 0  # the smallest packed code
        self._n = 0
        self._fresh: array[int] = array("i")
        self._apart = _NOTHING
        for v in values:
            self.append(v)

    def append(self, value: float) -> None:
        if -_LIMIT < value < _LIMIT:
            self._fresh.append(round(value * _SCALE))
            if len(self._fresh) >= FRESH:
                self._pack()
        else:
            if self._apart is _NOTHING:
                self._apart = array("f")
            self._apart.append(value)

    def _pack(self) -> None:
        codes = sorted(chain(self._codes(), self._fresh))  # a merge: the packed codes are sorted already
        gaps = array("I", map(sub, islice(codes, 1, None), codes))
        raw = gaps.tobytes()
        self._packed = zlib.compress(b"".join(raw[k::4] for k in _PLANES), 6)
        self._first = codes[0]
        self._n = len(codes)
        self._fresh = array("i")

    def _codes(self) -> Iterator[int]:
        """The packed codes, sorted."""
        n = self._n
        if not n:
            return iter(())
        m = n - 1
        planes = zlib.decompress(self._packed)
        raw = bytearray(4 * m)
        for i, k in enumerate(_PLANES):
            raw[k::4] = planes[i * m : (i + 1) * m]
        gaps = array("I")
        gaps.frombytes(raw)
        return accumulate(gaps, initial=self._first)

    def _values(self) -> list[float]:
        """Every value: the packed ones (sorted), then the fresh ones, then those off the grid."""
        out = [c * STEP for c in chain(self._codes(), self._fresh)]
        out.extend(self._apart)
        return out

    def __len__(self) -> int:
        return self._n + len(self._fresh) + len(self._apart)

    def __iter__(self) -> Iterator[float]:
        return iter(self._values())

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        """In iteration order (unpacks them all: for inspection, not for a hot path)."""
        return self._values()[index]

    @property
    def nbytes(self) -> int:
        """Bytes held by the values (their compressed form, the fresh codes, those kept apart)."""
        apart = 0 if self._apart is _NOTHING else sys.getsizeof(self._apart)
        return sys.getsizeof(self._packed) + sys.getsizeof(self._fresh) + apart
