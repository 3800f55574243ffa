"""Family 1: continuous, heavy-tailed, unit-bearing signals (latency, TTFT, cost, tokens, scores)."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from functools import lru_cache
from operator import attrgetter
from typing import Any, Generic, Literal, NamedTuple, TypeVar, overload

from . import _continuous_state as _state
from . import _continuous_verdicts as _verdicts
from ._bank import shared
from ._continuous_verdicts import NO_RING, NO_VALUES, WARMUP, WATCH
from ._scores import GRID_STEP, Atoms, atom_scores, band_score, build_knots, probit, quantile_of
from ._season import HOUR, DailyProfile
from ._tail import _Bands, _TailBank, bands_for
from ._warm import WarmValues, on_grid
from .base import Verdict
from .calibration import arl0_for, threshold_for
from .rates import _deep_size

__all__ = ["LogScaleCUSUM"]

_T = TypeVar("_T")

_LOG_FLOOR = -745.0  # log of zero or negative values: below any real value, the same in every unit
_F32_MAX = 3.0e38
# log of values from _F32_MAX up (to +inf): the top, as the identity transform clamps (a mean of them,
# summed with fsum at the fit and learnt after it, stays finite; log(inf) cannot go into the window)
_LOG_CEIL = math.log(_F32_MAX)
# thresholds assume a known baseline; an estimated one (from ~1,000 values, then adapting) adds false
# alarms, so thresholds are set for half the budget (measured: 0.4-1.0 per 100,000 at a budget of 1)
_BASELINE_SAFETY = 0.5
# the tail test takes each band's rate this many posterior sds above its mean. Its signal is weak (a
# band's rate x1.5-3), so caution costs much of it, and none lets the young baseline's outer band (a
# rate known from ~2 warm-up values) alarm on nothing: in updates 1,000-4,000 of lognormal streams,
# 0 sd made 55 tail alarms in 1,500 streams where the single p99.5 exceedance test made 28, while
# 0.15 sd made 28 in 1,000 where that test made 30 (p99-only regressions found: 88 % and 84 %)
_TAIL_UNCERTAINTY = 0.15


def _tail_bank(bands: _Bands, arl0: float) -> _TailBank:
    """A tail test over ``bands`` (recovery at half the rate, 100 prior trials, blocks of 500 in a
    memory of 50,000, 3 events at least, learning gated at 0.75 of the threshold)."""
    return _TailBank(bands, 0.5, arl0, 100.0, _TAIL_UNCERTAINTY, 500, 50_000, 3, 0.75)


# the tail test of every detector still at warm-up: shared and never written (the fit makes its own)
_NO_TAIL = _tail_bank(bands_for(2.0, 3.0, 0.02, 2.5), 1e5)


class _Params(NamedTuple):
    """What a detector was built with, one shared tuple per distinct set (``shared``): thousands of
    stream keys hold the same fourteen values, and a slot each cost ~110 bytes a detector."""

    hurting: Literal["up", "down"]
    transform: Literal["log", "identity"]
    shifts: tuple[float, ...]
    recovery_shift: float
    tail_quantile: float
    tail_share: float
    tail_shift: float
    fa_per_100k: float
    warm_up: int
    halflife: float
    persistence: int
    cooldown: int
    clip: float
    seasonal: bool


class _Param(Generic[_T]):
    """What type checkers see of a parameter: a read-only attribute of type ``_T`` (see `_param`)."""

    @overload
    def __get__(self, obj: None, owner: type) -> _Param[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...
    def __get__(self, obj: object, owner: type) -> _T | _Param[_T]:
        raise NotImplementedError  # never made: `_param` returns a property


def _param(name: str) -> Any:
    """A read-only property over the shared ``_p`` (a C-level getter; typed by its `_Param` annotation)."""
    return property(attrgetter(f"_p.{name}"), doc=f"``{name}`` (see the class); read-only.")


@lru_cache(maxsize=64)
def _constants(
    shifts: tuple[float, ...], recovery_shift: float, tail_quantile: float, fa_per_100k: float, halflife: float
) -> tuple[float, ...]:
    """Per-parameter constants, shared by every detector built with the same parameters (memory)."""
    arl0 = arl0_for(fa_per_100k) / _BASELINE_SAFETY
    m = len(shifts) + 1  # hurting tests: shifts and the tail
    k1 = shifts[0] / 2
    k2 = shifts[-1] / 2 if len(shifts) > 1 else math.inf
    kd = recovery_shift / 2
    h1 = threshold_for(arl0 * m, k=k1)
    h2 = threshold_for(arl0 * m, k=k2) if len(shifts) > 1 else math.inf
    hd = threshold_for(arl0 * 2, k=kd)
    return k1, k2, kd, h1, h2, hd, probit(tail_quantile), math.log(2.0) / halflife, arl0 * m


class LogScaleCUSUM:
    """CUSUMs on normal scores of log values against a robust, slowly adapting baseline.

    Values are log-transformed (``transform="identity"`` for scores that can be 0 or negative) and
    mapped to normal scores through a table of quantiles of the first ``warm_up`` values (see
    ``_scores``): heavy tails, bimodality and units no longer matter (seconds, milliseconds and USD
    near 1e-3 give identical verdicts). On the scores run, in the hurting direction (``hurting``:
    ``"up"`` for latency and cost, ``"down"`` for throughput and scores), one CUSUM per design shift
    in ``shifts`` (standard deviations; the default pair is within a few percent of the best CUSUM
    for every shift from 0.25 to 1.5 sd) and a tail test (a p99-only regression moves the mean too
    little to see): a multinomial CUSUM over bands of scores past the baseline's ``tail_quantile``,
    designed for ``tail_share`` of calls moving up by ``tail_shift`` sd (see ``_tail``); in the
    improving direction one CUSUM of ``recovery_shift`` and the tail's improvement test give ``recovered``
    verdicts. Thresholds are set from ``fa_per_100k`` (Bonferroni over each direction's tests).

    The baseline's location follows the data with a ``halflife`` (in updates) while no alarm is open
    and no statistic is past half its threshold, so diurnal cycles do not alarm but a regression is
    not absorbed. With timestamps and ``seasonal``, a daily profile (``_season``) also takes out the
    part of the location that repeats at the same time of day, learnt once a whole day is seen, so a
    cycle too fast for the half-life (a quiet stream's day) does not alarm either; the verdicts'
    window statistics are then of values with that offset taken out. An alarm needs ``persistence``
    consecutive updates over threshold; after a verdict the detector re-baselines on the new regime
    (the verdict's window plus ``cooldown`` updates), keeping the pre-alarm baseline as the reference
    for recovery. ``effect_size``: mean shift of the window in baseline standard deviations for shift
    tests, Cohen's h of the exceedance rate for the tail test; signed, positive when values went up.

    >>> import random
    >>> rng = random.Random(3)
    >>> det = LogScaleCUSUM()
    >>> for i in range(1, 4001):
    ...     scale = 1.0 if i <= 2000 else 1.5  # latency x1.5 from update 2001
    ...     v = det.update(scale * rng.lognormvariate(0.0, 0.6))
    ...     if v:
    ...         print(v.kind, v.direction, v.index, v.change_index, v.detector, round(v.effect_size, 2))
    alarm up 2068 2002 LogScaleCUSUM(shift=0.7) 0.59
    """

    __slots__ = (
        "_alarm_off", "_alarm_tail", "_anchor", "_atom_z", "_atoms", "_c1", "_c2", "_cd", "_change", "_clip",
        "_due", "_eta", "_eta_s", "_fast", "_fired", "_h1", "_h2", "_hd", "_in_alarm", "_k1", "_k2", "_kd",
        "_knots", "_log", "_mean", "_n", "_n_base", "_off", "_over", "_p", "_phase", "_qs", "_ref", "_ri", "_ring",
        "_s1", "_s2", "_scale", "_sd", "_season", "_sign", "_t", "_tail", "_tail_due", "_warm", "_zmax", "_zmin",
        "_zt", "window",
    )  # fmt: skip

    def __init__(
        self,
        *,
        hurting: Literal["up", "down"] = "up",
        transform: Literal["log", "identity"] = "log",
        shifts: tuple[float, ...] = (0.3, 0.7),
        recovery_shift: float = 0.5,
        tail_quantile: float = 0.98,
        tail_share: float = 0.02,
        tail_shift: float = 2.5,
        fa_per_100k: float = 1.0,
        warm_up: int = 1000,
        halflife: float = 1000.0,
        persistence: int = 1,
        cooldown: int = 200,
        window: int = 64,
        clip: float = 3.0,
        seasonal: bool = False,
    ) -> None:
        if hurting not in ("up", "down"):
            raise ValueError(f"hurting must be 'up' or 'down', got {hurting!r}")
        if transform not in ("log", "identity"):
            raise ValueError(f"transform must be 'log' or 'identity', got {transform!r}")
        if not 1 <= len(shifts) <= 2 or any(not (s > 0.0) for s in shifts):
            raise ValueError(f"shifts must be one or two values > 0, got {shifts!r}")
        if not recovery_shift > 0.0:
            raise ValueError(f"recovery_shift must be > 0, got {recovery_shift!r}")
        if not 0.5 < tail_quantile < 1.0 or not 0.0 < tail_share < 1.0 or not tail_shift > 0.0:
            raise ValueError("need 0.5 < tail_quantile < 1, 0 < tail_share < 1 and tail_shift > 0")
        arl0_for(fa_per_100k)
        if warm_up < 20 or persistence < 1 or cooldown < 0 or window < 8 or not halflife > 0.0:
            raise ValueError("need warm_up >= 20, persistence >= 1, cooldown >= 0, window >= 8, halflife > 0")
        if not 1.0 <= clip <= 5.0 or round(2 * clip / GRID_STEP) != 2 * clip / GRID_STEP:
            raise ValueError(f"clip must be a multiple of {GRID_STEP} in [1, 5], got {clip!r}")
        self._p = shared(_Params(
            hurting, transform, shared(tuple(sorted(float(s) for s in shifts))), recovery_shift, tail_quantile,
            tail_share, tail_shift, fa_per_100k, warm_up, halflife, persistence, cooldown, clip, seasonal,
        ))  # fmt: skip
        self.window = window
        self._reset()

    hurting: _Param[Literal["up", "down"]] = _param("hurting")
    transform: _Param[Literal["log", "identity"]] = _param("transform")
    shifts: _Param[tuple[float, ...]] = _param("shifts")
    recovery_shift: _Param[float] = _param("recovery_shift")
    tail_quantile: _Param[float] = _param("tail_quantile")
    tail_share: _Param[float] = _param("tail_share")
    tail_shift: _Param[float] = _param("tail_shift")
    fa_per_100k: _Param[float] = _param("fa_per_100k")
    warm_up: _Param[int] = _param("warm_up")
    halflife: _Param[float] = _param("halflife")
    persistence: _Param[int] = _param("persistence")
    cooldown: _Param[int] = _param("cooldown")
    clip: _Param[float] = _param("clip")
    seasonal: _Param[bool] = _param("seasonal")

    def _reset(self) -> None:
        self._sign = 1.0 if self.hurting == "up" else -1.0
        self._log = self.transform == "log"
        self._clip: float = self.clip
        self._tail = _NO_TAIL  # made at the fit, with bands up to the score table's edge
        self._design()
        self._n = 0
        self._t: float | None = None
        self._phase = WARMUP
        self._due = self.warm_up
        self._warm: WarmValues | array[float] = WarmValues()  # compressed as they come (see _warm)
        self._atoms: Atoms | None = None
        self._atom_z = 0.0
        # (y - anchor) * qs, int16; made at the fit: a fleet at warm-up holds no idle windows
        self._ring: array[int] = NO_RING
        self._ri = 0
        self._anchor = 0.0
        self._qs = 1.0
        self._knots: array[float] = NO_VALUES  # made at the fit
        self._off = self._scale = self._eta_s = self._mean = 0.0
        self._fast = 0  # > 0: the location is still being learnt as a running mean (updates so far)
        self._n_base = 0
        self._s1 = self._s2 = self._sd = 0.0
        self._c1 = self._c2 = self._cd = 0
        self._over = 0
        self._tail_due = 1 << 62
        self._in_alarm = False
        self._ref: tuple[float, float, int, float, float] | None = None  # off, mean, n, tail events, trials
        self._alarm_off = self._alarm_tail = 0.0
        self._fired = ""
        self._change = 0
        # the time the watch began (an hour before the daily profile starts), then the profile itself
        self._season: float | DailyProfile | None = None

    def _designed_constants(self) -> tuple[float, ...]:
        """This detector's designed constants (see `_constants`): shared by every detector alike."""
        return _constants(self.shifts, self.recovery_shift, self.tail_quantile, self.fa_per_100k, self.halflife)

    def _design(self) -> None:
        c = self._designed_constants()
        self._k1, self._k2, self._kd, self._h1, self._h2, self._hd, self._zt, self._eta, arl0 = c
        if self._tail is not _NO_TAIL:
            self._tail.arl0 = arl0

    @property
    def params(self) -> dict[str, Any]:
        return {
            "hurting": self.hurting, "transform": self.transform, "shifts": list(self.shifts),
            "recovery_shift": self.recovery_shift, "tail_quantile": self.tail_quantile,
            "tail_share": self.tail_share, "tail_shift": self.tail_shift, "fa_per_100k": self.fa_per_100k,
            "warm_up": self.warm_up,
            "halflife": self.halflife, "persistence": self.persistence, "cooldown": self.cooldown,
            "window": self.window, "clip": self.clip, "seasonal": self.seasonal,
        }  # fmt: skip

    def set_fa_rate(self, fa_per_100k: float) -> None:
        """Change the false-alarm budget (e.g. when the number of live streams changes)."""
        arl0_for(fa_per_100k)
        self._p = shared(self._p._replace(fa_per_100k=fa_per_100k))
        self._design()
        if self._phase != WARMUP:
            self._tail._advance(self._n)
            self._tail._design()
            self._tail_due = self._tail.due

    # --- hot path -------------------------------------------------------------------------------------
    def update(self, x: float, t: float | None = None) -> Verdict | None:
        """Feed one value (NaN is ignored; with the log transform, values <= 0 rank below all others,
        and values from 3e38 up, infinity too, tie at the top)."""
        if x != x:
            return None
        n = self._n + 1
        self._n = n
        self._t = t
        if self._log:
            y = math.log(x) if 0.0 < x < _F32_MAX else (_LOG_FLOOR if x <= 0.0 else _LOG_CEIL)
        else:
            y = x if -_F32_MAX < x < _F32_MAX else math.copysign(_F32_MAX, x)
        profile = None
        season = self._season
        if season is not None and t is not None:
            if isinstance(season, float):
                if t - season >= HOUR:
                    self._season = DailyProfile(t)
            else:
                profile = season
                y -= profile.offset(t)
        if self._phase:
            return self._slow(n, y)
        ri = self._ri
        r = int((y - self._anchor) * self._qs)  # into the int16 ring, clamped (comparisons: no min/max calls)
        self._ring[ri] = r if -32767 <= r <= 32767 else (32767 if r > 0 else -32767)
        ri += 1
        self._ri = 0 if ri == self.window else ri
        # normal score of y against the baseline
        u = y - self._off
        q = self._knots
        i = bisect_right(q, u)
        atoms = self._atoms
        atom_z = atoms.get(on_grid(y)) if atoms is not None else None  # `_is_atom`, inlined
        if atom_z is not None:
            z = atom_z
        elif 0 < i < len(q):
            j = i - 1
            qj = q[j]
            if u != qj:
                z = j * GRID_STEP - self._clip + GRID_STEP * (u - qj) / (q[i] - qj)
            else:
                z = band_score(q, u, j, self._clip)
        elif i == 0:
            z = self._zmin
        else:
            z = self._zmax if u > q[-1] else band_score(q, u, len(q) - 1, self._clip)
        zh = z * self._sign
        s1 = self._s1 + zh - self._k1
        if s1 < 0.0:
            s1 = 0.0
            self._c1 = n
        self._s1 = s1
        s2 = self._s2 + zh - self._k2
        if s2 < 0.0:
            s2 = 0.0
            self._c2 = n
        self._s2 = s2
        sd = self._sd - zh - self._kd
        if sd < 0.0:
            sd = 0.0
            self._cd = n
        self._sd = sd
        tail = -1
        if zh > self._zt:
            tail = self._tail.band_event(n, zh)
            self._tail_due = self._tail.due
        elif n >= self._tail_due:
            tail = self._tail.tick(n)
            self._tail_due = self._tail.due
        if s1 > self._h1 or s2 > self._h2 or sd > self._hd or tail >= 0:
            verdict = self._crossed(n, tail)
            if verdict is not None:
                return verdict
        elif self._over:
            self._over = 0
        if s1 < 0.5 * self._h1 and sd < 0.5 * self._hd:  # no chasing a change under way
            self._off += self._eta_s * z
            if profile is not None and t is not None and profile.learn(t, y - self._anchor, 3.0 * self._scale):
                self._off -= profile.offset(t)  # the profile is on: so is the location
            if self._fast:
                self._learn()
            self._mean += self._eta * ((math.exp(y) if self._log else y) - self._mean)
        return None

    def _slow(self, n: int, y: float) -> Verdict | None:
        if self._phase == WARMUP:
            self._warm.append(y)
            if n >= self._due:
                self._fit(n)
            return None
        self._push(y)
        self._sd += self._score(y)  # cooldown: the statistics are idle, _sd sums the scores
        if n >= self._due:  # end of cooldown
            self._rebaseline(n)
        return None

    def _score(self, y: float) -> float:
        """Normal score of ``y`` against the current baseline (the hot path inlines the same steps)."""
        if self._atoms is not None and self._is_atom(y):
            return self._atom_z
        u = y - self._off
        q = self._knots
        i = bisect_right(q, u)
        if 0 < i < len(q):
            j = i - 1
            if u != q[j]:
                return j * GRID_STEP - self._clip + GRID_STEP * (u - q[j]) / (q[i] - q[j])
            return band_score(q, u, j, self._clip)
        if i == 0:
            return self._zmin
        return self._zmax if u > q[-1] else band_score(q, u, len(q) - 1, self._clip)

    def _push(self, y: float) -> None:
        ri = self._ri
        self._ring[ri] = min(32767, max(-32767, int((y - self._anchor) * self._qs)))
        ri += 1
        self._ri = 0 if ri == self.window else ri

    def _fit(self, n: int) -> None:
        warm = self._warm
        self._knots = build_knots(warm, self.clip)
        self._atoms = atom_scores(warm, self.clip)
        self._atom_z = 0.0
        self._set_scale()
        self._off = 0.0
        self._anchor = quantile_of(self._knots, 0.0, self.clip)
        self._qs = 1000.0 / self._scale if self._scale > 0.0 else 1000.0  # ring resolution: 0.001 sd
        vals = [math.exp(v) for v in warm] if self._log else list(warm)
        self._mean = math.fsum(vals) / len(vals)
        self._n_base = len(warm)
        self._warm = NO_VALUES
        self._ring = array("h", bytes(2 * self.window))  # _ri is 0: nothing moves it during warm-up
        edge = self._zmax if self._sign > 0 else -self._zmin
        self._tail = self._new_tail(edge)
        self._tail.set_warm(len(warm), n, open_top=edge >= self.clip)
        self._tail_due = self._tail.due
        self._fast = len(warm)
        self._learn()
        self._restart(n)
        self._season = float(self._t) if self.seasonal and self._t is not None else None

    def _new_tail(self, edge: float) -> _TailBank:
        """A tail test with bands from the tail quantile up to ``edge``, the highest score a value can get."""
        c = self._designed_constants()
        zt, arl0 = c[6], c[8]
        bands = bands_for(zt, max(edge, zt), self.tail_share, self.tail_shift)
        return _tail_bank(bands, arl0)

    def _is_atom(self, y: float) -> bool:
        """Whether ``y`` (on the warm-up's grid) is an atom; its score goes to ``_atom_z``."""
        assert self._atoms is not None
        z = self._atoms.get(on_grid(y))
        if z is None:
            return False
        self._atom_z = z
        return True

    def _learn(self) -> None:
        """After a (re-)baseline from ``m`` values the location is a running mean until the
        exponential half-life takes over: its error shrinks like 1/sqrt(m + t), so a baseline taken
        from a short window does not bias the statistics (and cascade into false alarms) for long."""
        self._fast += 1
        rate = 1.0 / self._fast
        if rate <= self._eta:
            rate, self._fast = self._eta, 0
        self._eta_s = rate * self._scale
        fast, warm_up = self._fast, self.warm_up
        if 0 < fast <= warm_up:
            self._widen_for_young_baseline()
        elif fast == 0 or fast == warm_up + 1:
            self._design()  # the baseline is as sure as a warm-up's: the designed reference values

    def _widen_for_young_baseline(self) -> None:
        """While the location rests on fewer values than a warm-up (after a re-baseline on the last
        ``window`` values of a cooldown, 64), its error of ~1/sqrt(m) sd is a shift the hurting
        CUSUMs would read as a change: the small-shift one's reference value is 0.15 sd, the error
        0.125. Both reference values are widened by that error until it is a warm-up's. On x2 steps
        of a sigma-0.3 lognormal (100 seeds) second alarms on the young baseline fell from 6 to 2."""
        c = self._designed_constants()
        widen = 1.0 / math.sqrt(self._fast)
        self._k1, self._k2 = c[0] + widen, c[1] + widen

    def _set_scale(self) -> None:
        q = self._knots
        # past the outer knots: +-clip, unless the outer knots are a tie (a cap, zeros), whose values are
        # atoms scored apart; then a value beyond them (the location moved) is at the edge of the band
        top = bisect_left(q, q[-1])
        self._zmax = shared(self._clip if top == len(q) - 1 else top * GRID_STEP - self._clip)
        bottom = bisect_right(q, q[0]) - 1
        self._zmin = shared(-self._clip if bottom == 0 else bottom * GRID_STEP - self._clip)
        # the tail test needs values past the tail quantile; inside a tie band (a cap) there are none
        zt = self._designed_constants()[6]
        edge = self._zmax if self._sign > 0 else -self._zmin
        self._zt = zt if edge > zt else math.inf
        self._scale = (quantile_of(q, 1.0, self.clip) - quantile_of(q, -1.0, self.clip)) / 2.0
        self._eta_s = self._eta * self._scale

    def _restart(self, n: int) -> None:
        self._s1 = self._s2 = self._sd = 0.0
        self._c1 = self._c2 = self._cd = n
        self._over = 0
        self._phase = WATCH

    # --- verdicts (rare: ``_continuous_verdicts``) and status (``_continuous_state``) ---------------------
    def _crossed(self, n: int, tail: int) -> Verdict | None:
        return _verdicts.crossed(self, n, tail)

    def _rebaseline(self, n: int) -> None:
        _verdicts.rebaseline(self, n)

    @property
    def in_alarm(self) -> bool:
        return self._in_alarm

    def state(self) -> dict[str, Any]:
        return _state.state(self)

    def snapshot(self) -> dict[str, Any]:
        return _state.snapshot(self)

    def restore(self, snap: dict[str, Any]) -> None:
        _state.restore(self, snap)

    @property
    def nbytes(self) -> int:
        """Bytes held, an upper estimate (floats and ints shared between detectors are counted too)."""
        return _deep_size(self)
