"""Which detector watches which signal: one registry, so every stream key builds the same set.

Family 1 (:class:`LogScaleCUSUM`): latency, ttft, tpot (time per output chunk), output_tokens and cost
hurt when they go up; tokens_per_s hurts when it goes down. Family 2 (:class:`BernoulliCUSUM`): error,
rate_limited, server_error and the quality verdicts schema_invalid, refusal, truncated, empty (0/1,
hurting when the rate goes up). ``score`` (a downstream score: thumbs 0/1 or a grade) hurts when it
goes down and uses family 1 without the log (scores can be 0): its normal-score table gives tied
values the middle of their band, so 0/1 thumbs work as a mean-shift test; a pure pass/fail stream is
watched a little faster as ``make_detector("error", hurting="down")`` on the pass flag.

>>> det = make_detector("latency", fa_per_100k=0.1)
>>> type(det).__name__, det.hurting, det.fa_per_100k
('LogScaleCUSUM', 'up', 0.1)
>>> make_detector("tokens_per_s").hurting
'down'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .continuous import LogScaleCUSUM
from .rates import BernoulliCUSUM

__all__ = ["DETECTORS", "SIGNALS", "make_detector"]

Factory = Callable[..., Any]

_CONTINUOUS_UP = ("latency", "ttft", "tpot", "output_tokens", "cost")
_RATES = ("error", "rate_limited", "server_error", "schema_invalid", "refusal", "truncated", "empty")

# Signals that follow the provider's load, and so the day: they keep a daily profile when the calls
# come with timestamps (see ``_season``). Output tokens and cost follow what the app asks for instead.
_DAILY = ("latency", "ttft", "tpot", "tokens_per_s")
_TABLE: dict[str, tuple[Factory, dict[str, Any]]] = {
    **{name: (LogScaleCUSUM, {"hurting": "up", "seasonal": name in _DAILY}) for name in _CONTINUOUS_UP},
    "tokens_per_s": (LogScaleCUSUM, {"hurting": "down", "seasonal": "tokens_per_s" in _DAILY}),
    "score": (LogScaleCUSUM, {"hurting": "down", "transform": "identity"}),
    **{name: (BernoulliCUSUM, {"hurting": "up"}) for name in _RATES},
}

#: signal name -> (detector class, default keyword arguments)
DETECTORS: Mapping[str, tuple[Factory, Mapping[str, Any]]] = MappingProxyType(
    {name: (cls, MappingProxyType(kw)) for name, (cls, kw) in _TABLE.items()}
)
#: every signal name the registry knows
SIGNALS: frozenset[str] = frozenset(_TABLE)


def make_detector(signal: str, **overrides: Any) -> LogScaleCUSUM | BernoulliCUSUM:
    """A fresh detector for ``signal``; ``overrides`` replace its defaults (e.g. ``fa_per_100k``)."""
    try:
        cls, defaults = _TABLE[signal]
    except KeyError:
        raise ValueError(f"unknown signal {signal!r}; known: {', '.join(sorted(SIGNALS))}") from None
    detector: LogScaleCUSUM | BernoulliCUSUM = cls(**{**defaults, **overrides})
    return detector
