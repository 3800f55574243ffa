"""LogScaleCUSUM's verdicts: which test crossed, the explained verdict, re-baselining after it.

Runs only when a statistic crosses its threshold or a cooldown ends, never on the hot path. Each
function takes the detector and works on its state (kept in one place, ``continuous``, for speed).
"""

from __future__ import annotations

import math
import statistics
from array import array
from typing import TYPE_CHECKING

from ._scores import quantile_of
from .base import Summary, Verdict, cohen_h, summarise

if TYPE_CHECKING:
    from .continuous import LogScaleCUSUM

__all__ = ["COOLDOWN", "NO_VALUES", "WARMUP", "WATCH", "baseline_summary", "crossed", "rebaseline", "recent"]

WATCH, WARMUP, COOLDOWN = 0, 1, 2  # a detector's phases
# shared, never written: the warm-up buffer once it is spent, and the score table until the fit
NO_VALUES: array[float] = array("f")
NO_RING: array[int] = array("h")  # shared, never written: the window of a detector still at warm-up
_Z95, _Z99 = 1.6448536269514722, 2.3263478740408408


def crossed(det: LogScaleCUSUM, n: int, tail: int) -> Verdict | None:
    det._over += 1
    if det._over < det.persistence and tail < 0:
        return None
    tb = det._tail
    # hurting tests first, the one furthest past its threshold
    best, which = 0.0, ""
    for name, s, h in (("s1", det._s1, det._h1), ("s2", det._s2, det._h2)):
        if s > h and s / h > best:
            best, which = s / h, name
    if tail == 0 and tb.v[0] / tb.v[3 * tb.size] > best:
        which = "tail"
    if not which:
        which = "tail_down" if tail == 1 else "down"
    if which == "tail_down" and det._fired != "tail":
        tb.reset(n)  # the tail thinned while no tail alarm is open: nothing to report
        det._tail_due = tb.due
        det._over = 0
        return None
    if which == "tail" or which == "tail_down":
        stat, thr, c, events = tb.member(tail)
        if which == "tail":
            c, events = _tail_change_point(det, n, c, events)
        rate = events / max(n - c, 1)
        effect = det._sign * cohen_h(rate, tb.rate()[0])
        label = f"LogScaleCUSUM(tail={det.tail_quantile:g})"
    else:
        c, stat, thr, k = {
            "s1": (det._c1, det._s1, det._h1, det._k1),
            "s2": (det._c2, det._s2, det._h2, det._k2),
            "down": (det._cd, det._sd, det._hd, det._kd),
        }[which]
        mean_zh = stat / max(n - c, 1) + k
        effect = det._sign * (-mean_zh if which == "down" else mean_zh)
        label = f"LogScaleCUSUM(shift={2 * k:g})"
    alarm = which in ("s1", "s2", "tail")
    before = baseline_summary(det, det._off, det._mean, det._n_base)
    after_values = recent(det, n - c)
    reference = None
    ref = det._ref  # a recovery that closes the alarm clears it, and is judged against it
    if alarm:
        if det._ref is None:
            det._ref = ref = (det._off, det._mean, det._n_base, tb.base_e, tb.base_n)
        det._in_alarm = True
    elif det._in_alarm and det._ref is not None:
        resolve(det, which, after_values)
    if ref is not None:
        reference = baseline_summary(det, ref[0], ref[1], ref[2])
    verdict = Verdict(
        kind="alarm" if alarm else "recovered",
        direction="up" if (alarm == (det._sign > 0)) else "down",
        index=n,
        change_index=c + 1,
        statistic=stat,
        threshold=thr,
        detector=label,
        params=det.params,
        before=before,
        after=summarise((math.exp(v) for v in after_values) if det._log else after_values, n=n - c),
        effect_size=effect,
        in_alarm=det._in_alarm,
        reference=reference,
        t=det._t,
    )
    det._fired = which
    det._change = c
    det._sd = 0.0
    det._phase = COOLDOWN
    det._due = n + max(det.cooldown, 1)
    return verdict


