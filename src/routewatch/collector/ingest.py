"""From OTLP export requests to the drift monitor: conversion, a bounded queue, one worker, counters.

Protocol handlers (gRPC, HTTP) call `Ingest.full()` before decoding anything, so an overloaded
collector refuses work cheaply, then `Ingest.accept(request, protocol)`. Conversion runs on the
handler's thread (so the answer can say which spans were rejected); the detectors run on one
worker thread, in arrival order, because detectors have one owner at a time.

Overload (queue full): with `overload="reject"` the whole request is refused with a retryable
error and nothing is counted as received, so the client's retry loses nothing; with "drop", what
fits is kept and the rest is dropped, counted, and reported as a partial success.

The retryable answers are the ones the OTLP specification gives for an overloaded server: gRPC
RESOURCE_EXHAUSTED with RetryInfo, HTTP 503 with Retry-After. (HTTP 429 is the spec's other
retryable throttle, meant for a client over its allowance; a full queue is the server's state, not
the client's, and the official exporters retry both and honour Retry-After on both.)
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from ..drift.monitor import DriftMonitor
from ..otlp.convert import DEFAULT_PRICES, records_from_request
from ..otlp.json_format import OTLPJSONError, request_from_json_bytes, response_to_json_bytes
from ..otlp.wire import records_from_bytes
from ..records import CallRecord
from .http_server import Request, Response

__all__ = ["Ingest", "IngestStats", "Outcome", "otlp_http_handler"]

log = logging.getLogger("routewatch.collector")

RecordListener = Callable[[CallRecord], Any]

PROTOCOL_GRPC = "grpc"
PROTOCOL_HTTP_PROTOBUF = "http/protobuf"
PROTOCOL_HTTP_JSON = "http/json"
PROTOCOL_HTTP = "http"  # an HTTP request refused before its encoding was known

_NO_DURATION_LOG_INTERVAL_S = 300.0  # at most one log line this often about spans with no end time


@dataclass
class IngestStats:
    """A consistent copy of the ingest counters (monotonic, except the queue figures)."""

    spans_received: dict[str, int] = field(default_factory=dict)  # protocol -> spans in accepted requests
    spans_accepted: int = 0  # GenAI spans turned into call records (queued)
    spans_skipped: int = 0  # spans that are not GenAI inference calls
    spans_without_duration: int = 0  # accepted GenAI spans with no usable end time: no latency
    spans_dropped: dict[str, int] = field(default_factory=dict)  # reason (queue_full | convert_error) -> spans
    requests_rejected: dict[tuple[str, str], int] = field(default_factory=dict)  # (protocol, reason) -> requests
    queue_depth: int = 0
    queue_capacity: int = 0
    records_processed: int = 0  # records the worker handed to the monitor
    worker_errors: int = 0  # monitor or listener failures (logged)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one request."""

    accepted: int  # records queued
    rejected_spans: int = 0  # spans reported back as rejected (partial success)
    message: str = ""
    overloaded: bool = False  # refused as a whole; the client should retry later


