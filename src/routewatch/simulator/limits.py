"""Rate-limit bookkeeping for the headers providers send: fixed one-minute windows per provider.

>>> go_duration(0.02), go_duration(1), go_duration(360), go_duration(59.5)
('20ms', '1s', '6m0s', '59.5s')
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["LimitSnapshot", "RateWindow", "go_duration", "rfc3339"]

_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class LimitSnapshot:
    """What a rate-limit header set says after one request was counted."""

    limit_requests: int
    remaining_requests: int
    limit_tokens: int
    remaining_tokens: int
    reset_s: float


class RateWindow:
    """Counts requests and tokens in the current minute."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._requests = 0
        self._tokens = 0

    def take(self, tokens: int, limit_requests: int, limit_tokens: int) -> LimitSnapshot:
        now = time.monotonic()
        if now - self._start >= _WINDOW_S:
            self._start, self._requests, self._tokens = now, 0, 0
        self._requests += 1
        self._tokens += tokens
        return LimitSnapshot(
            limit_requests,
            max(0, limit_requests - self._requests),
            limit_tokens,
            max(0, limit_tokens - self._tokens),
            max(0.0, _WINDOW_S - (now - self._start)),
        )


def go_duration(seconds: float) -> str:
    """A duration as OpenAI's `x-ratelimit-reset-*` headers write it (Go's format)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{round(rest, 3):g}s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text


def rfc3339(seconds_from_now: float) -> str:
    """A UTC instant as Anthropic's `*-reset` headers write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))
