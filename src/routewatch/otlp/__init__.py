"""OTLP in and out: GenAI spans (protobuf, OTLP JSON or SDK `ReadableSpan`) to `CallRecord`s, OTLP
JSON <-> protobuf, and an OTLP JSON-lines file exporter and reader.

The collector and `routewatch replay` use these; an app never needs them on its hot path.
"""

from __future__ import annotations

from .convert import (
    is_genai_span,
    record_from_json_span,
    record_from_proto_span,
    record_from_readable_span,
    records_from_json_request,
    records_from_request,
)

__all__ = [
    "is_genai_span",
    "record_from_json_span",
    "record_from_proto_span",
    "record_from_readable_span",
    "records_from_json_request",
    "records_from_request",
]
