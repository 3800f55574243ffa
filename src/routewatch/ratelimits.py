"""Rate-limit headroom from response headers: OpenAI, Anthropic, and `retry-after`.

`read_response_headers` runs on every response, so it makes one pass over the header pairs with one
dict lookup each and parses values only for the few names it knows (Content-Type and
Content-Encoding too, which the digest needs). Garbage values are skipped,
never raised.

>>> raw = [(b"X-RateLimit-Remaining-Tokens", b"149000"), (b"x-ratelimit-reset-tokens", b"6m0s")]
>>> limits = parse_rate_limits(raw, now_unix=0)
>>> limits.remaining_tokens, limits.reset_tokens_s, limits.remaining_requests
(149000, 360.0, None)
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from routewatch.records import RateLimits, new_rate_limits

__all__ = ["parse_duration", "parse_rate_limits", "read_response_headers"]


def parse_rate_limits(
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]], now_unix: float
) -> RateLimits:
    """Read rate-limit headers; `now_unix` turns absolute reset times into seconds from now.

    `headers` is a mapping or (name, value) pairs, as str or bytes (latin-1), such as httpx's
    `response.headers.raw` (the cheapest form: `Headers.items()` decodes every header first).
    Returns `new_rate_limits()` with every field None when nothing was sent.
    """
    return read_response_headers(headers, now_unix)[0]


def read_response_headers(
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]], now_unix: float
) -> tuple[RateLimits, str, str]:
    """(rate limits, Content-Type, Content-Encoding) in the same one pass: what a response's
    digest needs from its headers. A header sent twice reads as its values joined by ", ", as
    `Headers.get` gives it; an absent one as ""."""
    found: dict[int, str | bytes] | None = None
    content: list[str] = ["", ""]
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        slot = _SLOTS.get(name.lower())
        if slot is None:
            continue
        if slot < 0:  # content-type (-2) or content-encoding (-1)
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            content[slot] = f"{content[slot]}, {text}" if content[slot] else text
            continue
        if found is None:
            found = {}
        found[slot] = value
    if found is None:
        return _NONE, content[0], content[1]
    try:
        return _read(found, now_unix), content[0], content[1]
    except Exception:  # a value shape no parser foresaw: report nothing rather than fail the call
        return _NONE, content[0], content[1]


def parse_duration(text: str, now: float = 0.0) -> float | None:
    """Seconds in a Go-style duration ("1s", "6m0s", "20ms", "1h2m3.5s") or a bare number of seconds.

    `now` is unused; it gives every header parser the same signature.
    """
    text = text.strip()
    try:  # the common shapes, "0s", "7.66s", "6ms", without a regex
        if text.endswith("ms"):
            seconds: float | None = float(text[:-2]) / 1000
        elif text.endswith("s"):
            seconds = float(text[:-1])
        else:
            seconds = float(text)
    except ValueError:
        match = _GO_DURATION.fullmatch(text)
        if match is None or not text:
            return None
        seconds = sum(float(n) * unit for n, unit in zip(match.groups(), _GO_UNITS, strict=True) if n is not None)
    return seconds if seconds is not None and 0 <= seconds < math.inf else None


def _read(found: Mapping[int, str | bytes], now: float) -> RateLimits:
    v: list[Any] = [None] * len(_PARSERS)
    for slot, raw in found.items():
        v[slot] = _PARSERS[slot](raw.decode("latin-1") if isinstance(raw, bytes) else raw, now)
    tokens = _AN_TOKENS
    if v[_AN_TOKENS] is None and v[_AN_TOKENS + 1] is None and v[_AN_TOKENS + 2] is None:
        # No combined figure: take the input or output family, whichever has less remaining.
        input_left, output_left = v[_AN_INPUT + 1], v[_AN_OUTPUT + 1]
        input_sent = v[_AN_INPUT : _AN_INPUT + 3] != [None, None, None]
        tighter = output_left is not None and (input_left is None or output_left < input_left)
        tokens = _AN_OUTPUT if tighter or not input_sent else _AN_INPUT
    # Each figure: OpenAI's header, else Anthropic's (inline: this runs on every response).
    a, b = v[_OA_REMAINING_REQUESTS], v[_AN_REQUESTS + 1]
    remaining_requests = a if a is not None else b
    a, b = v[_OA_REMAINING_TOKENS], v[tokens + 1]
    remaining_tokens = a if a is not None else b
    a, b = v[_OA_LIMIT_REQUESTS], v[_AN_REQUESTS]
    limit_requests = a if a is not None else b
    a, b = v[_OA_LIMIT_TOKENS], v[tokens]
    limit_tokens = a if a is not None else b
    a, b = v[_OA_RESET_REQUESTS], v[_AN_REQUESTS + 2]
    reset_requests_s = a if a is not None else b
    a, b = v[_OA_RESET_TOKENS], v[tokens + 2]
    reset_tokens_s = a if a is not None else b
    a, b = v[_RETRY_AFTER_MS], v[_RETRY_AFTER]  # as the OpenAI SDK: ms wins
    retry_after_s = a if a is not None else b
    return new_rate_limits(
        remaining_requests,
        remaining_tokens,
        limit_requests,
        limit_tokens,
        reset_requests_s,
        reset_tokens_s,
        retry_after_s,
    )


def _count(text: str, now: float) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def _seconds_until(text: str, now: float) -> float | None:
    """Seconds from `now` until an RFC 3339 time ("2025-05-01T12:00:30Z"), floored at 0."""
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return max(at.timestamp() - now, 0.0)


def _retry_after(text: str, now: float) -> float | None:
    """`retry-after`: delay seconds, or an HTTP-date turned into seconds from now (floored at 0)."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime  # rare: HTTP-date retry-after

            when = parsedate_to_datetime(text.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000" dates parse naive; they mean UTC
            return max(calendar.timegm(when.timetuple()) - now, 0.0)
        return max(when.timestamp() - now, 0.0)
    return seconds if 0 <= seconds < math.inf else None


def _retry_after_ms(text: str, now: float) -> float | None:
    try:
        ms = float(text)
    except ValueError:
        return None
    return ms / 1000 if 0 <= ms < math.inf else None


# Slot per header, in this order; Anthropic families are (limit, remaining, reset) triples.
_PARSER_BY_HEADER: dict[str, Callable[[str, float], float | None]] = {
    # OpenAI (and OpenAI-compatible APIs: Groq, Together, ...)
    "x-ratelimit-limit-requests": _count,
    "x-ratelimit-limit-tokens": _count,
    "x-ratelimit-remaining-requests": _count,
    "x-ratelimit-remaining-tokens": _count,
    "x-ratelimit-reset-requests": parse_duration,
    "x-ratelimit-reset-tokens": parse_duration,
    # Anthropic: tokens-* is the most restrictive token limit; input/output-tokens-* its parts.
    **{
        f"anthropic-ratelimit-{family}-{field}": parser
        for family in ("requests", "tokens", "input-tokens", "output-tokens")
        for field, parser in (("limit", _count), ("remaining", _count), ("reset", _seconds_until))
    },
    "retry-after": _retry_after,
    "retry-after-ms": _retry_after_ms,
}
_PARSERS = tuple(_PARSER_BY_HEADER.values())
_SLOTS: dict[str | bytes, int] = {
    **{name: i for i, name in enumerate(_PARSER_BY_HEADER)},
    **{name.encode(): i for i, name in enumerate(_PARSER_BY_HEADER)},
    # Not rate limits: read in the same pass for the digest, into `content[slot]`.
    **{name: -2 for name in ("content-type", b"content-type")},
    **{name: -1 for name in ("content-encoding", b"content-encoding")},
}
(
    _OA_LIMIT_REQUESTS,
    _OA_LIMIT_TOKENS,
    _OA_REMAINING_REQUESTS,
    _OA_REMAINING_TOKENS,
    _OA_RESET_REQUESTS,
    _OA_RESET_TOKENS,
) = range(6)
_AN_REQUESTS, _AN_TOKENS, _AN_INPUT, _AN_OUTPUT = range(6, 18, 3)
_RETRY_AFTER, _RETRY_AFTER_MS = 18, 19
_NONE = new_rate_limits()

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_GO_DURATION = re.compile(
    rf"(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?(?:{_NUMBER}ms)?(?:{_NUMBER}(?:us|µs|μs))?(?:{_NUMBER}ns)?"
)
_GO_UNITS = (3600.0, 60.0, 1.0, 1e-3, 1e-6, 1e-9)
