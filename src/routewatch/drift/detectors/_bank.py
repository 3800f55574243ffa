"""A bank of Bernoulli log-likelihood-ratio CUSUMs against a learned base rate, evaluated lazily.

Between two events every statistic moves by a constant per update, so the bank does no work on a
non-event: statistics are brought up to date at the next event (where an increase can cross its
threshold) or at a precomputed index (where the improvement statistic, which rises on non-events,
will cross, or where a block of counts completes). At 1 % base rate that is one real update in 100.

The base rate is a Beta posterior: a prior of ``prior_n`` pseudo-updates at ``prior_rate`` plus
decayed counts. New counts join it in blocks of ``block`` updates, one block late (and, with a
``gate``, only blocks that ended with every increase statistic below ``gate`` times its threshold),
so a change under way does not leak into the baseline it is measured against. The CUSUMs
use ``p0 = mean + uncertainty * sd`` of the posterior: a base rate seen in few events is taken as
higher than it looks, which keeps early false alarms at the budget (a quiet warm-up followed by one
error is just one small step).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Hashable
from typing import Any, Generic, TypeVar, overload

from .calibration import budget_shares, threshold_for

__all__: list[str] = []

_SHARED: dict[Hashable, Any] = {}
_T = TypeVar("_T")
_N = TypeVar("_N", int, float)
_H = TypeVar("_H", bound=Hashable)
# Highest base rate a design assumes. Past an alarm the baseline is the new regime's rate, often
# well over a half (80 % invalid outputs); capped at 0.5, a steady 80 % read as a further rise.
_HIGHEST_BASE = 0.98


def shared(x: _H) -> _H:
    """One object per value (a float, a tuple of numbers) across all detectors: thousands of streams
    hold the same constants. A value equal to one seen before, of the same type (and element types),
    is that one; 0.0 stands for -0.0."""
    if len(_SHARED) >= 4096:
        return x
    key = (x, type(x), tuple(map(type, x)) if isinstance(x, tuple) else ())
    return _SHARED.setdefault(key, x)  # type: ignore[no-any-return]


_DESIGN_FIELDS = (
    "ratios", "recovery_ratio", "min_delta", "prior_rate", "prior_n", "uncertainty", "block", "memory", "min_events",
    "gate",
)  # fmt: skip


class _Design:
    """A bank's hyper-parameters (and what follows from them alone): one object per distinct set,
    shared by every bank built with it, so thousands of streams do not each hold a dozen of them."""

    __slots__ = (*_DESIGN_FIELDS, "decay", "m", "size")

    def __init__(
        self, ratios: tuple[float, ...], recovery_ratio: float | None, min_delta: float, prior_rate: float,
        prior_n: float, uncertainty: float, block: int, memory: int, min_events: int, gate: float,
    ) -> None:  # fmt: skip
        self.ratios = ratios
        self.recovery_ratio = recovery_ratio
        self.min_delta = min_delta
        self.prior_rate = prior_rate
        self.prior_n = prior_n
        self.uncertainty = uncertainty
        self.block = block
        self.memory = memory
        self.min_events = min_events
        self.gate = gate
        self.m = len(ratios)
        self.decay = max(0.0, 1.0 - block / memory)
        self.size = self.m + (recovery_ratio is not None)


_DESIGNS: dict[tuple[Any, ...], _Design] = {}


def _design_for(values: tuple[Any, ...]) -> _Design:
    """The shared `_Design` of these values (of these types too: a prior_n of 100 is reported as 100, not 100.0)."""
    key = (values, tuple(map(type, values)), tuple(map(type, values[0])))
    found = _DESIGNS.get(key)
    if found is None:
        found = _Design(*values)
        if len(_DESIGNS) < 256:
            _DESIGNS[key] = found
    return found


class _Param(Generic[_T]):
    """A read-only attribute of the bank's shared `_Design`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Param[_T]: ...
    @overload
    def __get__(self, obj: _BernoulliBank, owner: type) -> _T: ...
    def __get__(self, obj: _BernoulliBank | None, owner: type) -> _T | _Param[_T]:
        return self if obj is None else getattr(obj.design, self.name)  # type: ignore[no-any-return]


# Scalar state after the members' 6 * size doubles, addressed from the end of the array (its length
# depends on the member count): no float or int object per value, one allocation per bank.
_SCALARS = ("base_e", "base_n", "p0", "prev_e", "prev_n", "blk_e", "blk_end", "last", "due")


class _Scalar(Generic[_N]):
    """One value of the bank's scalar state, held in `v` (counts and update indices exactly: < 2**53)."""

    def __init__(self, kind: type[_N]) -> None:
        self.kind: type[_N] = kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.i = _SCALARS.index(name) - len(_SCALARS)

    @overload
    def __get__(self, obj: None, owner: type) -> _Scalar[_N]: ...
    @overload
    def __get__(self, obj: _BernoulliBank, owner: type) -> _N: ...
    def __get__(self, obj: _BernoulliBank | None, owner: type) -> _N | _Scalar[_N]:
        return self if obj is None else self.kind(obj.v[self.i])

    def __set__(self, obj: _BernoulliBank, value: _N) -> None:
        obj.v[self.i] = value


