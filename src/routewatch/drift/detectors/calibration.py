"""Thresholds from a false-alarm budget.

A one-sided CUSUM raises a false alarm on average once every ARL0 updates (its in-control average
run length), so a budget of ``fa_per_100k`` false alarms per 100,000 updates is ``ARL0 = 1e5 /
fa_per_100k``. Thresholds come from Siegmund's corrected diffusion approximation, written for any
log-likelihood-ratio CUSUM as

    ARL0 ~= (exp(b) - b - 1) / I0,    b = h + rho,

where ``I0`` is the Kullback-Leibler divergence per update from the in-control to the design
distribution and ``rho`` corrects for the overshoot of the boundaries. For standard-normal scores with
reference ``k`` (design shift ``2k``) this is Siegmund's classic formula, ``rho = 1.166 * 2k`` on the
log-likelihood scale. For a Bernoulli CUSUM of rate ratio ``r`` exact Markov-chain computations
(Brook & Evans) give ``rho ~= |ln r| / 3`` for base rates up to ~5 %, slightly more above; using the
small-rate value errs on the safe side (ARL0 longer than asked). A bank of CUSUMs watching the same
stream splits the budget: member ``j`` is given ``ARL0 / share_j`` with shares summing to 1 (Bonferroni;
they are positively correlated, so the bank's ARL0 is at least ``ARL0``). Continuous detectors share
equally; Bernoulli banks use :func:`budget_shares`.

Many streams: a monitor watching ``n`` live stream keys with a global budget ``G`` false alarms per
100,000 updates *in total* gives each detector ``fa_per_stream(G, n)`` (Bonferroni again: per-stream
ARL0 = global ARL0 * n). Thresholds grow only with ``log n`` (about +2.3 on the log-likelihood scale per
factor of 10 streams), so delays grow slowly; a caller that knows its budget passes ``fa_per_100k``.

>>> round(threshold_for(1e5, k=0.338), 2)  # normal scores, design shift 0.676 sd
13.68
>>> round(threshold_for(1e5, p0=0.02, p1=0.05), 2)  # Bernoulli 2 % -> 5 %, log-likelihood units
6.8
"""

from __future__ import annotations

import math

__all__ = [
    "SIEGMUND_RHO", "arl0_for", "budget_shares", "fa_per_stream", "kl_bernoulli", "solve_siegmund", "threshold_for",
    "threshold_for_llr",
]  # fmt: skip

SIEGMUND_RHO = 1.166  # 2 * 0.583, Siegmund (1985): boundary correction for normal increments


def arl0_for(fa_per_100k: float) -> float:
    """In-control average run length (updates between false alarms) for a per-stream budget."""
    if not fa_per_100k > 0.0:
        raise ValueError(f"fa_per_100k must be > 0, got {fa_per_100k!r}")
    return 1e5 / fa_per_100k


def budget_shares(m: int) -> tuple[float, ...]:
    """How a bank of ``m`` tests, ordered from the smallest design change up, splits one budget.

    With three or more, the test of the largest change (a burst detector) gets a tenth and the others
    share the rest equally: a large change crosses in a few events of ``log(ratio)`` nats each, so a
    threshold ``log(10 / m)`` nats higher costs it under half an event, while each test of a small
    change, which takes hundreds of updates to cross, gains that much. The shares sum to 1, so the
    bank stays within its false-alarm budget as with equal shares (Bonferroni).

    >>> budget_shares(3)
    (0.45, 0.45, 0.1)
    >>> budget_shares(2)
    (0.5, 0.5)
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m!r}")
    if m < 3:
        return (1.0 / m,) * m
    return (0.9 / (m - 1),) * (m - 1) + (0.1,)


def fa_per_stream(global_fa_per_100k: float, n_streams: int) -> float:
    """Per-stream budget when ``n_streams`` detectors share ``global_fa_per_100k`` (Bonferroni)."""
    if n_streams < 1:
        raise ValueError(f"n_streams must be >= 1, got {n_streams!r}")
    arl0_for(global_fa_per_100k)
    return global_fa_per_100k / n_streams


def kl_bernoulli(p0: float, p1: float) -> float:
    """KL(Bernoulli(p0) || Bernoulli(p1)), in nats per update."""
    return p0 * math.log(p0 / p1) + (1.0 - p0) * math.log((1.0 - p0) / (1.0 - p1))


def solve_siegmund(target: float) -> float:
    """The ``b > 0`` with ``exp(b) - b - 1 = target`` (Newton from the right: monotone, fast)."""
    if target <= 0.0:
        return 0.0
    b = math.log1p(target) + 1.0
    for _ in range(60):
        f = math.exp(b) - b - 1.0 - target
        step = f / (math.exp(b) - 1.0)
        b -= step
        if abs(step) < 1e-12 * max(1.0, b):
            break
    return b


def threshold_for(arl0: float, *, k: float | None = None, p0: float | None = None, p1: float | None = None) -> float:
    """CUSUM threshold giving in-control average run length ``arl0``.

    ``k``: CUSUM ``S = max(0, S + z - k)`` on standard-normal scores; the threshold is in score units.
    ``p0, p1``: Bernoulli log-likelihood-ratio CUSUM of ``p1`` against ``p0``; threshold in nats.
    """
    if not arl0 > 1.0:
        raise ValueError(f"arl0 must be > 1, got {arl0!r}")
    if k is not None:
        if p0 is not None or p1 is not None:
            raise ValueError("give either k or (p0, p1)")
        if not k > 0.0:
            raise ValueError(f"k must be > 0, got {k!r}")
        b = solve_siegmund(arl0 * 2.0 * k * k)
        return max(b / (2.0 * k) - SIEGMUND_RHO, 1e-9)
    if p0 is None or p1 is None:
        raise ValueError("give either k or (p0, p1)")
    if not (0.0 < p0 < 1.0 and 0.0 < p1 < 1.0) or p0 == p1:
        raise ValueError(f"need 0 < p0 != p1 < 1, got p0={p0!r}, p1={p1!r}")
    return threshold_for_llr(arl0, kl_bernoulli(p0, p1), abs(math.log(p1 / p0)) / 3.0)


def threshold_for_llr(arl0: float, kl: float, rho: float) -> float:
    """Threshold, in nats, of a log-likelihood-ratio CUSUM of any discrete design.

    ``kl``: Kullback-Leibler divergence per update from the in-control to the design distribution;
    ``rho``: the boundary correction, about a third of the typical step that crosses for rare-event
    designs (see the module). A Bernoulli CUSUM's is ``threshold_for(arl0, p0=p0, p1=p1)``.

    >>> round(threshold_for_llr(1e5, kl_bernoulli(0.02, 0.05), math.log(2.5) / 3), 2)
    6.8
    """
    if not arl0 > 1.0:
        raise ValueError(f"arl0 must be > 1, got {arl0!r}")
    return max(solve_siegmund(arl0 * kl) - rho, 1e-9)
