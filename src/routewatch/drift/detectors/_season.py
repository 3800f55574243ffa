"""A detector's daily profile: the part of its location that repeats at the same time of day.

A continuous detector learns its location with a half-life of ~1,000 updates. That tracks a daily
cycle when a day holds many times as many calls; on a quieter stream (a call every few seconds, a day
of 14,400) the learnt location lags the cycle by a fifth of a standard deviation for hours, which is
the drift the small-shift CUSUM is there to catch (measured: 14.8 false alarms per 100,000 calls for a
+-25 % cycle). The profile takes the repeating part out, so the half-life follows only what does not.

* It needs timestamps (the monitor passes each call's) and starts an hour into the watch, so a
  short-lived stream pays nothing.
* For its first day it only collects values per two-hour bin and applies none: on day one a rise at
  some hour cannot be told from a regression, only a cycle seen to come back is seasonal.
* Then each bin holds its mean about the day's mean, read with linear interpolation between the
  bins' centres, and keeps learning at a rate of 1/visits down to 1/``MEMORY``, about a level that
  itself follows with a day's memory. It learns only when the detector's location does (no statistic past
  half its threshold, no alarm open), so a regression is not absorbed as "the usual for this hour".
"""

from __future__ import annotations

import math
from array import array
from typing import Any

__all__ = ["BINS", "DAY", "HOUR", "MEMORY", "MIN_VISITS", "DailyProfile"]

DAY = 86_400.0
HOUR = 3_600.0
BINS = 12  # two-hour bins, read with linear interpolation: a smooth day is within 1 % of a sine's swing
_WIDTH = DAY / BINS
MIN_VISITS = 20  # a bin with fewer day-one values starts at no offset
MEMORY = 2_000  # visits: the slowest rate at which a bin keeps learning
_LEVEL, _RATE = 2 * BINS, 2 * BINS + 1  # the last two slots of the array


class DailyProfile:
    """Two-hourly offsets of a location (log units for log-scale detectors) about a slow daily level.

    It reads the detector's values themselves (relative to the warm-up's median), not the residuals
    the detector's own location leaves: that location follows a fast cycle part of the way, and a
    profile learnt from what it leaves would learn only the rest, a little more each day.
    """

    __slots__ = ("_ready", "_since", "_v")

    def __init__(self, since: float) -> None:
        self._since = since
        self._ready = False
        # one float32 allocation (~170 B; thousands of streams): [0, BINS) day-one running means, then
        # offsets; [BINS, 2 BINS) visits (exact as float32 up to 2**24); then the daily level about
        # which the offsets are read, and its learning rate (one over a day's calls)
        self._v: array[float] = array("f", bytes(4 * (2 * BINS + 2)))

    def offset(self, t: float) -> float:
        """The profile's offset at time ``t``; 0 until a day of values is in."""
        if not self._ready:
            return 0.0
        h = (t % DAY) / _WIDTH - 0.5  # between the centres of bins i and i + 1 (inlined in `learn`)
        i = math.floor(h)
        v = self._v
        a = v[i % BINS]
        return a + (h - i) * (v[(i + 1) % BINS] - a)

    def learn(self, t: float, value: float, clip: float) -> bool:
        """Take in a value at time ``t`` with `offset` (t) already taken out, relative to the warm-up's
        median, clipped to ``clip`` about the level; True when the profile has just become ready (the
        caller's location then moves onto the deseasonalised scale)."""
        v = self._v
        if self._ready:
            # what neither the level nor the interpolated offset explains moves both, each bin by its
            # share of the reading
            h = (t % DAY) / _WIDTH - 0.5  # as in `offset`, inlined: both run on every calm update
            i = math.floor(h)
            f = h - i
            lo, hi = i % BINS, (i + 1) % BINS
            r = value - v[_LEVEL]
            r = -clip if r < -clip else (clip if r > clip else r)
            v[_LEVEL] += v[_RATE] * r
            for b, w in ((lo, 1.0 - f), (hi, f)):
                c = v[BINS + b]
                if c < MEMORY:
                    c += w
                    v[BINS + b] = c
                v[b] += w * r / c
            return False
        b = int((t % DAY) // _WIDTH) % BINS
        c = v[BINS + b] + 1.0
        v[BINS + b] = c
        v[b] += ((-clip if value < -clip else (clip if value > clip else value)) - v[b]) / c
        if t - self._since >= DAY:
            self._start()
            return True
        return False

    def _start(self) -> None:
        """After a day: each bin's mean, the day's mean taken out, becomes its offset."""
        v = self._v
        known = [(b, v[b], v[BINS + b]) for b in range(BINS) if v[BINS + b] >= MIN_VISITS]
        seen = sum(c for _, _, c in known)
        level = sum(m * c for _, m, c in known) / seen if seen else 0.0
        v[_LEVEL] = level
        v[_RATE] = 1.0 / max(sum(v[BINS + b] for b in range(BINS)), 1.0)
        for b in range(BINS):
            v[b] = 0.0
            v[BINS + b] = MIN_VISITS  # a bin seen too little on day one starts cautious, not at full rate
        for b, m, c in known:
            v[b] = m - level
            v[BINS + b] = min(c, MEMORY)
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    def offsets(self) -> list[float]:
        """The bins' offsets, midnight first (zeros until the profile is ready)."""
        return list(self._v[:BINS]) if self._ready else [0.0] * BINS

    def snapshot(self) -> dict[str, Any]:
        return {"since": self._since, "ready": self._ready, "v": list(self._v)}

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> DailyProfile:
        profile = cls(float(snap["since"]))
        profile._ready = bool(snap["ready"])
        values = array("f", (float(x) for x in snap["v"]))
        if len(values) != len(profile._v):
            raise ValueError(f"a daily profile has {len(profile._v)} values, got {len(values)}")
        profile._v = values
        return profile
