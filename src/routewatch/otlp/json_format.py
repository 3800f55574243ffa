"""OTLP JSON <-> protobuf, as the OTLP specification defines it.

OTLP JSON is protobuf's canonical JSON mapping with two deviations: `traceId` / `spanId` /
`parentSpanId` are hex strings (not base64), and enums are integers (never names). Keys are
lowerCamelCase; 64-bit integers are written as decimal strings and read as strings or numbers;
unknown fields are ignored. The reader also takes base64 ids, which some exporters send by mistake
(protobuf's default JSON mapping), and, like protobuf's own parser, the original snake_case names.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = [
    "OTLPJSONError",
    "request_from_json",
    "request_from_json_bytes",
    "request_to_json",
    "request_to_json_bytes",
    "response_to_json_bytes",
]

# Both spellings the reader takes (a hex id read as base64 under a snake_case key decodes to wrong bytes).
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_ID_LENGTHS = {32: 16, 16: 8}  # hex digits -> bytes
_TOO_DEEP = "body is JSON nested too deeply to be an OTLP export request"


class OTLPJSONError(ValueError):
    """The payload is not OTLP JSON (bad JSON, wrong types, bad ids); the message says where."""


# --- protobuf -> JSON -----------------------------------------------------------------------------------
def request_to_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """An `ExportTraceServiceRequest` as an OTLP JSON object."""
    data: dict[str, Any] = json_format.MessageToDict(
        request, use_integers_for_enums=True, preserving_proto_field_name=False
    )
    _ids_to_hex(data)
    return data


def request_to_json_bytes(request: ExportTraceServiceRequest) -> bytes:
    """Compact OTLP JSON (one line, no trailing newline)."""
    return json.dumps(request_to_json(request), separators=(",", ":")).encode()


def response_to_json_bytes(response: ExportTraceServiceResponse) -> bytes:
    return json.dumps(json_format.MessageToDict(response, use_integers_for_enums=True), separators=(",", ":")).encode()


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


# --- JSON -> protobuf -----------------------------------------------------------------------------------
def request_from_json_bytes(body: bytes | str) -> ExportTraceServiceRequest:
    """Parse an OTLP JSON body; `OTLPJSONError` names what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OTLPJSONError(f"body is not JSON: {exc}") from None
    except RecursionError:  # not a ValueError: it would escape as a server error
        raise OTLPJSONError(_TOO_DEEP) from None
    return request_from_json(data)


def request_from_json(data: Any) -> ExportTraceServiceRequest:
    """An OTLP JSON object (already parsed) as an `ExportTraceServiceRequest`."""
    if not isinstance(data, Mapping):
        raise OTLPJSONError(f"OTLP JSON must be an object with resourceSpans, got {type(data).__name__}")
    request = ExportTraceServiceRequest()
    try:
        converted = _ids_to_base64(data, "$")
        json_format.ParseDict(converted, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OTLPJSONError(f"not an OTLP trace export request: {exc}") from None
    except RecursionError:  # a parsed object nested almost as deep as json.loads allows
        raise OTLPJSONError(_TOO_DEEP) from None
    return request


def _ids_to_base64(node: Any, path: str) -> Any:
    """A copy of `node` with hex (or base64) ids as the base64 protobuf's JSON parser expects."""
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                out[key] = _id_to_base64(value, f"{path}.{key}")
            else:
                out[key] = _ids_to_base64(value, f"{path}.{key}")
        return out
    if isinstance(node, list):
        return [_ids_to_base64(item, f"{path}[{i}]") for i, item in enumerate(node)]
    return node


def _id_to_base64(value: str, path: str) -> str:
    if value == "":
        return ""
    if len(value) in _ID_LENGTHS:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            pass
    try:  # some exporters send protobuf's default JSON mapping (base64); accept it when it fits
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) in _ID_LENGTHS.values():
        return value
    raise OTLPJSONError(f"{path}: {value!r} is not a hex trace or span id")
