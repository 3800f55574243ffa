"""Family 2: rates of 0/1 outcomes (errors, rate limits, quality verdicts) with low base rates."""

from __future__ import annotations

import math
import sys
from typing import Any, Literal

from ._bank import _BernoulliBank, shared
from .base import Summary, Verdict, cohen_h
from .calibration import arl0_for

__all__ = ["BernoulliCUSUM"]

_WARMUP, _WATCH, _COOLDOWN = 0, 1, 2


def _bern_summary(n: int, p: float) -> Summary:
    return Summary(n, p, float(p > 0.5), float(p > 0.05), float(p > 0.01))


class BernoulliCUSUM:
    """Bernoulli CUSUM bank for a rate of 0/1 outcomes, self-calibrated to a false-alarm budget.

    Each member accumulates the log-likelihood ratio of ``p1 = ratio * p0`` against the base rate
    ``p0`` and alarms over a threshold set from ``fa_per_100k`` (see :mod:`.calibration`); the bank
    of ratios ``(2.5, 5, 16)`` stays near the best CUSUM from a slow x2 drift up to a 429 burst of
    x100 (the 16 member needs only its ``min_events`` events in a burst). ``p0`` is a
    Beta posterior (``prior_rate``, ``prior_n``) set after ``warm_up`` and then updated in delayed blocks
    while no alarm is open, taken at ``uncertainty`` standard deviations above its mean, so a quiet
    warm-up does not turn the first error into an alarm (0.3: a 1 % base rate learnt from a 2,000-call
    warm-up is known to ~20 %, and each 0.15 sd of caution cost ~3 % of delay on the benchmark's rate
    cases; from 0.6 to 0.3 false alarms on null streams of 0.1-5 % rose from 0.3-0.7 to 0.5-0.9 per
    100,000, within the budget). An alarm needs ``min_events`` events since
    the estimated change point. After an alarm the rate of the new regime (measured over the
    ``cooldown`` updates that follow it) becomes the baseline, the old one is kept as the reference, and a member
    testing ``recovery_ratio * p0`` reports improvements as ``recovered`` verdicts (``in_alarm``
    false once the rate is closer to the reference than to the alarmed level). ``hurting="down"``
    watches the rate of zeros instead (a pass rate that falls). ``effect_size``: Cohen's h.

    ``update`` costs almost nothing on a non-event: statistics are evaluated lazily (see ``_bank``).

    >>> import random
    >>> rng = random.Random(7)
    >>> det = BernoulliCUSUM()
    >>> for i in range(1, 6001):
    ...     v = det.update(float(rng.random() < (0.02 if i <= 2000 else 0.06)))
    ...     if v:
    ...         print(v.kind, v.direction, v.index, v.change_index, round(v.before.mean, 3), round(v.after.mean, 3))
    alarm up 2516 2331 0.024 0.086
    """

    # the test's hyper-parameters live once, on the bank (properties below): thousands of streams
    __slots__ = (
        "_alarm_rate", "_bank", "_due", "_events", "_flip", "_in_alarm", "_n", "_phase", "_phase_e", "_phase_n",
        "_ref", "_t", "_window", "cooldown", "fa_per_100k", "hurting", "warm_up",
    )  # fmt: skip

    def __init__(
        self,
        *,
        ratios: tuple[float, ...] = (2.5, 5.0, 16.0),
        recovery_ratio: float = 0.5,
        hurting: Literal["up", "down"] = "up",
        fa_per_100k: float = 1.0,
        warm_up: int = 2000,
        prior_rate: float = 0.01,
        prior_n: float = 100.0,
        uncertainty: float = 0.3,
        min_delta: float = 0.002,
        min_events: int = 3,
        cooldown: int = 500,
        block: int = 500,
        memory: int = 50_000,
    ) -> None:
        if not ratios or any(not (r > 1.0) for r in ratios):
            raise ValueError(f"ratios must be non-empty and > 1, got {ratios!r}")
        if not 0.0 < recovery_ratio < 1.0:
            raise ValueError(f"recovery_ratio must be in (0, 1), got {recovery_ratio!r}")
        if hurting not in ("up", "down"):
            raise ValueError(f"hurting must be 'up' or 'down', got {hurting!r}")
        arl0_for(fa_per_100k)
        if warm_up < 1 or cooldown < 0 or min_events < 1 or block < 1 or memory < block:
            raise ValueError("need warm_up >= 1, cooldown >= 0, min_events >= 1, 1 <= block <= memory")
        if not 0.0 < prior_rate < 1.0 or prior_n <= 0.0 or uncertainty < 0.0 or min_delta < 0.0:
            raise ValueError("need 0 < prior_rate < 1, prior_n > 0, uncertainty >= 0, min_delta >= 0")
        self.hurting = hurting
        self.fa_per_100k = fa_per_100k
        self.warm_up = warm_up
        self.cooldown = cooldown
        if not all(type(r) is float for r in ratios) or list(ratios) != sorted(ratios):  # else share the tuple
            ratios = tuple(sorted(float(r) for r in ratios))  # budget shares go by order (calibration)
        self._bank = _BernoulliBank(
            ratios, recovery_ratio, min_delta, shared(arl0_for(fa_per_100k)), prior_rate, prior_n, uncertainty,
            block, memory, min_events,
        )  # fmt: skip
        self._reset()

    ratios = property(lambda self: self._bank.ratios, doc="Design rate ratios of the increase tests.")
    recovery_ratio = property(lambda self: self._bank.recovery_ratio, doc="Design ratio of the improvement test.")
    min_delta = property(lambda self: self._bank.min_delta, doc="Smallest absolute rate increase designed for.")
    prior_rate = property(lambda self: self._bank.prior_rate, doc="Prior mean of the base rate.")
    prior_n = property(lambda self: self._bank.prior_n, doc="Prior weight, in updates.")
    uncertainty = property(lambda self: self._bank.uncertainty, doc="Posterior sds added to the base rate.")
    min_events = property(lambda self: self._bank.min_events, doc="Events since the change point an alarm needs.")
    block = property(lambda self: self._bank.block, doc="Updates per block of baseline learning.")
    memory = property(lambda self: self._bank.memory, doc="Effective memory of the baseline, in updates.")

    def _reset(self) -> None:
        b = self._bank
        self._bank = _BernoulliBank(
            b.ratios, b.recovery_ratio, b.min_delta, shared(arl0_for(self.fa_per_100k)), b.prior_rate, b.prior_n,
            b.uncertainty, b.block, b.memory, b.min_events,
        )  # fmt: skip
        self._flip = self.hurting == "down"
        self._n = 0
        self._events = 0  # all events seen (warm-up and cooldown counts are differences of it)
        self._phase = _WARMUP
        self._phase_n = 0  # update index where the phase started
        self._phase_e = 0  # events before the phase started
        self._due = self.warm_up
        self._in_alarm = False
        self._ref: tuple[float, float] | None = None  # pre-alarm baseline counts (events, trials)
        self._alarm_rate = 0.0
        self._window: tuple[int, int] = (0, 0)  # (events, updates) of the regime that ends the cooldown
        self._t: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {
            "ratios": list(self.ratios), "recovery_ratio": self.recovery_ratio, "hurting": self.hurting,
            "fa_per_100k": self.fa_per_100k, "warm_up": self.warm_up, "prior_rate": self.prior_rate,
            "prior_n": self.prior_n, "uncertainty": self.uncertainty, "min_delta": self.min_delta,
            "min_events": self.min_events, "cooldown": self.cooldown, "block": self.block, "memory": self.memory,
        }  # fmt: skip

    def set_fa_rate(self, fa_per_100k: float) -> None:
        """Change the false-alarm budget (e.g. when the number of live streams changes)."""
        self._bank.arl0 = shared(arl0_for(fa_per_100k))
        self.fa_per_100k = fa_per_100k
        self._bank._advance(self._n)
        self._bank._design()

    # --- hot path -------------------------------------------------------------------------------------
    def update(self, x: float, t: float | None = None) -> Verdict | None:
        """Feed one outcome (1 = event, e.g. an error; NaN is ignored)."""
        if x != x:
            return None
        n = self._n + 1
        self._n = n
        self._t = t
        if (x == 0.0) is self._flip:
            self._events += 1
            return self._event(n)
        if n < self._due:
            return None
        return self._tick(n)

    def _event(self, n: int) -> Verdict | None:
        if self._phase == _WATCH:
            j = self._bank.event(n)
            self._due = self._bank.due
            return self._verdict(j, n) if j >= 0 else None
        if n >= self._due:
            return self._tick(n)
        return None

    def _tick(self, n: int) -> Verdict | None:
        if self._phase == _WATCH:
            j = self._bank.tick(n)
            self._due = self._bank.due
            return self._verdict(j, n) if j >= 0 else None
        events, trials = self._events - self._phase_e, n - self._phase_n
        # after warm-up, or after a cooldown (the new regime's rate, measured after the verdict so
        # unbiased by the selection that made it), the rate measured over the phase is the baseline
        before = self._bank.rate()[0]
        cooled = self._phase == _COOLDOWN
        self._bank.set_base(events + (self._regime_shift(events, trials) if cooled else 0.0), trials, n)
        self._bank.learning = True
        self._phase = _WATCH
        self._due = self._bank.due
        if cooled and self._in_alarm and self._ref is not None and self._back(events / trials):
            # the rate went back during the cooldown: that is the recovery, judged against the
            # pre-alarm baseline it returned to (not the alarmed level the cooldown began at)
            reference = self._values(self._summary_counts(*self._ref))
            self._in_alarm, self._ref = False, None
            rising = self._flip  # an improvement: the event rate fell
            after = _bern_summary(trials, events / trials)
            return Verdict(
                kind="recovered", direction="up" if rising else "down", index=n, change_index=self._phase_n + 1,
                statistic=0.0, threshold=0.0, detector="BernoulliCUSUM(cooldown)", params=self.params,
                before=self._values(_bern_summary(int(self._window[1]), before)), after=self._values(after),
                effect_size=cohen_h(self._values(after).mean, self._values(_bern_summary(0, before)).mean),
                in_alarm=False, reference=reference, t=self._t,
            )  # fmt: skip
        return None

    def _regime_shift(self, events: int, trials: int) -> float:
        """Events that centre the prior on the cooldown's own rate, when that is above ``prior_rate``.

        The prior says what a healthy stream's rate is; after an alarm the stream is known not to be
        there, and a short cooldown shrunk toward it reads a steady 40 % as ~25 % (prior 30 calls,
        cooldown 20), so the next calls of the same regime look like a further rise and alarm again.
        Centred on the rate measured after the verdict (not the verdict's window: that one is biased up
        by the selection that made the alarm) the prior keeps its weight, the caution, without the
        bias. A cooldown under ``prior_rate`` (after a recovery) keeps the healthy prior: an all-zero
        cooldown must not make the next single event an alarm.
        """
        return float(self.prior_n) * max(0.0, events / trials - float(self.prior_rate))

    def _back(self, rate: float) -> bool:
        """Whether ``rate`` is nearer (in log ratio) the pre-alarm reference than the alarmed level."""
        assert self._ref is not None
        ref_mean = (self._ref[0] + self.prior_rate * self.prior_n) / (self._ref[1] + self.prior_n)
        lr = math.log(max(rate, 1e-6))
        return abs(lr - math.log(max(ref_mean, 1e-6))) < abs(lr - math.log(max(self._alarm_rate, 1e-6)))

    # --- verdicts -------------------------------------------------------------------------------------
    def _verdict(self, j: int, n: int) -> Verdict:
        bank = self._bank
        up = j < bank.m
        stat, thr, c, ev = bank.member(j)
        if up:
            c, ev = self._change_point(n)
        m_after = n - c
        base_mean, _ = bank.rate()
        after_rate = ev / m_after
        before = _bern_summary(int(bank.base_n), base_mean)
        after = _bern_summary(m_after, after_rate)
        reference = None if self._ref is None else self._summary_counts(*self._ref)
        if up:
            if not self._in_alarm:
                self._ref = (bank.base_e, bank.base_n)
                reference = self._summary_counts(*self._ref)
            self._in_alarm = True
            self._alarm_rate = after_rate
            kind: Literal["alarm", "recovered"] = "alarm"
        else:
            kind = "recovered"
            if self._in_alarm and self._ref is not None and self._back(after_rate):
                self._in_alarm = False
                self._ref = None
        rising = up != self._flip  # direction of the signal's values
        verdict = Verdict(
            kind=kind,
            direction="up" if rising else "down",
            index=n,
            change_index=c + 1,
            statistic=stat,
            threshold=thr,
            detector=f"BernoulliCUSUM(ratio={self.ratios[j] if up else self.recovery_ratio:g})",
            params=self.params,
            before=self._values(before),
            after=self._values(after),
            effect_size=cohen_h(self._values(after).mean, self._values(before).mean),
            in_alarm=self._in_alarm,
            reference=None if reference is None else self._values(reference),
            t=self._t,
        )
        # re-baseline: the new regime is measured over the window and a cooldown, without learning
        self._window = (ev, m_after)
        bank.learning = False
        bank.reset(n)
        self._phase, self._phase_n, self._phase_e = _COOLDOWN, n, self._events
        self._due = n + max(self.cooldown, 1)
        return verdict

    def _change_point(self, n: int) -> tuple[int, int]:
        """(update before the change, events since): the increase member's restart that maximises
        the profile likelihood of a rate step (the after-rate fitted, not the member's design).

        Each member's last restart is the change-point estimate under its own design ratio; a small
        design ratio decays slowly after a pre-change event, so alone it often dates the change
        too early (measured: a median 200 updates early for 0.5 % -> 3 %). Choosing among the
        members' restarts by the fitted likelihood ratio costs nothing and keeps the best of them.
        """
        bank = self._bank
        p0 = bank.rate()[0]
        best, pick = -math.inf, (n, 0)
        for j in range(bank.m):
            _, _, c, ev = bank.member(j)
            m = n - c
            if m <= 0:
                continue
            p1 = min(max(ev / m, p0), 1.0 - 1e-9)
            llr = ev * math.log(p1 / p0) + (m - ev) * math.log((1.0 - p1) / (1.0 - p0))
            if llr > best:
                best, pick = llr, (c, ev)
        return pick

    def _summary_counts(self, events: float, trials: float) -> Summary:
        mean = (events + self.prior_rate * self.prior_n) / (trials + self.prior_n)
        return _bern_summary(int(trials), mean)

    def _values(self, s: Summary) -> Summary:
        """A summary of events as a summary of the signal's values (flipped when zeros are events)."""
        return _bern_summary(s.n, 1.0 - s.mean) if self._flip else s

    # --- status and persistence -----------------------------------------------------------------------
    @property
    def in_alarm(self) -> bool:
        return self._in_alarm

    def state(self) -> dict[str, Any]:
        bank = self._bank
        bank._advance(self._n)
        mean, sd = bank.rate()
        return {
            "detector": "BernoulliCUSUM",
            "n": self._n,
            "phase": ("warm_up", "watch", "cooldown")[self._phase],
            "warm_up_progress": min(1.0, self._n / self.warm_up),
            "baseline": {"rate": mean, "sd": sd, "p0_used": bank.p0, "n": bank.base_n},
            "statistics": [dict(zip(("s", "h"), bank.member(j)[:2], strict=True)) for j in range(bank.size)],
            "in_alarm": self._in_alarm,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "detector": "BernoulliCUSUM", "params": self.params, "bank": self._bank.snapshot(), "n": self._n,
            "events": self._events, "phase": [self._phase, self._phase_n, self._phase_e], "due": self._due,
            "in_alarm": self._in_alarm, "ref": None if self._ref is None else list(self._ref),
            "alarm_rate": self._alarm_rate, "window": list(self._window), "t": self._t,
        }  # fmt: skip

    def restore(self, snap: dict[str, Any]) -> None:
        if snap.get("detector") != "BernoulliCUSUM":
            raise ValueError("not a BernoulliCUSUM snapshot")
        self._bank.restore(snap["bank"])
        self._n, self._events, self._due = int(snap["n"]), int(snap["events"]), int(snap["due"])
        self._phase, self._phase_n, self._phase_e = (int(v) for v in snap["phase"])
        self._in_alarm = bool(snap["in_alarm"])
        ref = snap["ref"]
        self._ref = None if ref is None else (float(ref[0]), float(ref[1]))
        self._alarm_rate = shared(float(snap["alarm_rate"]))  # mostly 0.0: one object, as in a live detector
        self._window = shared((int(snap["window"][0]), int(snap["window"][1])))
        self._t = snap["t"]

    @property
    def nbytes(self) -> int:
        """Bytes held, an upper estimate (floats and ints shared between detectors are counted too)."""
        return _deep_size(self)


_BANK_PARAMS = frozenset(("arl0", "design"))  # shared by banks: the budget and the hyper-parameters


def _deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of ``obj``, its containers and numbers, leaving out hyper-parameters (shared, not state)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (type, bool, str)) or obj is None:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, (list, tuple, set)):
        size += sum(_deep_size(v, seen) for v in obj)
    elif isinstance(obj, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    is_bank = isinstance(obj, _BernoulliBank)
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            shared = name in _BANK_PARAMS if is_bank else not name.startswith("_")
            if not shared and hasattr(obj, name):
                size += _deep_size(getattr(obj, name), seen)
    return size
