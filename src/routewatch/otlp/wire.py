"""OTLP/protobuf export requests to `CallRecord`s without building the full message tree.

The collector's hot path. A GenAI span's record needs a dozen attributes, its times, ids, name
and status; decoding the whole `ExportTraceServiceRequest` and then walking every `KeyValue` and
`AnyValue` wrapper costs more than everything else the collector does with a span. So the request
is parsed against a lean schema with the same field numbers (resource attributes, events, links
and every field routewatch does not read stay unparsed bytes), a span's attributes arrive as the
raw bytes of each `KeyValue`, and each is read here: the key is looked up as bytes, only wanted
values are decoded, and values that repeat from span to span (operation, provider, model, server,
token counts) come from a bounded cache keyed by the attribute's bytes.

Anything the fast reader does not expect (fields out of the usual order, repeated fields, an
unusual value type) is handed to the official `KeyValue` parser, so the result is always the one
`records_from_request` gives for the decoded message; a test holds the two paths equal.
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped]
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from .. import semconv as sc
from ..records import CallRecord
from .attributes import _SLOTS, _TAG_PREFIX, GENAI_MARKERS, _id, _proto_value
from .builder import build_record
from .convert import DEFAULT_PRICES, Batch, _resolve_prices, convert_spans

__all__ = ["LeanExportRequest", "records_from_bytes"]


def _lean_schema() -> Any:
    """ExportTraceServiceRequest as far as routewatch reads it (field numbers of opentelemetry-proto)."""
    f = descriptor_pb2.FieldDescriptorProto
    one, many = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    file = descriptor_pb2.FileDescriptorProto(name="routewatch/lean_trace.proto", package="routewatch.lean")
    file.syntax = "proto3"
    messages: dict[str, tuple[tuple[str, int, int, int, str], ...]] = {
        "Status": (("message", 2, f.TYPE_STRING, one, ""), ("code", 3, f.TYPE_INT32, one, "")),
        "Span": (
            ("trace_id", 1, f.TYPE_BYTES, one, ""),
            ("span_id", 2, f.TYPE_BYTES, one, ""),
            ("name", 5, f.TYPE_STRING, one, ""),
            ("start_time_unix_nano", 7, f.TYPE_FIXED64, one, ""),
            ("end_time_unix_nano", 8, f.TYPE_FIXED64, one, ""),
            ("attributes", 9, f.TYPE_BYTES, many, ""),
            ("status", 15, f.TYPE_MESSAGE, one, "Status"),
        ),
        "Scope": (("name", 1, f.TYPE_STRING, one, ""),),
        "ScopeSpans": (("scope", 1, f.TYPE_MESSAGE, one, "Scope"), ("spans", 2, f.TYPE_MESSAGE, many, "Span")),
        "ResourceSpans": (("scope_spans", 2, f.TYPE_MESSAGE, many, "ScopeSpans"),),
        "ExportRequest": (("resource_spans", 1, f.TYPE_MESSAGE, many, "ResourceSpans"),),
    }
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".routewatch.lean.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("routewatch.lean.ExportRequest"))


#: The lean message class: `LeanExportRequest.FromString(body)` raises `DecodeError` on bad wire data.
LeanExportRequest: Any = _lean_schema()

_SLOT_BY_KEY: dict[bytes, tuple[str, bool]] = {key.encode(): slot for key, slot in _SLOTS.items()}
# How a marker's KeyValue starts as every encoder writes it: the key's tag and length, then the key.
_MARKER_HEADS: tuple[bytes, ...] = tuple(
    b"\x0a" + bytes((len(k),)) + k for k in sorted(m.encode() for m in GENAI_MARKERS)
)
_TAG = _TAG_PREFIX.encode()
_TAG_LEN = len(_TAG)
# Values of these never repeat (ids, content): not worth a cache entry.
_UNCACHED: frozenset[str] = frozenset(
    {sc.GEN_AI_RESPONSE_ID, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS}
)
_MAX_CACHED = 16_384
# KeyValue bytes -> (slot name, or None for a tag; current spelling, or the tag's name; value; is a marker)
_cache: dict[bytes, tuple[str | None, Any, Any, bool]] = {}
# A double attribute's value changes from span to span (durations, costs), its head does not: the
# KeyValue bytes but the value's last 8 -> (slot name, current spelling, is a marker).
_double_heads: dict[bytes, tuple[str, Any, bool]] = {}
_double = struct.Struct("<d").unpack_from
_SKIP = (None, None, None, False)
_U64 = (1 << 64) - 1


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _value(data: bytes, i: int, end: int) -> tuple[Any, bool]:
    """(value, cacheable) of the AnyValue in data[i:end]; raises LookupError when it is unusual."""
    if i == end:
        return None, True
    tag = data[i]
    if tag == 0x0A:  # string_value
        n = data[i + 1]
        j = i + 2
        if n >= 0x80:
            n, j = _varint(data, i + 1)
        if j + n != end:
            raise LookupError
        return data[j:end].decode(), True
    if tag == 0x18:  # int_value (int64, two's complement)
        v, j = _varint(data, i + 1)
        if j != end:
            raise LookupError
        v &= _U64
        return (v - (1 << 64) if v >= 1 << 63 else v), True
    if tag == 0x21:  # double_value
        if i + 9 != end:
            raise LookupError
        return _double(data, i + 1)[0], False
    if tag == 0x10:  # bool_value
        v, j = _varint(data, i + 1)
        if j != end:
            raise LookupError
        return v != 0, True
    raise LookupError  # arrays, kvlists, bytes, repeated or unknown fields: the official parser


def _read(kv: bytes) -> tuple[str | None, Any, Any, bool]:
    """One attribute's cache entry (see `_cache`), read from its KeyValue bytes."""
    if kv[-9:-8] == b"\x21":  # perhaps a double whose head was read before: only the value to read
        head = _double_heads.get(kv[:-8])
        if head is not None:
            return head[0], head[1], _double(kv, len(kv) - 8)[0], head[2]
    try:
        if kv[0] != 0x0A:
            raise LookupError
        n = kv[1]
        i = 2
        if n >= 0x80:
            n, i = _varint(kv, 1)
        key = kv[i : i + n]
        i += n
        slot = _SLOT_BY_KEY.get(key)
        if slot is None and not key.startswith(_TAG):
            return _SKIP  # not read: its value is never decoded
        if i == len(kv):
            value, cacheable = None, True
        else:
            if kv[i] != 0x12:
                raise LookupError
            n = kv[i + 1]
            j = i + 2
            if n >= 0x80:
                n, j = _varint(kv, i + 1)
            if j + n != len(kv):
                raise LookupError
            value, cacheable = _value(kv, j, j + n)
        text_key = key.decode()
    except (LookupError, ValueError):  # ValueError: bad UTF-8 or varint; the official parser decides
        parsed = KeyValue.FromString(kv)
        text_key = parsed.key
        slot = _SLOT_BY_KEY.get(text_key.encode())
        if slot is None and not text_key.startswith(_TAG_PREFIX):
            return _SKIP
        value, cacheable = _proto_value(parsed.value), True
    marker = text_key in GENAI_MARKERS
    if slot is None:
        entry: tuple[str | None, Any, Any, bool] = (None, text_key[_TAG_LEN:], str(value), marker)
    else:
        entry = (slot[0], slot[1], value, marker)
        cacheable = cacheable and slot[0] not in _UNCACHED
    if cacheable:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[kv] = entry
    elif slot is not None and type(value) is float and kv[-10:-8] == b"\x09\x21":  # AnyValue{double}: 9 bytes
        if len(_double_heads) >= _MAX_CACHED:
            _double_heads.clear()
        _double_heads[kv[:-8]] = (slot[0], slot[1], marker)
    return entry


