"""One provider call in flight: timings, body framing and parsing, and its single finish.

Shared by the sync and async transports, which only move bytes and call in here. Every public
method is safe to call from the app's code path: failures inside are logged and counted, never
raised, and `finish` runs exactly once however the call ends (read to the end, failed, closed
early, or garbage-collected).

The app's thread does as little as possible: for each body chunk the stream wrapper appends
`(chunk, arrival time)` to `raw`, after the app got the chunk. Everything else (reading the response
headers, decoding, framing into events, parsing, timing the output chunks) is *digested* later from
those pairs on the signal-bus worker, so time to first chunk and the chunk intervals are exactly
what they would be if parsed live. `raw` is bounded: past `SPILL_BYTES` the stream wrapper hands the
batch to the worker (`spill`), which digests batches in order under the call's digest lock.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, Status, StatusCode

from . import semconv as sc
from .decoding import Decoder, make_decoder
from .framing import NDJSONFramer, SSEFramer
from .records import (
    CallRecord,
    RequestFacts,
    ResponseFacts,
    Usage,
    new_call_record,
    new_rate_limits,
    new_response_facts,
    new_usage,
)
from .redact import scrub
from .spans import request_attributes, response_attributes, span_name

if TYPE_CHECKING:
    from .classify import Route
    from .instrumentation import Instrumentation
    from .providers.base import ApiParser, StreamParser

__all__ = ["SPILL_BYTES", "Call", "RawChunks"]

log = logging.getLogger("routewatch")

#: Body bytes a call holds undigested before the stream wrapper hands them to the worker.
SPILL_BYTES = 64 * 1024
_MAX_INTERVALS = 16_384
_RETRY_HEADER = "x-stainless-retry-count"
_BODY, _SSE, _NDJSON = 0, 1, 2
_NO_LIMITS = new_rate_limits()
#: Text-delta templates a stream may learn (each time the last one stopped matching).
_TEMPLATE_TRIES = 3
#: What may not stand in for a template's text: a quote or backslash (the JSON string would end or
#: escape) or a line break (the event would be framed differently).
_UNSAFE = re.compile(rb'["\\\r\n]').search

RawChunks = list[tuple[bytes, float]]


class Call:
    """State of one attempt, from request to finish."""

    __slots__ = (
        "_body", "_body_size", "_decoder", "_digest_lock", "_facts", "_finished", "_first_out", "_framer",
        "_headers", "_inst", "_intervals", "_last_out", "_learn", "_limits", "_lock", "_mode", "_request",
        "_request_headers", "_spilled", "_stream_parser", "_template", "_undecodable", "host", "own_span",
        "parser", "pending", "port", "raw", "route", "span", "start_ns", "start_perf", "status_code", "tags",
    )  # fmt: skip

    def __init__(
        self, inst: Instrumentation, route: Route, parser: ApiParser, facts: RequestFacts | None,
        host: str, port: int | None, span: Span, own_span: bool, request_headers: Any,
        tags: tuple[tuple[str, str], ...],
    ) -> None:  # fmt: skip
        self._inst = inst
        self.route = route
        self.parser = parser
        self._facts = facts
        self._request: tuple[bytes, str, bytes, str | None] | None = None
        self._request_headers = request_headers
        self.host = host
        self.port = port
        self.span = span
        self.own_span = own_span
        self.tags = tags
        self.start_ns = time.time_ns()
        self.start_perf = time.perf_counter()
        self.status_code: int | None = None
        #: `(chunk, perf_counter at arrival)` not yet digested; appended on the app's thread.
        self.raw: RawChunks = []
        #: The chunk last handed to the app, set before it is, in case the app stops right there.
        self.pending: tuple[bytes, float] | None = None
        self._headers: Any = None
        self._mode = -1  # the digest state below is set up by the first digest, off the app's thread
        self._finished = False
        self._lock = threading.Lock()
        self._digest_lock: threading.Lock | None = None  # these two are made by the first spill
        self._spilled: deque[RawChunks] | None = None

    # --- app thread ---------------------------------------------------------------------------------
    def defer_request(self, body: bytes, path: str, query: bytes, model: str | None) -> None:
        """Parse the request body later, off the app's thread; `model` is what the span started with."""
        self._request = (body, path, query, model)

    def on_headers(self, status_code: int, headers: Any) -> None:
        """Keep the response headers; they are read when the body is digested, off the app's thread."""
        self.status_code = status_code
        self._headers = headers

    def spill(self) -> RawChunks:
        """Hand the undigested chunks to the worker; returns the fresh list to append to."""
        batch = self.raw
        self.raw = []
        self.pending = None
        if self._spilled is None:
            self._digest_lock, self._spilled = threading.Lock(), deque()
        self._spilled.append(batch)
        self._inst.bus.complete(self._drain)
        return self.raw

    # --- digestion (worker, or the finishing thread) ------------------------------------------------
    @property
    def facts(self) -> RequestFacts:
        """What the request body says, parsed on first use."""
        facts = self._facts
        if facts is None:
            body, path, query, model = self._request or (b"", "", b"", None)
            facts = self._facts = self.parser.parse_request(body, path, query.decode("ascii", "replace"))
            self._request = (b"", path, query, model)  # the body is not needed again
        return facts

    def _drain(self) -> None:
        with self._digest_lock:  # type: ignore[union-attr]  # made before the first spill
            self._drain_locked()

    def _drain_locked(self) -> None:
        spilled = self._spilled
        while spilled:
            self._digest(spilled.popleft())

    def _setup(self) -> None:
        """Decide how to read the body: framed events for 2xx streams, else buffered JSON."""
        self._mode = _BODY
        self._framer: SSEFramer | NDJSONFramer | None = None
        self._stream_parser: StreamParser | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._first_out: float | None = None
        self._last_out = 0.0
        self._intervals: list[float] = []
        self._decoder: Decoder | None = None
        self._undecodable = False
        self._template: tuple[bytes, bytes] = (b"", b"")
        self._learn = 0
        self._limits = _NO_LIMITS
        headers = self._headers
        if headers is None:
            return
        try:
            self._limits, content_type, encoding = self._inst.response_headers(headers.raw)
            if encoding:
                self._use_decoder(encoding)
            status_code = self.status_code
            if status_code is not None and 200 <= status_code < 300:
                if "text/event-stream" in content_type:
                    self._mode, self._framer = _SSE, SSEFramer()
                elif "ndjson" in content_type or (self.facts.stream and self.route.api.startswith("ollama.")):
                    self._mode, self._framer = _NDJSON, NDJSONFramer()
                if self._framer is not None:
                    self._stream_parser = self.parser.stream_parser()
                    if self._mode == _SSE and hasattr(self._stream_parser, "add_texts"):
                        self._learn = _TEMPLATE_TRIES
        except Exception:
            self._mode, self._framer = _BODY, None
            self._inst.internal_error("reading response headers")

    def _use_decoder(self, encoding: str) -> None:
        try:
            self._decoder = make_decoder(encoding)
        except ValueError as exc:
            self._undecodable = True
            log.warning("routewatch: %s; the response is recorded without its body", exc)

    def _digest(self, batch: RawChunks) -> None:
        """Decode, frame and parse chunks in arrival order, timing the ones that carried output."""
        if self._mode < 0:
            self._setup()
            self._inst.bus.pause()
        if self._mode != _BODY and self._decoder is None and not self._undecodable:
            self._frame(batch)  # the usual stream: nothing to decode
            return
        for chunk, now in batch:
            if self._decoder is not None:
                try:
                    chunk = self._decoder(chunk)
                except Exception:
                    self._decoder, self._undecodable, self._mode = None, True, _BODY
                    log.warning("routewatch: a compressed response body did not decode; recorded without its body")
            if self._undecodable:
                return
            if self._mode == _BODY:
                if self._body_size < self._inst.max_body_bytes:
                    self._body.append(chunk)
                    self._body_size += len(chunk)
                continue
            self._frame(((chunk, now),))

    def _frame(self, batch: Sequence[tuple[bytes, float]]) -> None:
        """Frame and parse chunks of a stream, timing the events that carried output.

        A chunk that repeats the parser's text-delta template (see `TextDeltaParser`) is not framed
        nor fed: its text is cut out of it and handed to the parser with the others, in order.
        """
        framer, parser = self._framer, self._stream_parser
        assert framer is not None and parser is not None
        head, tail = self._template
        skip, cut = len(head), len(tail)
        first_out, last_out, intervals = self._first_out, self._last_out, self._intervals
        texts: list[str] = []
        chunks = iter(batch)
        try:
            for chunk, now in chunks:
                outputs = 0
                if head and framer.idle and chunk.startswith(head) and chunk.endswith(tail):
                    text = chunk[skip : len(chunk) - cut]  # empty if head and tail overlap
                    if text and _UNSAFE(text) is None:
                        try:
                            texts.append(text.decode("utf-8"))
                            outputs = 1
                        except UnicodeDecodeError:
                            pass
                if not outputs:
                    if texts:
                        parser.add_texts(texts)  # type: ignore[attr-defined]
                        texts = []
                    events = framer.feed(chunk)
                    for name, data in events:
                        if parser.feed(name, data):
                            outputs += 1
                    if outputs and self._learn:
                        head, tail = self._learn_template(chunk, events)
                        skip, cut = len(head), len(tail)
                if outputs:
                    if first_out is None:
                        first_out = last_out = now  # the others in this chunk came with it
                        outputs -= 1
                    if outputs and len(intervals) < _MAX_INTERVALS:
                        intervals.append(now - last_out)
                        if outputs > 1:  # several events in one chunk: they came together
                            intervals.extend([0.0] * min(outputs - 1, _MAX_INTERVALS - len(intervals)))
                    last_out = now
            if texts:
                parser.add_texts(texts)  # type: ignore[attr-defined]
        except Exception:
            self._mode = _BODY  # stop parsing this body; the app still gets every byte
            self._inst.internal_error("parsing a streamed chunk")
            self._first_out, self._last_out = first_out, last_out
            self._digest(list(chunks))  # the rest, kept as the body
            return
        self._first_out, self._last_out = first_out, last_out

    def _learn_template(self, chunk: bytes, events: list[tuple[str | None, bytes]]) -> tuple[bytes, bytes]:
        """The chunk's bytes before and after its text, when it was one whole text-delta event."""
        self._learn -= 1
        if len(events) != 1 or not self._framer.idle or b"\r" in chunk:  # type: ignore[union-attr]  # set with the parser
            return self._template
        name, data = events[0]
        span = self._stream_parser.text_span(name, data)  # type: ignore[union-attr]
        at = len(chunk) - 2 - len(data)
        if span is None or at < 0 or not chunk.endswith(b"\n\n") or chunk[at : at + len(data)] != data:
            return self._template
        start, end = at + span[0], at + span[1]
        if _UNSAFE(chunk, start, end) is not None:
            return self._template
        self._template = (chunk[:start], chunk[end:])
        return self._template

    # --- the end ----------------------------------------------------------------------------------
    def finish(self, how: str, exc: BaseException | None = None) -> None:
        """`how`: "read" (body exhausted), "closed" (closed or dropped early), "failed" (exception).

        Only the clock is read here. Parsing, pricing, the record and the span's end run on the
        signal-bus worker, while the app gets on with its work; a span that belongs to another
        instrumentation is enriched right away instead, before its owner ends it.
        """
        with self._lock:
            if self._finished:
                return
            self._finished = True
        end = time.perf_counter()
        pending, raw = self.pending, self.raw
        if pending is not None and (not raw or raw[-1] is not pending):
            raw.append(pending)  # the app stopped (or failed) right after receiving it
        if self.own_span:
            self._inst.bus.complete(lambda: self._complete(how, exc, end))
        else:
            record = self._complete(how, exc, end)
            if record is not None:
                self._inst.publish(record)

    def _complete(self, how: str, exc: BaseException | None, end: float) -> CallRecord | None:
        try:
            lock = self._digest_lock
            if lock is None:  # nothing was spilled: no other thread digests this call
                self._digest(self.raw)
            else:
                with lock:
                    self._drain_locked()
                    self._digest(self.raw)
            self.raw, self.pending = [], None
            pause = self._inst.bus.pause  # between stages: see SignalBus.pause
            pause()
            record = self._record(how, exc, end)
            pause()
            self._close_span(record, exc, end)
            return record
        except Exception:
            self._inst.internal_error("finishing a call")
            if self.own_span:
                with contextlib.suppress(Exception):
                    self.span.end()
            return None

    def _record(self, how: str, exc: BaseException | None, end: float) -> CallRecord:
        facts = self._response_facts(how)
        self._inst.bus.pause()
        request, route, streamed = self.facts, self.route, self._mode != _BODY
        error_type = _error_type(exc, facts, self.status_code, streamed, how)
        usage = new_usage() if route.retrieval else facts.usage  # a read-back is not a new generation
        price = self._inst.prices.cost(route.provider, facts.response_model or request.model, usage)
        first_out = self._first_out
        ttfc = None if first_out is None or not request.stream else first_out - self.start_perf
        ctx = self.span.get_span_context()
        trace_id, span_id = (ctx.trace_id, ctx.span_id) if ctx.is_valid else (None, None)
        return new_call_record(
            provider=route.provider, operation=route.operation, api=route.api,
            request_model=request.model, response_model=facts.response_model,
            server_address=self.host, server_port=self.port, start_time_unix_nano=self.start_ns,
            duration_s=end - self.start_perf, status_code=self.status_code, error_type=error_type,
            stream=streamed or request.stream, stream_completed=facts.completed if streamed else None,
            time_to_first_chunk_s=ttfc, chunk_intervals_s=tuple(self._intervals), usage=usage,
            cost_usd=price.usd, priced=price.priced,
            output_tokens_per_s=_tokens_per_s(usage, self.start_perf, first_out, end),
            finish_reasons=facts.finish_reasons, response_id=facts.response_id,
            retry_count=_retry_count(self._request_headers), rate_limits=self._limits, tags=self.tags,
            request=request, response=facts, trace_id=trace_id, span_id=span_id,
            span_scope=None if self.own_span else _scope_name(self.span),
        )  # fmt: skip

    def _response_facts(self, how: str) -> ResponseFacts:
        if self._undecodable:
            return new_response_facts(completed=how == "read", parsed=False)
        if self._mode == _BODY:
            body = b"".join(self._body)
            self._body = []
            if self.status_code is None:
                return new_response_facts(completed=False, parsed=False)
            if self.status_code >= 400:
                return self.parser.parse_error(self.status_code, body)
            if how != "read" and not body:
                return new_response_facts(completed=False, parsed=False)
            return self.parser.parse_response(body)
        parser = self._stream_parser
        assert parser is not None and self._framer is not None
        for name, data in self._framer.flush():
            parser.feed(name, data)
        return parser.finish()

    def _close_span(self, record: CallRecord, exc: BaseException | None, end: float) -> None:
        span = self.span
        if not span.is_recording():
            if self.own_span:
                span.end()
            return
        if self.own_span:
            start_model = self._request[3] if self._request is not None else record.request_model
            attrs = request_attributes(self.route, record.request, start_model)
            attrs.update(response_attributes(record))
            if start_model != record.request_model:
                span.update_name(span_name(self.route, record.request_model))  # the peeked model was not it
        else:
            attrs = response_attributes(record)
        if self._inst.capture_content:
            attrs.update(self._inst.content_attributes(record))
        if not self.own_span:
            # Enriching another instrumentation's span: add what it lacks, keep what it set, and
            # keep per-attempt detail as an event (each SDK retry passes through here).
            existing = getattr(span, "attributes", None) or {}
            span.add_event(sc.RW_ATTEMPT_EVENT, _event_attributes(attrs))
            span.set_attributes({k: v for k, v in attrs.items() if k not in existing or k.startswith("routewatch.")})
            return
        span.set_attributes(attrs)
        self._inst.bus.pause()
        if record.error_type is not None:
            span.set_status(Status(StatusCode.ERROR, record.error_type))
            if exc is not None:
                span.add_event(
                    "exception",
                    {"exception.type": type(exc).__qualname__, "exception.message": scrub(str(exc))},
                )
        end_ns = record.start_time_unix_nano + int((end - self.start_perf) * 1e9)
        span.end(end_time=end_ns)


def _retry_count(headers: Any) -> int | None:
    """The SDK's retry count (`x-stainless-retry-count`, openai and anthropic SDKs), if sent."""
    value = headers.get(_RETRY_HEADER) if headers is not None else None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _event_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if not k.startswith(sc.RW_TAG_PREFIX)}


def _scope_name(span: Span) -> str:
    scope = getattr(span, "instrumentation_scope", None)
    return str(getattr(scope, "name", "") or "unknown")


def _error_type(
    exc: BaseException | None, facts: ResponseFacts, status: int | None, streamed: bool, how: str
) -> str | None:
    if exc is not None:
        return type(exc).__qualname__
    if facts.error_type:
        return facts.error_type
    if status is not None and status >= 400:
        return str(status)
    if streamed and how == "read" and not facts.completed:
        return "incomplete_stream"
    return None


def _tokens_per_s(usage: Usage, start: float, first_out: float | None, end: float) -> float | None:
    out = usage.output_tokens
    if not out:
        return None
    span = end - (first_out if first_out is not None else start)
    return out / span if span > 0 else None
