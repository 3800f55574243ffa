"""Per-signal drift detectors: a protocol, two families chosen per kind of signal, and a registry.

``LogScaleCUSUM`` watches continuous, heavy-tailed values in any unit (latency, TTFT, time per chunk,
tokens per second, output tokens, cost, scores); ``BernoulliCUSUM`` watches 0/1 outcomes with low base
rates (errors, rate limits, quality verdicts). Both return a :class:`Verdict` (``alarm`` for a change
that hurts, ``recovered`` for an improvement) with before/after summaries, and calibrate their
thresholds from a false-alarm budget (:mod:`.calibration`).
"""

from __future__ import annotations

from .base import Detector, Summary, Verdict, cohen_h, summarise
from .calibration import arl0_for, fa_per_stream, threshold_for
from .continuous import LogScaleCUSUM
from .rates import BernoulliCUSUM
from .registry import DETECTORS, SIGNALS, make_detector

__all__ = [
    "DETECTORS",
    "SIGNALS",
    "BernoulliCUSUM",
    "Detector",
    "LogScaleCUSUM",
    "Summary",
    "Verdict",
    "arl0_for",
    "cohen_h",
    "fa_per_stream",
    "make_detector",
    "summarise",
    "threshold_for",
]