class Ingest:
    """The bounded queue between protocol handlers and the drift monitor."""

    def __init__(
        self, monitor: DriftMonitor, *, capacity: int = 100_000, overload: str = "reject",
        prices: Any = DEFAULT_PRICES,
    ) -> None:  # fmt: skip
        if overload not in ("reject", "drop"):
            raise ValueError(f"overload must be 'reject' or 'drop', got {overload!r}")
        self.monitor = monitor
        self.capacity = capacity
        self.overload = overload
        self.prices = prices
        self._queue: deque[list[CallRecord]] = deque()
        self._depth = 0
        self._cond = threading.Condition()
        self._stats = IngestStats(queue_capacity=capacity)
        self._listeners: tuple[RecordListener, ...] = ()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._paused = False
        self._no_duration_logged_at: float | None = None

    # --- listeners ------------------------------------------------------------------------------------
    def add_listener(self, listener: RecordListener) -> None:
        """`listener(record)` runs on the worker after the monitor saw the record (errors logged)."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: RecordListener) -> None:
        self._listeners = tuple(fn for fn in self._listeners if fn is not listener)

    # --- producer side ---------------------------------------------------------------------------------
    def full(self) -> bool:
        """Whether a new request would be refused right now (cheap; checked before decoding)."""
        return self.overload == "reject" and self._depth >= self.capacity

    def reject(self, protocol: str, reason: str) -> None:
        """Count a request refused as a whole (malformed | unauthorized | overloaded | too_large)."""
        with self._cond:
            key = (protocol, reason)
            self._stats.requests_rejected[key] = self._stats.requests_rejected.get(key, 0) + 1

    def accept(self, request: bytes | Any, protocol: str) -> Outcome:
        """Convert and queue the GenAI spans of one `ExportTraceServiceRequest`: the message, or its
        serialized bytes (read by `otlp.wire`, the fast path; raises `DecodeError` on bad bytes)."""
        if self.full():
            self.reject(protocol, "overloaded")
            return Outcome(0, message="collector queue is full", overloaded=True)
        if isinstance(request, bytes):
            batch = records_from_bytes(request, prices=self.prices)
        else:
            batch = records_from_request(request, prices=self.prices)
        records = batch.records
        dropped = 0
        with self._cond:
            room = self.capacity - self._depth
            if len(records) > room:
                if self.overload == "reject" and len(records) <= self.capacity:
                    key = (protocol, "overloaded")
                    self._stats.requests_rejected[key] = self._stats.requests_rejected.get(key, 0) + 1
                    return Outcome(0, message="collector queue is full", overloaded=True)
                dropped = len(records) - max(room, 0)
                records = records[: max(room, 0)]
            stats = self._stats
            stats.spans_received[protocol] = stats.spans_received.get(protocol, 0) + batch.spans
            stats.spans_accepted += len(records)
            stats.spans_skipped += batch.skipped
            if batch.no_duration:
                stats.spans_without_duration += batch.no_duration
                self._log_no_duration(stats.spans_without_duration)
            if batch.errors:
                stats.spans_dropped["convert_error"] = stats.spans_dropped.get("convert_error", 0) + batch.errors
            if dropped:
                stats.spans_dropped["queue_full"] = stats.spans_dropped.get("queue_full", 0) + dropped
            if records:
                self._queue.append(records)
                self._depth += len(records)
                self._cond.notify_all()
        rejected = batch.errors + dropped
        if not rejected:
            return Outcome(len(records))
        reasons = []
        if batch.errors:
            reasons.append(f"{batch.errors} GenAI span(s) could not be read (malformed attributes)")
        if dropped:
            reasons.append(f"{dropped} span(s) dropped: the collector queue is full")
        return Outcome(len(records), rejected, "; ".join(reasons))

    def _log_no_duration(self, total: int) -> None:
        """Say (under the lock, once in a while, not once a span) that spans came without an end time:
        they count as calls but give no latency, which would otherwise be a silent gap."""
        now = time.monotonic()
        last = self._no_duration_logged_at
        if last is not None and now - last < _NO_DURATION_LOG_INTERVAL_S:
            return
        self._no_duration_logged_at = now
        log.warning(
            "routewatch collector: %d GenAI span(s) so far had no usable end time (none, or before the start): "
            "counted as calls without latency (routewatch_collector_spans_without_duration)", total,
        )  # fmt: skip

    # --- consumer side ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="routewatch-collector-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Process what is queued (up to `timeout_s`), then stop the worker. True if it drained."""
        drained = self.flush(timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.1, timeout_s))
            self._thread = None
        return drained

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record went through the monitor (True) or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._depth > 0:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def stats(self) -> IngestStats:
        """A copy of the counters, taken under the lock."""
        with self._cond:
            s = self._stats
            return IngestStats(
                spans_received=dict(s.spans_received), spans_accepted=s.spans_accepted,
                spans_skipped=s.spans_skipped, spans_without_duration=s.spans_without_duration,
                spans_dropped=dict(s.spans_dropped),
                requests_rejected=dict(s.requests_rejected), queue_depth=self._depth, queue_capacity=self.capacity,
                records_processed=s.records_processed, worker_errors=s.worker_errors,
            )  # fmt: skip

    @property
    def depth(self) -> int:
        return self._depth

    def _run(self) -> None:
        monitor_record = self.monitor.record
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait(0.5)
                if not self._queue:
                    return
                batches = list(self._queue)
                self._queue.clear()
            errors = 0
            n = 0
            listeners = self._listeners
            for batch in batches:
                for record in batch:
                    try:
                        monitor_record(record)
                    except Exception:
                        errors += 1
                        log.exception("routewatch collector: the drift monitor failed on a record")
                    for listener in listeners:
                        try:
                            listener(record)
                        except Exception:
                            errors += 1
                            log.exception("routewatch collector: record listener %r failed", listener)
                n += len(batch)
            with self._cond:
                self._depth -= n
                self._stats.records_processed += n
                self._stats.worker_errors += errors
                self._cond.notify_all()


