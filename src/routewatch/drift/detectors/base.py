"""The contract every per-signal detector keeps, and the verdict it returns.

A detector is fed one value per finished call (``update``) and answers ``None`` almost always. When it
has evidence of a change it returns a :class:`Verdict`: an ``alarm`` for a change that hurts, or
``recovered`` for an improvement (evidence the router needs to restore a demoted provider). Each
verdict explains itself: where the change started, the statistic against its threshold, and
before/after summaries kept by the detector itself (river's detectors forget their window at a drift).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["Detector", "Summary", "Verdict", "cohen_h", "summarise"]


@dataclass(frozen=True, slots=True)
class Summary:
    """A regime in the units of the signal: count, mean and three quantiles."""

    n: int
    mean: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """Evidence of a change in one signal.

    ``index`` counts updates (1-based) and ``change_index`` is the first update of the new regime as
    the detector estimates it. ``before`` is the baseline the change was measured against, ``after``
    the values since ``change_index`` (quantiles over the most recent ones the detector keeps), and
    ``reference`` the pre-alarm baseline while an alarm is open (what a recovery is judged against).
    ``effect_size`` is signed (positive: the signal went up); its unit is given by ``detector``'s
    docstring. ``in_alarm`` is the detector's state after this verdict: a ``recovered`` verdict with
    ``in_alarm`` false means the signal is back near its pre-alarm baseline.
    """

    kind: Literal["alarm", "recovered"]
    direction: Literal["up", "down"]
    index: int
    change_index: int
    statistic: float
    threshold: float
    detector: str
    params: dict[str, Any]
    before: Summary
    after: Summary
    effect_size: float
    in_alarm: bool
    reference: Summary | None = None
    t: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (summaries become dicts)."""
        return asdict(self)


@runtime_checkable
class Detector(Protocol):
    """One detector per (stream key, signal). Not thread-safe: one owner feeds it."""

    def update(self, x: float, t: float | None = None) -> Verdict | None:
        """Feed one value (``t``: optional timestamp, copied into verdicts)."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-able status: warm-up progress, baseline, current statistics, ``in_alarm``."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-able copy of everything needed to resume, baselines included."""
        ...

    def restore(self, snap: dict[str, Any]) -> None:
        """Resume from a :meth:`snapshot`; later verdicts are those the original would give."""
        ...

    @property
    def nbytes(self) -> int:
        """Approximate memory held by this detector, in bytes."""
        ...


def summarise(values: Iterable[float], n: int | None = None) -> Summary:
    """Summary of ``values``; ``n`` overrides the count (when only a tail of the regime is kept)."""
    xs = sorted(values)
    if not xs:
        return Summary(n or 0, math.nan, math.nan, math.nan, math.nan)

    def q(p: float) -> float:
        pos = p * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return Summary(len(xs) if n is None else n, math.fsum(xs) / len(xs), q(0.5), q(0.95), q(0.99))


def cohen_h(p_after: float, p_before: float) -> float:
    """Cohen's h, the effect size of a change in a proportion: 2 asin sqrt(p1) - 2 asin sqrt(p0)."""
    a, b = min(max(p_after, 0.0), 1.0), min(max(p_before, 0.0), 1.0)
    return 2.0 * math.asin(math.sqrt(a)) - 2.0 * math.asin(math.sqrt(b))
