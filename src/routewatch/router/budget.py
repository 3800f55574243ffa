"""Failover limits: which errors justify trying another target, and a retry budget so they cannot
turn an outage into a retry storm.

`classify_error` reads `status_code` / `code` / `response.status_code` attributes and exception class
names, so openai, anthropic, google-genai, httpx and httpx2 errors are understood without importing
any of them. `RetryBudget` follows Envoy's and gRPC's retry budgets: failovers in the last
`window_s` may not exceed `ratio` x requests plus `min_retries`.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Failure", "RetryBudget", "classify_error", "is_failover_status"]

_TIMEOUT_NAMES = ("Timeout",)  # APITimeoutError, ReadTimeout, TimeoutException, TimeoutError, DeadlineExceeded
_CONNECTION_NAMES = frozenset(
    {"APIConnectionError", "ConnectError", "ConnectionError", "NetworkError", "ReadError", "WriteError",
     "RemoteProtocolError", "ProtocolError", "TransportError", "ServerDisconnectedError", "IncompleteRead",
     "ChunkedEncodingError", "BrokenPipeError", "ConnectionResetError", "ConnectionRefusedError"}
)  # fmt: skip
_SERVER_NAMES = frozenset({"InternalServerError", "OverloadedError", "ServiceUnavailableError", "ServerError",
                           "RateLimitError", "APIStatusError"})  # fmt: skip
# Statuses where another target may well succeed: overload, rate limit, timeout, server errors, and
# target-specific configuration faults (key, billing, model not found). 400/413/422 are the request's.
_TARGET_STATUSES = frozenset({401, 402, 403, 404, 408, 409, 429})


_OVERLOAD_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "server_error", "internal_error"})


def _body_error_type(exc: BaseException) -> str | None:
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) and kind else None


def is_failover_status(status: int) -> bool:
    return status >= 500 or status in _TARGET_STATUSES


@dataclass(frozen=True, slots=True)
class Failure:
    """What an exception says about the target: whether to fail over, and the labels for health."""

    failover: bool
    status_code: int | None
    error_type: str
    retry_after_s: float | None = None
    provider_error: bool = True  # False: the caller's own bug, not the target's failure

    def as_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error.type": self.error_type}
        if self.status_code is not None:
            out["http.response.status_code"] = self.status_code
        if self.retry_after_s is not None:
            out["routewatch.retry_after_s"] = self.retry_after_s
        return out


def _status(exc: BaseException) -> int | None:
    for value in (getattr(exc, "status_code", None), getattr(exc, "code", None), getattr(exc, "status", None)):
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    if isinstance(value, int) and 100 <= value <= 599:
        return value
    return None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(str(value))
            return max(0.0, when.timestamp() - time.time())
    except Exception:  # an odd header is not worth an error
        return None


def classify_error(exc: BaseException, *, before_first_chunk: bool = False) -> Failure:
    """How the router treats `exc`; `before_first_chunk`: raised while peeking a stream, when any
    provider-side failure (an error event after a 200, a cut connection) is still safe to fail over."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    status = _status(exc)
    if status is not None and status >= 400:
        return Failure(is_failover_status(status), status, str(status), _retry_after(exc))
    if status is not None:  # an error event after a 200 (Anthropic, OpenAI Responses): the body says what
        kind = _body_error_type(exc) or names[0]
        return Failure(before_first_chunk or kind in _OVERLOAD_TYPES, None, kind)
    if "ClientUnavailable" in names:  # the target's client cannot be built (key variable unset, SDK missing)
        return Failure(True, None, "client_unavailable")
    if any(marker in name for name in names for marker in _TIMEOUT_NAMES):
        return Failure(True, None, "timeout")
    if any(name in _CONNECTION_NAMES for name in names):
        return Failure(True, None, "connection")
    sdk = type(exc).__module__.split(".")[0] in ("openai", "anthropic", "google", "httpx", "httpx2", "httpcore")
    if any(name in _SERVER_NAMES for name in names) or (sdk and before_first_chunk):
        return Failure(True, None, names[0])
    return Failure(False, None, names[0], provider_error=sdk)


class RetryBudget:
    """Sliding-window budget: a failover is allowed while failovers < ratio x requests + min_retries.

    The window is ten buckets, so memory is constant whatever the traffic.
    """

    _BUCKETS = 10

    def __init__(self, ratio: float, min_retries: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        if not 0 <= ratio <= 1 or min_retries < 0 or window_s <= 0:
            raise ValueError("ratio in [0, 1], min_retries >= 0 and window_s > 0")
        self.ratio, self.min_retries, self.window_s = ratio, min_retries, window_s
        self._clock = clock
        self._width = window_s / self._BUCKETS
        self._lock = threading.Lock()
        self._buckets: list[list[int]] = []  # [bucket index, requests, retries]
        self.denied = 0

    def _current(self) -> list[int]:
        index = math.floor(self._clock() / self._width)
        if not self._buckets or self._buckets[-1][0] != index:
            self._buckets.append([index, 0, 0])
        oldest = index - self._BUCKETS + 1
        while self._buckets[0][0] < oldest:
            self._buckets.pop(0)
        return self._buckets[-1]

    def on_request(self) -> None:
        with self._lock:
            self._current()[1] += 1

    def try_retry(self) -> bool:
        """Take one failover from the budget; False (and counted) when it is spent."""
        with self._lock:
            bucket = self._current()
            requests = sum(b[1] for b in self._buckets)
            retries = sum(b[2] for b in self._buckets)
            if retries >= self.min_retries + self.ratio * requests:
                self.denied += 1
                return False
            bucket[2] += 1
            return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._current()
            return {"requests": sum(b[1] for b in self._buckets), "retries": sum(b[2] for b in self._buckets),
                    "denied": self.denied, "ratio": self.ratio, "min_retries": self.min_retries,
                    "window_s": self.window_s}  # fmt: skip