# --- OTLP/HTTP ----------------------------------------------------------------------------------------
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"


class _TooLarge(Exception):
    pass


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding, refusing to inflate past `limit` bytes. A gzip body
    may hold several members (RFC 1952): all are read, or the spans after the first would be lost."""
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise ValueError(f"unsupported Content-Encoding {encoding!r} (use gzip, deflate or none)")
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise ValueError(f"body is not valid {encoding}: {exc}") from None
        size += len(out)
        if size > limit:
            raise _TooLarge
        if not inflater.eof:
            raise ValueError(f"body is truncated {encoding}")
        parts.append(out)
        rest = inflater.unused_data
        # Zero padding after the last member is tolerated, as gzip(1) does; deflate has one stream.
        if not rest.strip(b"\x00") or wbits == zlib.MAX_WBITS:
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _status_body(content_type: str, code: int, message: str) -> bytes:
    """A google.rpc.Status, in the request's encoding, as the OTLP spec asks for 4xx/5xx bodies."""
    from google.rpc import status_pb2  # type: ignore[import-untyped]

    status = status_pb2.Status(code=code, message=message)
    if content_type == _JSON:
        import json

        return json.dumps({"code": code, "message": message}).encode()
    body: bytes = status.SerializeToString()
    return body


def _error(content_type: str, http_status: int, grpc_code: int, message: str, **headers: str) -> Response:
    ct = content_type if content_type in (_PROTOBUF, _JSON) else _JSON
    return Response(http_status, ct, _status_body(ct, grpc_code, message), dict(headers))


# google.rpc.Code values
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14


def otlp_http_handler(ingest: Ingest, *, max_body_bytes: int, retry_after_s: float) -> Callable[[Request], Response]:
    """POST /v1/traces: OTLP/HTTP protobuf or JSON, optionally gzip/deflate-encoded."""
    retry_after = str(max(1, round(retry_after_s)))

    def handle(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == _PROTOBUF:
            protocol = PROTOCOL_HTTP_PROTOBUF
        elif content_type == _JSON:
            protocol = PROTOCOL_HTTP_JSON
        else:
            ingest.reject(PROTOCOL_HTTP, "malformed")
            return _error(_JSON, 415, _INVALID_ARGUMENT, f"Content-Type must be {_PROTOBUF} or {_JSON}")
        if ingest.full():
            ingest.reject(protocol, "overloaded")
            return _error(
                content_type, 503, _UNAVAILABLE, "collector queue is full; retry later", **{"retry-after": retry_after}
            )
        encoding = request.headers.get("content-encoding", "").strip().lower()
        try:
            body = _decompress(request.body, encoding, max_body_bytes)
        except _TooLarge:
            ingest.reject(protocol, "too_large")
            return _error(content_type, 413, _INVALID_ARGUMENT, f"body inflates past the {max_body_bytes}-byte limit")
        except ValueError as exc:
            ingest.reject(protocol, "malformed")
            return _error(content_type, 400, _INVALID_ARGUMENT, str(exc))
        try:
            export: Any = request_from_json_bytes(body) if protocol == PROTOCOL_HTTP_JSON else body
            outcome = ingest.accept(export, protocol)
        except (OTLPJSONError, DecodeError) as exc:
            ingest.reject(protocol, "malformed")
            what = "OTLP JSON" if protocol == PROTOCOL_HTTP_JSON else "an OTLP protobuf ExportTraceServiceRequest"
            return _error(content_type, 400, _INVALID_ARGUMENT, f"body is not {what}: {exc}")
        if outcome.overloaded:
            return _error(
                content_type, 503, _UNAVAILABLE, "collector queue is full; retry later", **{"retry-after": retry_after}
            )
        response = ExportTraceServiceResponse()
        if outcome.rejected_spans:
            response.partial_success.rejected_spans = outcome.rejected_spans
            response.partial_success.error_message = outcome.message
        if protocol == PROTOCOL_HTTP_JSON:
            return Response(200, _JSON, response_to_json_bytes(response))
        return Response(200, _PROTOBUF, response.SerializeToString())

    return handle


def gzip_body(data: bytes) -> bytes:
    """gzip `data` (for clients and tests)."""
    return gzip.compress(data)
