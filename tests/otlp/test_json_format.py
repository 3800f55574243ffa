"""OTLP JSON as the OTLP specification defines it: hex ids, integer enums, lowerCamelCase keys,
64-bit integers as strings (either accepted on input), unknown fields ignored."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from routewatch.otlp.json_format import (
    OTLPJSONError,
    request_from_json,
    request_from_json_bytes,
    request_to_json,
    request_to_json_bytes,
)

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")


def _request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "checkout"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "routewatch"
    span = scope_spans.spans.add()
    span.trace_id, span.span_id, span.parent_span_id = TRACE_ID, SPAN_ID, PARENT_ID
    span.name = "chat gpt-4o-mini"
    span.kind = Span.SPAN_KIND_CLIENT
    span.start_time_unix_nano = 1_700_000_000_123_456_789
    span.end_time_unix_nano = 1_700_000_001_123_456_789
    span.status.code = Status.STATUS_CODE_ERROR
    for key, field, value in (
        ("gen_ai.usage.input_tokens", "int_value", 12),
        ("gen_ai.request.temperature", "double_value", 0.5),
        ("gen_ai.request.stream", "bool_value", True),
    ):
        kv = span.attributes.add()
        kv.key = key
        setattr(kv.value, field, value)
    kv = span.attributes.add()
    kv.key = "gen_ai.response.finish_reasons"
    kv.value.array_value.values.add().string_value = "stop"
    link = span.links.add()
    link.trace_id, link.span_id = TRACE_ID, PARENT_ID
    return request


def test_ids_are_hex_enums_integers_keys_camel_case_and_int64_strings() -> None:
    data = request_to_json(_request())
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == TRACE_ID.hex() and span["spanId"] == SPAN_ID.hex()
    assert span["parentSpanId"] == PARENT_ID.hex()
    assert span["links"][0]["traceId"] == TRACE_ID.hex() and span["links"][0]["spanId"] == PARENT_ID.hex()
    assert span["kind"] == 3 and span["status"]["code"] == 2
    assert span["startTimeUnixNano"] == "1700000000123456789"
    assert {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}} in span["attributes"]
    assert "start_time_unix_nano" not in span and "parent_span_id" not in span


def test_round_trip_is_lossless() -> None:
    request = _request()
    assert request_from_json_bytes(request_to_json_bytes(request)) == request
    assert b"\n" not in request_to_json_bytes(request)


def test_reader_accepts_numbers_for_int64_uppercase_hex_and_ignores_unknown_fields() -> None:
    data = request_to_json(_request())
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = 1_700_000_000_123_456_789
    span["traceId"] = span["traceId"].upper()
    span["someFutureField"] = {"x": 1}
    data["resourceSpans"][0]["futureEnvelope"] = []
    assert request_from_json(data) == _request()


def test_base64_ids_from_misconfigured_exporters_are_accepted() -> None:
    data = request_to_json(_request())
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = base64.b64encode(TRACE_ID).decode()
    span["spanId"] = base64.b64encode(SPAN_ID).decode()
    parsed = request_from_json(data).resource_spans[0].scope_spans[0].spans[0]
    assert parsed.trace_id == TRACE_ID and parsed.span_id == SPAN_ID


def test_snake_case_keys_take_hex_ids_too() -> None:
    """protobuf's original field names, which its JSON parser (and so this reader) also takes: a hex
    id under them is read as hex, not as base64 (hex digits are base64 letters: no error, wrong bytes)."""
    link = {"trace_id": TRACE_ID.hex(), "span_id": PARENT_ID.hex()}
    span = {"trace_id": TRACE_ID.hex(), "span_id": SPAN_ID.hex(), "parent_span_id": PARENT_ID.hex(),
            "start_time_unix_nano": "1700000000123456789", "links": [link]}  # fmt: skip
    parsed = request_from_json({"resource_spans": [{"scope_spans": [{"spans": [span]}]}]})
    read = parsed.resource_spans[0].scope_spans[0].spans[0]
    assert (read.trace_id, read.span_id, read.parent_span_id) == (TRACE_ID, SPAN_ID, PARENT_ID)
    assert (read.links[0].trace_id, read.links[0].span_id) == (TRACE_ID, PARENT_ID)
    assert read.start_time_unix_nano == 1_700_000_000_123_456_789


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00\x01 not json", "not JSON"),
        (b"[1, 2]", "must be an object"),
        (json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}).encode(), "traceId"),
        (json.dumps({"resourceSpans": "nope"}).encode(), "not an OTLP trace export request"),
        (json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}).encode(),
         "not an OTLP trace export request"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # past Python's recursion limit
        (b'{"resourceSpans":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001, "nested too deeply"),
    ],
)  # fmt: skip
def test_malformed_json_is_rejected_with_a_message_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(OTLPJSONError, match=message):
        request_from_json_bytes(body)


def test_empty_request_is_valid() -> None:
    assert request_from_json({}) == ExportTraceServiceRequest()
    assert request_from_json({"resourceSpans": []}) == ExportTraceServiceRequest()
