"""One plain sentence per alarm, in the signal's own units, that a person can act on."""

from __future__ import annotations

import math
from typing import Literal

from .alarm import SignalStats

__all__ = ["explain", "severity"]

# How each signal reads in a sentence: (noun, statistic shown, unit kind).
_SIGNALS: dict[str, tuple[str, str, str]] = {
    "latency": ("latency", "p95", "seconds"),
    "ttft": ("time to first chunk", "p95", "seconds"),
    "tpot": ("time per output chunk", "p50", "seconds"),
    "tokens_per_s": ("output speed", "p50", "tokens_per_s"),
    "output_tokens": ("output tokens per call", "p50", "count"),
    "cost": ("cost per call", "mean", "usd"),
    "score": ("score", "mean", "number"),
}
_RATES = {
    "error": "error rate",
    "rate_limited": "rate-limited share",
    "server_error": "server-error rate",
    "schema_invalid": "invalid structured-output rate",
    "refusal": "refusal rate",
    "truncated": "truncation rate",
    "empty": "empty-output rate",
}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "?"
    if unit == "seconds":
        # whole milliseconds lose a fast stream's value (0.4 ms read "0 ms"): two digits below 10 ms;
        # from 999.5 ms on, seconds (it would read "1000 ms")
        if value >= 0.9995:
            return f"{value:.2f} s"
        ms = value * 1000
        return f"{ms:.0f} ms" if ms >= 9.95 else f"{ms:.2g} ms"
    if unit == "usd":
        return f"${_positional(value, 4)}"
    if unit == "percent":
        return f"{value * 100:.1f} %"
    if unit == "tokens_per_s":
        return f"{value:.0f} tokens/s"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.3g}"


def _positional(value: float, digits: int) -> str:
    """``digits`` significant digits without an exponent: a cheap model's call costs $0.00006, which
    ``g`` formatting writes as $6e-05 (trailing zeros dropped, as ``g`` does; large values keep all
    their integer digits)."""
    if value == 0.0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pick(stats: SignalStats | None, which: str) -> float | None:
    if stats is None:
        return None
    value = getattr(stats, which, None)
    return stats.mean if value is None else float(value)


def explain(
    kind: str, signal: str, stream: str, direction: str, before: SignalStats | None, after: SignalStats | None
) -> str:
    """E.g. "p95 latency of anthropic/claude-x rose from 1.80 s to 3.10 s over the last 400 calls".

    `kind`: "alarm", "recovered" (back at the pre-alarm baseline) or "improved" (better than baseline).
    """
    if signal in _RATES:
        noun, which, unit = _RATES[signal], "mean", "percent"
    else:
        noun, which, unit = _SIGNALS.get(signal, (signal, "mean", "number"))
    label = noun if which == "mean" else f"{which} {noun}"
    old, new = _pick(before, which), _pick(after, which)
    calls = after.n if after is not None else 0
    if kind == "recovered":
        return (
            f"{label} of {stream} is back at its baseline ({_fmt(new, unit)}, baseline {_fmt(old, unit)}) "
            f"over the last {calls} calls"
        )
    verb = "rose" if direction == "up" else "fell"
    if which != "mean" and _against(old, new, direction):
        # the detector reads every value's score, not one quantile: a small shift of the body can
        # alarm while the sample's p95 moved the other way. Name a statistic that moved as it says.
        for fallback in ("p50", "mean"):
            old2, new2 = _pick(before, fallback), _pick(after, fallback)
            if not _against(old2, new2, direction):
                label, old, new = (noun if fallback == "mean" else f"{fallback} {noun}"), old2, new2
                break
    text = f"{label} of {stream} {verb} from {_fmt(old, unit)} to {_fmt(new, unit)} over the last {calls} calls"
    return f"improvement: {text}" if kind == "improved" else text


def _against(old: float | None, new: float | None, direction: str) -> bool:
    """Whether a before/after pair moved against `direction` (unknowns never do)."""
    if old is None or new is None:
        return False
    return new < old if direction == "up" else new > old


def severity(signal: str, before: SignalStats | None, after: SignalStats | None) -> Literal["warning", "critical"]:
    """critical when the hurting statistic moved by 2x or more, else warning."""
    if before is None or after is None or before.mean is None or after.mean is None:
        return "warning"
    old, new = before.mean, after.mean
    if old <= 0:
        return "critical" if new > 0 and signal in _RATES else "warning"
    ratio = new / old if new >= old else old / max(new, 1e-12)
    return "critical" if ratio >= 2.0 else "warning"
