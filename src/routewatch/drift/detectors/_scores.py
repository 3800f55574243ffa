"""Normal scores from a warm-up sample: a small table of quantile knots, evaluated by bisection.

The knots are the sample's quantiles at the standard-normal probabilities of an even grid of scores
(-clip .. clip). Interpolating between knots maps any continuous distribution onto N(0, 1) under the
baseline, so a CUSUM calibrated for normal increments keeps its false-alarm rate on lognormal,
bimodal or log-t data alike; values past the outer knots are clipped to +-clip (robust to outliers).
Ties (integer token counts, a max-token cap, a constant price) get the middle score of their band.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

__all__: list[str] = []

GRID_STEP = 0.25


def phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def build_knots(sample: Sequence[float], clip: float) -> array[float]:
    """Knots of a sorted-able sample at scores ``-clip, -clip + GRID_STEP, ..., clip``."""
    xs = sorted(sample)
    size = round(2 * clip / GRID_STEP) + 1
    out = array("f")  # float32: finer than the warm-up grid they interpolate, half the memory of doubles
    last = len(xs) - 1
    for i in range(size):
        pos = phi(-clip + i * GRID_STEP) * last
        lo = int(pos)
        hi = min(lo + 1, last)
        out.append(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))
    for i in range(1, size):  # interpolation rounding must not make knots decrease
        if out[i] < out[i - 1]:
            out[i] = out[i - 1]
    return out


class Atoms:
    """Atom values (on the warm-up's grid, so float32 exactly; sorted) and their scores, in two arrays.

    A dict of them costs ~2.5x as much (its table and a float object per key and per score), and a
    stream of integer token counts or prices has dozens of atoms in each of two detectors.
    """

    __slots__ = ("_scores", "_values")

    def __init__(self, scores: Iterable[tuple[float, float]]) -> None:
        pairs = sorted(scores)
        self._values = array("f", [v for v, _ in pairs])
        self._scores = array("d", [z for _, z in pairs])

    def get(self, value: float) -> float | None:
        """The score of `value` (a value on the warm-up's grid, see `_warm.on_grid`) if it is an atom."""
        values = self._values
        i = bisect_left(values, value)
        return self._scores[i] if i < len(values) and values[i] == value else None

    def items(self) -> Iterator[tuple[float, float]]:
        return zip(self._values, self._scores, strict=True)


def atom_scores(sample: Sequence[float], clip: float, min_share: float = 0.01) -> Atoms | None:
    """Values repeated in at least ``min_share`` of the sample (and 5 times), with their exact score.

    An atom covering empirical probabilities (F-, F+] scores E[Z | Phi^-1(F-) < Z < Phi^-1(F+)], so
    the baseline's mean score stays 0 however much of the mass sits on a cap or on 0/1.
    """
    counts: dict[float, int] = {}
    for v in sample:
        counts[v] = counts.get(v, 0) + 1
    n = len(sample)
    need = max(5, min_share * n)
    atoms = sorted(v for v, c in counts.items() if c >= need)
    if not atoms:
        return None
    out: list[tuple[float, float]] = []
    for v in atoms:
        below = sum(c for w, c in counts.items() if w < v)
        lo, hi = below / n, (below + counts[v]) / n
        a = probit(lo) if lo > 0.0 else -math.inf
        b = probit(hi) if hi < 1.0 else math.inf
        dens = (pdf(a) - pdf(b)) / (hi - lo)
        out.append((v, min(max(dens, -clip), clip)))
    return Atoms(out)


def pdf(z: float) -> float:
    return 0.0 if math.isinf(z) else math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def probit(p: float) -> float:
    """Standard-normal quantile by bisection on erf (construction time only)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if phi(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def band_score(knots: array[float], u: float, j: int, clip: float) -> float:
    """Score of a value equal to knots ``lo..j`` (a tie band): the middle of the band."""
    lo = bisect_left(knots, u)
    return -clip + (lo + j) * 0.5 * GRID_STEP


def quantile_of(knots: array[float], z: float, clip: float) -> float:
    """Inverse map: the value whose score is ``z`` (linear between knots)."""
    pos = (min(max(z, -clip), clip) + clip) / GRID_STEP
    lo = min(int(pos), len(knots) - 2)
    return knots[lo] + (knots[lo + 1] - knots[lo]) * (pos - lo)