def _tail_change_point(det: LogScaleCUSUM, n: int, c: int, events: int) -> tuple[int, int]:
    """(update before the change, exceedances since) for a tail alarm.

    The tail test's own restart dates the change too early when exceedances are rare (its statistic
    seldom returns to zero: measured on a x2 latency step after a 100-value warm-up, the restart at
    the end of warm-up). The shift tests' restarts, when recent enough to count exceedances in the
    ring of recent values, are candidates too; the one with the highest fitted likelihood ratio of
    an exceedance-rate step wins.
    """
    p0 = min(max(det._tail.rate()[0], 1e-9), 0.5)
    best, pick = _step_llr(events, n - c, p0), (c, events)
    for cj in (det._c1, det._c2):
        m = n - cj
        if cj <= c or not 0 < m <= det.window:
            continue
        ev = round(exceed_rate(det, recent(det, m), det._off) * m)
        llr = _step_llr(ev, m, p0)
        if llr > best:
            best, pick = llr, (cj, ev)
    return pick


def _step_llr(events: int, m: int, p0: float) -> float:
    """Log-likelihood ratio of a rate step to the fitted ``events / m`` (no smaller than ``p0``)."""
    if m <= 0:
        return -math.inf
    p1 = min(max(events / m, p0), 1.0 - 1e-9)
    return events * math.log(p1 / p0) + (m - events) * math.log((1.0 - p1) / (1.0 - p0))


def resolve(det: LogScaleCUSUM, which: str, window: list[float]) -> None:
    """An improvement while an alarm is open: closed if nearer the reference than the alarm level."""
    assert det._ref is not None
    if which == "down":
        level = statistics.median(window) - det._knots[len(det._knots) // 2]
        back = abs(level - det._ref[0]) < abs(level - det._alarm_off)
    else:
        ref_rate = (det._ref[3] + det._tail.prior_rate * det._tail.prior_n) / (det._ref[4] + det._tail.prior_n)
        rate = exceed_rate(det, window, det._ref[0])
        lr = math.log(max(rate, 1e-4))
        back = abs(lr - math.log(ref_rate)) < abs(lr - math.log(max(det._alarm_tail, 1e-4)))
    if back:
        det._in_alarm = False
        det._ref = None


def rebaseline(det: LogScaleCUSUM, n: int) -> None:
    """End of cooldown: move the baseline to the new regime as measured after the verdict.

    Only values seen after the verdict are used (the verdict's own window was selected for being
    extreme): the location moves by the cooldown's mean normal score (in log-scale units), then
    keeps being learnt as a running mean (see ``_learn``).
    """
    window = recent(det, max(1, min(det.cooldown, n - det._change)))
    cool = max(1, det.cooldown)
    det._off += det._sd / cool * det._scale
    det._fast = cool
    det._learn()
    tb = det._tail
    if det._fired in ("tail", "tail_down"):
        exceed = exceed_rate(det, window, det._off) * len(window)
        tb.rebase(exceed, float(len(window)), float(det.warm_up), n)
    else:
        tb.reset(n)
    det._tail_due = tb.due
    if det._in_alarm and det._fired in ("s1", "s2", "tail"):
        det._alarm_off = det._off
        det._alarm_tail = tb.rate()[0]
    det._n_base = len(window)
    vals = [math.exp(v) for v in window] if det._log else window
    det._mean = math.fsum(vals) / len(vals)
    det._restart(n)


def exceed_rate(det: LogScaleCUSUM, window: list[float], off: float) -> float:
    """Share of ``window`` past the tail quantile of the baseline located at ``off``."""
    if det._sign > 0:
        cut = quantile_of(det._knots, det._zt, det.clip) + off
        return sum(1 for v in window if v > cut) / len(window)
    cut = quantile_of(det._knots, -det._zt, det.clip) + off
    return sum(1 for v in window if v < cut) / len(window)


def recent(det: LogScaleCUSUM, m: int) -> list[float]:
    """The last ``min(m, window)`` transformed values, oldest first."""
    m = max(1, min(m, det.window))
    ring, ri, w, a, qs = det._ring, det._ri, det.window, det._anchor, det._qs
    return [a + ring[(ri - m + i) % w] / qs for i in range(m)]


def inverse(det: LogScaleCUSUM, y: float) -> float:
    return math.exp(y) if det._log else y


def baseline_summary(det: LogScaleCUSUM, off: float, mean: float, n: int) -> Summary:
    q, c = det._knots, det.clip
    return Summary(
        n, mean, inverse(det, quantile_of(q, 0.0, c) + off), inverse(det, quantile_of(q, _Z95, c) + off),
        inverse(det, quantile_of(q, _Z99, c) + off),
    )  # fmt: skip
