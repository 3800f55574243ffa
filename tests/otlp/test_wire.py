"""The collector's fast reader (`otlp.wire`) gives exactly the records `records_from_request` gives
for the decoded message, whatever the attributes and however a producer laid out their bytes."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from routewatch.otlp.attributes import _SLOTS
from routewatch.otlp.convert import records_from_request
from routewatch.otlp.wire import records_from_bytes

SLOT_KEYS = sorted(_SLOTS)


# --- hand-made protobuf --------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _request(*spans: bytes, scope: str = "other") -> bytes:
    scope_spans = _field(1, _field(1, scope.encode())) + b"".join(_field(2, s) for s in spans)
    resource = _field(1, _field(1, KeyValue(key="service.name", value=AnyValue(string_value="x")).SerializeToString()))
    return _field(1, resource + _field(2, scope_spans))


def _span(*attributes: bytes, error: bool = False) -> bytes:
    """A span's bytes with `attributes` (KeyValue bytes, as given) appended as field 9."""
    span = Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="chat m", kind=Span.SPAN_KIND_CLIENT)
    span.start_time_unix_nano, span.end_time_unix_nano = 10**18, 10**18 + 700_000_000
    if error:
        span.status.code, span.status.message = 2, "boom"
    return span.SerializeToString() + b"".join(_field(9, kv) for kv in attributes)


def _kv(key: str, value: Any) -> bytes:
    kv = KeyValue(key=key)
    if value is None:
        return kv.SerializeToString()
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    elif isinstance(value, str):
        kv.value.string_value = value
    elif isinstance(value, bytes):
        kv.value.bytes_value = value
    elif isinstance(value, dict):
        for k, v in value.items():
            kv.value.kvlist_value.values.add(key=k).value.string_value = v
    else:
        for item in value:
            kv.value.array_value.values.add().string_value = item
    return kv.SerializeToString()