class _BernoulliBank:
    """Members ``0..m-1`` test rate increases by ``ratios``; member ``m`` (if any) tests a decrease."""

    __slots__ = ("arl0", "design", "learning", "v")
    # Per member j of `size`, in one array of doubles (no float objects, one allocation): v[j]
    # statistic, v[size+j] / v[2size+j] increment on an event / a non-event, v[3size+j] threshold,
    # v[4size+j] update where the statistic was last zero, v[5size+j] events since then; then ``extra``
    # doubles a subclass may use; then the scalar state (`_SCALARS`). The hyper-parameters live once
    # per distinct set, on `design`.

    ratios: _Param[tuple[float, ...]] = _Param()
    recovery_ratio: _Param[float | None] = _Param()
    min_delta: _Param[float] = _Param()
    prior_rate: _Param[float] = _Param()
    prior_n: _Param[float] = _Param()
    uncertainty: _Param[float] = _Param()
    block: _Param[int] = _Param()
    memory: _Param[int] = _Param()
    min_events: _Param[int] = _Param()
    gate: _Param[float] = _Param()
    decay: _Param[float] = _Param()
    m: _Param[int] = _Param()
    size: _Param[int] = _Param()
    base_e = _Scalar(float)
    base_n = _Scalar(float)
    p0 = _Scalar(float)
    prev_e = _Scalar(int)
    prev_n = _Scalar(int)
    blk_e = _Scalar(int)
    blk_end = _Scalar(int)
    last = _Scalar(int)
    due = _Scalar(int)

    def __init__(
        self, ratios: tuple[float, ...], recovery_ratio: float | None, min_delta: float, arl0: float,
        prior_rate: float, prior_n: float, uncertainty: float, block: int, memory: int, min_events: int,
        gate: float = math.inf, extra: int = 0,
    ) -> None:  # fmt: skip
        self.design = _design_for(
            (ratios, recovery_ratio, min_delta, prior_rate, prior_n, uncertainty, block, memory, min_events, gate)
        )
        self.arl0 = shared(arl0)
        # repetition allocates exactly; bytes(...) over-allocates
        self.v = array("d", [0.0]) * (6 * self.design.size + extra + len(_SCALARS))  # extra: a subclass's
        self.p0 = prior_rate
        self.learning = True

    def member(self, j: int) -> tuple[float, float, int, int]:
        """(statistic, threshold, update where it was last zero, events since then) of member ``j``."""
        size = self.size
        return self.v[j], self.v[3 * size + j], int(self.v[4 * size + j]), int(self.v[5 * size + j])

    # --- baseline -------------------------------------------------------------------------------------
    def rate(self) -> tuple[float, float]:
        """Posterior mean and standard deviation of the base rate."""
        n = self.base_n + self.prior_n
        mean = (self.base_e + self.prior_rate * self.prior_n) / n
        return mean, math.sqrt(mean * (1.0 - mean) / (n + 1.0))

    def set_base(self, events: float, trials: float, n: int) -> None:
        """Replace the baseline counts, zero the statistics and start counting blocks at ``n``."""
        self.base_e, self.base_n = float(events), float(trials)
        self.prev_e = self.prev_n = self.blk_e = 0
        self.blk_end = n + self.block
        self.reset(n)

    def reset(self, n: int) -> None:
        """Zero the statistics at update ``n`` (the next regime starts at ``n + 1``)."""
        size = self.size
        for j in range(size):
            self.v[j] = 0.0
            self.v[4 * size + j] = n
            self.v[5 * size + j] = 0.0
        self.last = n
        self._design()

    def _design(self) -> None:
        mean, sd = self.rate()
        self._design_increase(mean, sd)
        self._design_recovery(mean, sd)
        self._schedule()

    def _design_increase(self, mean: float, sd: float) -> None:
        """Increments and thresholds of the increase members ``0..m-1`` for a base rate ``mean +- sd``."""
        p0 = min(max(mean + self.uncertainty * sd, 1e-6), _HIGHEST_BASE)
        self.p0 = p0
        shares = budget_shares(self.m)
        v, size = self.v, self.size
        for j, r in enumerate(self.ratios):
            arl_up = self.arl0 / shares[j]
            p1 = min(max(r * p0, p0 + self.min_delta), 0.999)
            a = v[size + j] = math.log(p1 / p0)
            v[2 * size + j] = math.log((1.0 - p1) / (1.0 - p0))
            # at least min_events events since the change point are needed to cross
            v[3 * size + j] = max(threshold_for(arl_up, p0=p0, p1=p1), (self.min_events - 1) * a + 1e-9)

    def _design_recovery(self, mean: float, sd: float) -> None:
        """Increments and threshold of the decrease member ``m``, if any."""
        if self.recovery_ratio is not None:
            v, size, j = self.v, self.size, self.m
            p0d = min(max(mean - self.uncertainty * sd, 1e-6), _HIGHEST_BASE)  # as cautious the other way
            p1 = self.recovery_ratio * p0d
            v[size + j] = math.log(p1 / p0d)
            v[2 * size + j] = math.log((1.0 - p1) / (1.0 - p0d))
            # the decrease test's LLR steps are many small ones on non-events and rare big drops, where
            # the diffusion approximation runs short (measured: 1.5-1.9 recoveries per 100,000 on null
            # streams at ARL0, with the base rate estimated); four times the ARL0 brings it within the budget
            v[3 * size + j] = threshold_for(4.0 * self.arl0, p0=p0d, p1=p1)

    def _schedule(self) -> None:
        due = self.blk_end
        if self.recovery_ratio is not None:
            j, v, size = self.m, self.v, self.size
            cross = self.last + math.floor((v[3 * size + j] - v[j]) / v[2 * size + j]) + 1
            due = min(due, max(cross, self.last + 1))
        self.due = due

    # --- updates --------------------------------------------------------------------------------------
    def _advance(self, n: int) -> None:
        """Bring statistics to update ``n`` assuming updates ``last+1 .. n`` were all non-events."""
        gap = n - self.last
        if gap <= 0:
            return
        v, size = self.v, self.size
        c = 4 * size
        for j in range(size):
            s = v[j]
            bj = v[2 * size + j]
            if bj < 0.0:
                if s + bj * gap <= 0.0:  # zero at the end of the gap: the change point is no earlier than n
                    v[c + j] = n
                    v[c + size + j] = 0.0
                    v[j] = 0.0
                else:
                    v[j] = s + bj * gap
            else:
                v[j] = s + bj * gap
        self.last = n

    def event(self, n: int) -> int:
        """Update ``n`` is an event. Returns the index of a member over its threshold, else -1."""
        self._advance(n - 1)
        v, size = self.v, self.size
        c = 4 * size
        hit = -1
        best = 1.0
        for j in range(size):
            s = v[j] + v[size + j]
            if s <= 0.0:
                v[j] = 0.0
                v[c + j] = n
                v[c + size + j] = 0.0
            else:
                v[j] = s
                v[c + size + j] += 1.0
                h = v[3 * size + j]
                if j < self.m and s > h * best and v[c + size + j] >= self.min_events:
                    hit, best = j, s / h
        self.last = n
        self.blk_e += 1
        if n >= self.blk_end:
            self._roll(n)
        else:
            self._schedule()
        return hit

    def tick(self, n: int) -> int:
        """Called when ``n >= due`` on a non-event: the improvement member may cross, a block may end."""
        self._advance(n)
        if n >= self.blk_end:
            self._roll(n)
        else:
            self._schedule()
        j = self.m
        if self.recovery_ratio is not None and self.v[j] > self.v[3 * self.size + j]:
            return j
        return -1

    def _roll(self, n: int) -> None:
        v, size = self.v, self.size
        # with a finite gate, a change under way (an increase statistic past gate * threshold) must not
        # leak into the baseline it is measured against: such a block is dropped. The selection biases
        # the base rate down a little, so rates (whose blocks merge late enough) do not use it.
        calm = all(v[j] <= self.gate * v[3 * size + j] for j in range(self.m))
        if self.learning:
            if calm:
                self.base_e = self.base_e * self.decay + self.prev_e
                self.base_n = self.base_n * self.decay + self.prev_n
            self.prev_e, self.prev_n = (self.blk_e, self.block) if calm else (0, 0)
        else:
            self.prev_e = self.prev_n = 0
        self.blk_e = 0
        self.blk_end = n + self.block
        self._design()

    # --- persistence ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "v": list(self.v[: self.size]), "ci": list(self.v[4 * self.size : 6 * self.size]),
            "base": [self.base_e, self.base_n],
            "prev": [self.prev_e, self.prev_n], "blk": [self.blk_e, self.blk_end], "last": self.last,
            "learning": self.learning,
        }  # fmt: skip

    def restore(self, snap: dict[str, Any]) -> None:
        for j, s in enumerate(snap["v"]):
            self.v[j] = float(s)
        for j, x in enumerate(snap["ci"]):
            self.v[4 * self.size + j] = float(x)
        self.base_e, self.base_n = (float(v) for v in snap["base"])
        self.prev_e, self.prev_n = (int(v) for v in snap["prev"])
        self.blk_e, self.blk_end = (int(v) for v in snap["blk"])
        self.last = int(snap["last"])
        self.learning = bool(snap["learning"])
        self._design()
