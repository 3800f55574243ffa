"""GenAI spans to `CallRecord`s: the collector's and `routewatch replay`'s way in.

One builder (`builder.py`) reads a small dict of the attributes it knows (`attributes.py`); the front
ends here fill that dict from an OTLP protobuf `Span`, an OTLP JSON span object, or an SDK
`ReadableSpan` (and `wire.py`'s from serialized requests, the collector's fast path). The record is the one the
in-process path builds, as far as a span can tell: routewatch's own spans carry everything the
detectors read; spans of other instrumentations (the official openai-v2 / util-genai ones, the
anthropic SDK's native spans, OpenLLMetry, OpenInference) are read with their own and older
attribute names (`gen_ai.system`, `gen_ai.usage.prompt_tokens`, `llm.request.type`, ...) and priced
with a `PriceBook` when they carry no cost.

What a span cannot tell stays unknown: usage nobody reported is `None`, so is the duration of a span
with no usable end time (and the tokens per second worked out from it), there is no response body
shape, no output text unless content capture put `gen_ai.output.messages` on the span, and of a
stream's chunk intervals only their mean survives (kept as a one-element `chunk_intervals_s`, which
is what the `tpot` signal reads). Spans that are not GenAI inference calls (HTTP spans, tool and
agent spans) give `None`, after looking at attribute keys only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..pricing import PriceBook
from ..records import CallRecord
from .attributes import (
    _SLOTS,
    _TAG_PREFIX,
    _TAG_PREFIX_LEN,
    GENAI_MARKERS,
    _hex_id,
    _id,
    _int,
    _json_value,
    _pick_proto,
)
from .builder import build_record as _build

__all__ = [
    "DEFAULT_PRICES",
    "Batch",
    "is_genai_span",
    "record_from_json_span",
    "record_from_proto_span",
    "record_from_readable_span",
    "records_from_json_request",
    "records_from_request",
]

log = logging.getLogger("routewatch.otlp")


class _DefaultPrices:
    """Sentinel: price with one shared `PriceBook` made on first use."""


DEFAULT_PRICES: Any = _DefaultPrices()


@lru_cache(maxsize=1)
def _shared_price_book() -> PriceBook:
    return PriceBook.from_env()


def _resolve_prices(prices: Any) -> PriceBook | None:
    if isinstance(prices, _DefaultPrices):
        return _shared_price_book()
    return prices  # type: ignore[no-any-return]


# --- front ends ---------------------------------------------------------------------------------------
def is_genai_span(attribute_keys: Iterable[str]) -> bool:
    """Whether any key marks a GenAI span (`gen_ai.operation.name`, `gen_ai.provider.name`,
    deprecated `gen_ai.system`, OpenLLMetry's `llm.request.type`)."""
    markers = GENAI_MARKERS
    return any(key in markers for key in attribute_keys)


def record_from_proto_span(span: Any, scope_name: str = "", *, prices: Any = DEFAULT_PRICES) -> CallRecord | None:
    """An OTLP protobuf `Span` (opentelemetry.proto.trace.v1) as a `CallRecord`; None if it is not
    a GenAI inference call. `scope_name` is its `InstrumentationScope.name`."""
    attributes = span.attributes
    markers = GENAI_MARKERS
    for kv in attributes:
        if kv.key in markers:
            break
    else:
        return None
    picked, tags = _pick_proto(attributes)
    status = span.status
    return _build(
        picked, tags, span.name, span.start_time_unix_nano, span.end_time_unix_nano, status.code, status.message,
        _id(span.trace_id), _id(span.span_id), scope_name, _resolve_prices(prices),
    )  # fmt: skip


def record_from_readable_span(span: Any, *, prices: Any = DEFAULT_PRICES) -> CallRecord | None:
    """An SDK `ReadableSpan` as a `CallRecord` (in-process use, span exporters, tests)."""
    attributes: Mapping[str, Any] | None = span.attributes
    if not attributes or not is_genai_span(attributes):
        return None
    picked: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    slots = _SLOTS
    for key, value in attributes.items():
        slot = slots.get(key)
        if slot is not None:
            if slot[1] or slot[0] not in picked:
                picked[slot[0]] = value
        elif key.startswith(_TAG_PREFIX):
            tags.append((key[_TAG_PREFIX_LEN:], str(value)))
    ctx = span.context
    status = span.status
    scope = span.instrumentation_scope
    return _build(
        picked, tuple(tags), span.name, span.start_time or 0, span.end_time or 0,
        int(status.status_code.value), status.description or "",
        (ctx.trace_id or None) if ctx is not None else None, (ctx.span_id or None) if ctx is not None else None,
        scope.name if scope is not None else "", _resolve_prices(prices),
    )  # fmt: skip


def record_from_json_span(
    span: Mapping[str, Any], scope_name: str = "", *, prices: Any = DEFAULT_PRICES
) -> CallRecord | None:
    """A span object of OTLP JSON (lowerCamelCase keys, hex ids, int64 as strings or numbers)."""
    attributes = span.get("attributes") or ()
    markers = GENAI_MARKERS
    if not any(isinstance(kv, Mapping) and kv.get("key") in markers for kv in attributes):
        return None
    picked: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    for kv in attributes:
        key = kv.get("key")
        if not isinstance(key, str):
            continue
        slot = _SLOTS.get(key)
        if slot is not None:
            if slot[1] or slot[0] not in picked:
                picked[slot[0]] = _json_value(kv.get("value"))
        elif key.startswith(_TAG_PREFIX):
            tags.append((key[_TAG_PREFIX_LEN:], str(_json_value(kv.get("value")))))
    status = span.get("status") or {}
    start = _int(span.get("startTimeUnixNano")) or 0
    end = _int(span.get("endTimeUnixNano")) or 0
    return _build(
        picked, tuple(tags), str(span.get("name", "")), start, end, _int(status.get("code")) or 0,
        str(status.get("message") or ""), _hex_id(span.get("traceId")), _hex_id(span.get("spanId")), scope_name,
        _resolve_prices(prices),
    )  # fmt: skip


@dataclass(slots=True)
class Batch:
    """What one export request held: its GenAI records and the count of every other outcome."""

    records: list[CallRecord] = field(default_factory=list)
    spans: int = 0  # every span in the request
    skipped: int = 0  # not GenAI inference calls
    errors: int = 0  # GenAI-marked spans that could not be converted
    no_duration: int = 0  # records of spans with no usable end time (`duration_s` None)


def records_from_request(request: Any, *, prices: Any = DEFAULT_PRICES) -> Batch:
    """Every span of an `ExportTraceServiceRequest`, converted; one bad span never spoils the rest."""
    return convert_spans(request, _resolve_prices(prices), _proto_span_record)


def _proto_span_record(span: Any, scope_name: str, book: Any) -> CallRecord | None:
    return record_from_proto_span(span, scope_name, prices=book)


SpanConverter = Callable[[Any, str, Any], "CallRecord | None"]


def convert_spans(request: Any, book: Any, convert: SpanConverter) -> Batch:
    """`convert(span, scope_name, prices)` over every span of a decoded export request, counted in a
    `Batch`: None is a span that is not a GenAI inference call, an exception one that did not convert."""
    batch = Batch()
    records = batch.records
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            spans = scope_spans.spans
            batch.spans += len(spans)
            for span in spans:
                try:
                    record = convert(span, scope_name, book)
                except Exception:
                    batch.errors += 1
                    log.debug("routewatch: a GenAI span did not convert", exc_info=True)
                    continue
                if record is None:
                    batch.skipped += 1
                else:
                    records.append(record)
                    if record.duration_s is None:
                        batch.no_duration += 1
    return batch


def records_from_json_request(data: Mapping[str, Any], *, prices: Any = DEFAULT_PRICES) -> Batch:
    """Every span of an OTLP JSON `ExportTraceServiceRequest` object (`{"resourceSpans": [...]}`)."""
    book = _resolve_prices(prices)
    batch = Batch()
    for resource_spans in data.get("resourceSpans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            scope_name = str((scope_spans.get("scope") or {}).get("name") or "")
            spans = scope_spans.get("spans") or ()
            batch.spans += len(spans)
            for span in spans:
                try:
                    record = record_from_json_span(span, scope_name, prices=book)
                except Exception:
                    batch.errors += 1
                    log.debug("routewatch: a GenAI span did not convert", exc_info=True)
                    continue
                if record is None:
                    batch.skipped += 1
                else:
                    batch.records.append(record)
                    if record.duration_s is None:
                        batch.no_duration += 1
    return batch