GENAI = (_kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", "openai"))


def _same(body: bytes) -> list[Any]:
    expected = records_from_request(ExportTraceServiceRequest.FromString(body))
    got = records_from_bytes(body)
    assert (got.spans, got.skipped, got.errors) == (expected.spans, expected.skipped, expected.errors)
    assert got.records == expected.records
    return got.records


# --- tests ---------------------------------------------------------------------------------------------
def test_random_spans_over_every_attribute_the_converter_reads() -> None:
    rng = random.Random(20261203)
    values: list[Any] = [
        None, True, False, 0, 1, 2, 443, -5, 2**63 - 1, -(2**63), 0.0, 1.0, 0.25, -1.5, math.inf, "", "chat",
        "openai", "gen_ai", "x" * 300, "stop", ("stop",), ("stop", "length"), (), b"raw", {"a": "b"},
        "text_completion", "embeddings", "Azure", "gpt-4o-mini", "1", "true",
    ]  # fmt: skip
    spans = []
    for _ in range(400):
        keys = rng.sample(SLOT_KEYS, rng.randint(0, 25)) + ["routewatch.tag.tenant", "http.url"] * rng.randint(0, 1)
        attributes = [_kv(key, rng.choice(values)) for key in keys]
        if rng.random() < 0.7:
            attributes = [*GENAI, *attributes] if rng.random() < 0.5 else [*attributes, *GENAI]
        spans.append(_span(*attributes, error=rng.random() < 0.2))
    for start in range(0, len(spans), 50):
        _same(_request(*spans[start : start + 50]))
    # The same again, now that the reader's cache holds many of these attributes.
    records = _same(_request(*spans))
    assert len(records) > 100  # most marked spans are inference calls


def test_duplicates_and_aliases_resolve_as_the_converter_resolves_them() -> None:
    body = _request(
        _span(
            *GENAI, _kv("gen_ai.usage.prompt_tokens", 5), _kv("gen_ai.usage.input_tokens", 7),
            _kv("gen_ai.usage.prompt_tokens", 9), _kv("gen_ai.request.model", "a"), _kv("gen_ai.request.model", "b"),
            _kv("llm.usage.completion_tokens", 3), _kv("gen_ai.usage.completion_tokens", 4),
        )
    )  # fmt: skip
    (record,) = _same(body)
    assert record.usage.input_tokens == 7 and record.usage.output_tokens == 3 and record.request_model == "b"


def test_unusual_layouts_go_to_the_official_parser() -> None:
    model = b"\x12" + _varint(len(AnyValue(string_value="m").SerializeToString()))
    odd = [
        model + AnyValue(string_value="m").SerializeToString() + _field(1, b"gen_ai.request.model"),  # value first
        _field(1, b"server.address") + _field(2, b"\x0a\x01a" + b"\x0a\x01b"),  # a oneof set twice: the last wins
        _field(1, b"server.address") + _field(2, b"\x0a\x01a") + _field(2, b"\x18\x05"),  # value message twice
        _field(1, b"gen_ai.usage.input_tokens") + _field(2, b""),  # an empty value
        _field(1, b"gen_ai.usage.output_tokens"),  # no value at all
        _field(1, b"gen_ai.request.seed") + _field(2, b"\x18" + _varint(-3)),  # a negative int64
        _field(1, b"routewatch.stream.completed") + _field(2, b"\x10\x02"),  # a bool sent as 2
        _field(1, b"gen_ai.request.temperature") + _field(2, b"\x21" + struct.pack("<d", 0.5)),
        _field(1, ("routewatch.tag." + "k" * 200).encode()) + _field(2, b"\x0a" + _varint(150) + b"v" * 150),
        _kv("gen_ai.response.finish_reasons", ("stop",)),
        _kv("gen_ai.request.stop_sequences", {"k": "v"}),
    ]
    (record,) = _same(_request(_span(*GENAI, *odd)))
    assert record.request_model == "m" and record.server_address is None and record.request.seed == -3
    assert record.stream_completed is True and record.tag("k" * 200) == "v" * 150


def test_non_genai_spans_are_skipped_and_counted() -> None:
    body = _request(_span(_kv("http.request.method", "GET"), _kv("server.address", "a")), _span(*GENAI))
    records = _same(body)
    assert len(records) == 1


def test_a_span_with_a_broken_attribute_is_counted_and_the_others_convert() -> None:
    broken = _field(1, b"gen_ai.request.model") + _field(2, b"\x0a\x02\xff\xfe")  # not UTF-8
    batch = records_from_bytes(_request(_span(*GENAI, broken), _span(*GENAI)))
    assert (batch.spans, batch.errors, len(batch.records)) == (2, 1, 1)


def test_a_marker_written_value_first_still_marks_the_span() -> None:
    """Spans are skipped early only when no attribute could be a marker; other layouts are read."""
    operation = _field(2, AnyValue(string_value="chat").SerializeToString()) + _field(1, b"gen_ai.operation.name")
    (record,) = _same(_request(_span(_kv("gen_ai.request.model", "m"), operation)))
    assert (record.operation, record.request_model) == ("chat", "m")


def test_a_value_spelling_a_marker_does_not_make_a_genai_span() -> None:
    body = _request(_span(_kv("http.route", "/gen_ai.operation.name"), _kv("server.address", "a")), _span(*GENAI))
    assert len(_same(body)) == 1


def test_bytes_that_are_no_export_request_raise_decode_error() -> None:
    with pytest.raises(DecodeError):
        records_from_bytes(b"\xff\xfe\xfd definitely not protobuf")


def test_cached_facts_keep_true_apart_from_one() -> None:
    """True == 1 in Python; a port or token count of True is garbage (no value), of 1 a value."""
    spans = [_span(*GENAI, _kv("server.port", v), _kv("gen_ai.usage.input_tokens", v)) for v in (1, True, 1)]
    first, second, third = _same(_request(*spans))
    assert (first.server_port, first.usage.input_tokens) == (1, 1) == (third.server_port, third.usage.input_tokens)
    assert (second.server_port, second.usage.input_tokens) == (None, None)
