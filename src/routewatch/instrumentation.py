"""The live configuration of one `instrument()` and how a request becomes a `Call`.

`begin` is the only place that looks at a request: it classifies it, parses the body, decides
between a span of our own and enriching another instrumentation's GenAI span, and never raises.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer, TracerProvider

from . import semconv as sc
from .bus import SignalBus
from .call import Call
from .capture import content_attributes, input_messages
from .classify import RouteTable
from .pricing import PriceBook
from .providers import get_parser
from .providers.peek import peek_model
from .ratelimits import read_response_headers
from .records import CallRecord, RateLimits, RequestFacts
from .spans import is_foreign_genai_span, span_name, start_attributes
from .tags import current_tags
from .version import __version__

__all__ = ["Instrumentation", "internal_errors_total"]

log = logging.getLogger("routewatch")

_internal_errors_total = 0


def internal_errors_total() -> int:
    """routewatch's own failures in this process, over every `instrument()` (a monotonic count)."""
    return _internal_errors_total


_SUPPRESS_KEYS = ("suppress_instrumentation", "suppress_http_instrumentation")


class Instrumentation:
    """Everything a transport needs at request time, fixed when `instrument()` ran."""

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None,
        route_table: RouteTable,
        prices: PriceBook,
        bus: SignalBus,
        capture_content: bool,
        include_usage: bool,
        max_body_bytes: int,
    ) -> None:
        self.tracer: Tracer = trace.get_tracer("routewatch", __version__, tracer_provider, schema_url=sc.SCHEMA_URL)
        self.routes = route_table
        self.prices = prices
        self.bus = bus
        self.capture_content = capture_content
        self.include_usage = include_usage
        self.max_body_bytes = max_body_bytes
        self.internal_errors = 0

    # --- request ------------------------------------------------------------------------------------
    def begin(self, request: Any) -> Call | None:
        """A `Call` for a provider request, or None to pass it through untouched."""
        try:
            ctx = otel_context.get_current()
            for key in _SUPPRESS_KEYS:
                if otel_context.get_value(key, ctx):
                    return None
            url = request.url
            host: str = url.host
            port: int = url.port or (443 if url.scheme == "https" else 80)
            headers = request.headers
            path: str = url.path
            route = self.routes.classify(request.method, url.scheme, host, port, path, headers)
            if route is None:
                return None
            parser = get_parser(route.api)
            body = _request_body(request)
            facts: RequestFacts | None = None
            model = None if self.include_usage or self.capture_content else peek_model(route.api, body, path)
            if model is None:  # parse the body now: the model is not plain to see, or an option needs the body
                facts = parser.parse_request(body, path, url.query.decode("ascii", "replace"))
                if self.include_usage and _wants_usage_injection(route.api, facts):
                    facts = self._inject_include_usage(request, body, facts)
                if self.capture_content:
                    facts = _with_input_content(facts, route.api, body)
                model = facts.model
            parent = trace.get_current_span(ctx)
            if is_foreign_genai_span(parent):
                span, own = parent, False
            else:
                span = self.tracer.start_span(
                    span_name(route, model), kind=SpanKind.CLIENT,
                    attributes=start_attributes(route, model, host, port), context=ctx,
                )  # fmt: skip
                own = True
            call = Call(self, route, parser, facts, host, port, span, own, headers, current_tags())
            if facts is None:
                call.defer_request(body, path, url.query, model)
            return call
        except Exception:
            self.internal_error("reading a provider request")
            return None

    def _inject_include_usage(self, request: Any, body: bytes, facts: RequestFacts) -> RequestFacts:
        try:
            return _inject_include_usage(request, body, facts)
        except Exception:
            self.internal_error("adding stream_options.include_usage")
            return facts

    # --- helpers for Call ---------------------------------------------------------------------------
    def response_headers(self, raw_headers: Any) -> tuple[RateLimits, str, str]:
        """(rate limits, Content-Type, Content-Encoding) of a response."""
        return read_response_headers(raw_headers, time.time())

    def content_attributes(self, record: CallRecord) -> dict[str, Any]:
        return content_attributes(record)

    def publish(self, record: CallRecord) -> None:
        self.bus.publish(record)

    def internal_error(self, doing: str) -> None:
        global _internal_errors_total
        self.internal_errors += 1
        _internal_errors_total += 1
        log.warning("routewatch: internal error while %s; the call itself is unaffected", doing, exc_info=True)


def _request_body(request: Any) -> bytes:
    """The request body if it is already in memory; a streaming upload is never consumed."""
    content = getattr(request, "_content", None)
    return content if isinstance(content, bytes) else b""


def _wants_usage_injection(api: str, facts: RequestFacts) -> bool:
    return api in ("openai.chat_completions", "openai.completions") and facts.stream and facts.include_usage is None


def _inject_include_usage(request: Any, body: bytes, facts: RequestFacts) -> RequestFacts:
    """Opt-in: ask an OpenAI-compatible server to send usage at the end of a stream."""
    payload = json.loads(body)
    if not isinstance(payload, dict) or "stream_options" in payload:
        return facts
    payload["stream_options"] = {"include_usage": True}
    new_body = json.dumps(payload, separators=(",", ":")).encode()
    stream_type = type(request.stream)
    request.stream = stream_type(new_body)
    request._content = new_body
    request.headers["Content-Length"] = str(len(new_body))
    return replace(facts, include_usage=True, include_usage_injected=True)


def _with_input_content(facts: RequestFacts, api: str, body: bytes) -> RequestFacts:
    messages, system = input_messages(api, body)
    return replace(facts, input_messages=messages, system_instructions=system)
