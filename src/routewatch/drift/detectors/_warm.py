"""A continuous detector's warm-up values, compressed while they are collected.

``LogScaleCUSUM`` keeps its first ``warm_up`` transformed values (float32) to fit its baseline, and
a fleet of streams at warm-up holds them for every continuous signal of every stream: 4 bytes a
value, 4 KB a detector, most of what a young stream costs. The fit only needs them as a multiset
(sorted for the quantile knots, counted for the atoms, summed exactly with ``math.fsum``), so they
are kept sorted and losslessly compressed: the newest ``FRESH`` values as they came, the rest as
the bytes of their float32 values, sorted and split into byte planes (sign and exponent first),
then deflated. Sorted values share their high bytes, and repeated values (integer token counts, a
price) compress to almost nothing: measured on latency-like values ~2.5 bytes a value, on token
counts ~0.3. Iteration gives the same float32 values an ``array("f")`` would, in sorted order
(then the fresh ones); a fit from them is the fit from the values in arrival order.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

__all__ = ["FRESH", "WarmValues"]

FRESH = 64  # values appended before they are packed (one deflate per FRESH values)
_PLANES = (3, 2, 1, 0) if sys.byteorder == "little" else (0, 1, 2, 3)  # most significant byte first


class WarmValues(Sequence[float]):
    """float32 values, appended one at a time, held sorted and deflated (see the module)."""

    __slots__ = ("_fresh", "_n", "_packed")

    def __init__(self, values: Iterable[float] = ()) -> None:
        self._packed = b""  # deflated byte planes of `_n` sorted float32 values
        self._n = 0
        self._fresh: array[float] = array("f", values)
        if len(self._fresh) >= FRESH:
            self._pack()

    def append(self, value: float) -> None:
        self._fresh.append(value)
        if len(self._fresh) >= FRESH:
            self._pack()

    def _pack(self) -> None:
        values = array("f", sorted(self._values()))  # a merge: the packed values are sorted already
        raw = values.tobytes()
        self._packed = zlib.compress(b"".join(raw[k::4] for k in _PLANES), 6)
        self._n = len(values)
        self._fresh = array("f")

    def _values(self) -> array[float]:
        """Every value: the packed ones (sorted), then the fresh ones."""
        out: array[float] = array("f")
        n = self._n
        if n:
            planes = zlib.decompress(self._packed)
            raw = bytearray(4 * n)
            for i, k in enumerate(_PLANES):
                raw[k::4] = planes[i * n : (i + 1) * n]
            out.frombytes(raw)
        out.extend(self._fresh)
        return out

    def __len__(self) -> int:
        return self._n + len(self._fresh)

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
        """Bytes held by the values (their compressed form and the fresh ones' array)."""
        return sys.getsizeof(self._packed) + sys.getsizeof(self._fresh)