def _pick(attributes: Any) -> tuple[dict[str, Any], tuple[tuple[str, str], ...], bool]:
    """What `convert._pick_proto` gives for the same attributes, plus whether a GenAI marker was seen."""
    picked: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    genai = False
    get = _cache.get
    for kv in attributes:
        entry = get(kv)
        if entry is None:
            entry = _read(kv)
        name, current, value, marker = entry
        if marker:
            genai = True
        if name is None:
            if current is not None:
                tags.append((current, value))
        elif current or name not in picked:
            picked[name] = value
    return picked, tuple(tags), genai


def records_from_bytes(body: bytes, *, prices: Any = DEFAULT_PRICES) -> Batch:
    """Every span of a serialized `ExportTraceServiceRequest`, converted as `records_from_request`
    converts the decoded message; raises `google.protobuf.message.DecodeError` on bad wire data."""
    return convert_spans(LeanExportRequest.FromString(body), _resolve_prices(prices), _lean_span_record)


def _may_be_genai(attributes: Any) -> bool:
    """Whether some attribute starts as a GenAI marker's KeyValue does (key first, its length in one
    byte) or is laid out otherwise (`_read` decides those): the HTTP, database and framework spans of
    a trace are skipped before any attribute is read."""
    for kv in attributes:  # noqa: SIM110 (any() over a generator costs a microsecond more a span)
        if kv.startswith(_MARKER_HEADS) or kv[:1] != b"\x0a" or len(kv) < 2 or kv[1] >= 0x80:
            return True
    return False


def _lean_span_record(span: Any, scope_name: str, book: Any) -> CallRecord | None:
    attributes = span.attributes
    if not _may_be_genai(attributes):
        return None
    picked, tags, genai = _pick(attributes)
    if not genai:
        return None
    status = span.status
    return build_record(
        picked, tags, span.name, span.start_time_unix_nano, span.end_time_unix_nano,
        status.code, status.message, _id(span.trace_id), _id(span.span_id), scope_name, book,
    )  # fmt: skip
