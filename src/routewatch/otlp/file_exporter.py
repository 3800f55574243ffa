"""Spans to and from OTLP JSON-lines files.

`OTLPJsonFileExporter` is an SDK `SpanExporter` that appends one `ExportTraceServiceRequest` per
line, in OTLP JSON, the layout the OpenTelemetry Collector's file exporter writes; such a file can be
replayed into the routewatch collector, loaded by `routewatch replay`, or read by any OTLP tool.
`read_requests` / `read_spans` / `read_records` read it back, and also take a single (possibly
pretty-printed) JSON document, and gzip files whose name ends in `.gz`.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..records import CallRecord
from .convert import DEFAULT_PRICES, record_from_proto_span
from .json_format import OTLPJSONError, request_from_json, request_to_json_bytes

__all__ = ["OTLPJsonFileExporter", "SpanItem", "read_records", "read_requests", "read_spans"]

log = logging.getLogger("routewatch.otlp")


class OTLPJsonFileExporter(SpanExporter):
    """Appends each exported batch to `path` as one line of OTLP JSON.

    Writes are serialised by a lock and flushed per batch, so a reader (or a crash) sees whole
    lines only. Pass an open text stream instead of a path to write elsewhere (it is not closed).
    """

    def __init__(self, path: str | os.PathLike[str] | IO[str]) -> None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self._encode = encode_spans
        self._lock = threading.Lock()
        self._owned = isinstance(path, (str, os.PathLike))
        if isinstance(path, (str, os.PathLike)):
            self._file: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in shutdown)
        else:
            self._file = path
        self.exported_spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            line = request_to_json_bytes(self._encode(spans)).decode() + "\n"
            with self._lock:
                if self._file is None:
                    return SpanExportResult.FAILURE
                self._file.write(line)
                self._file.flush()
                self.exported_spans += len(spans)
        except Exception:
            log.warning("routewatch: writing %d spans to the OTLP JSON file failed", len(spans), exc_info=True)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with self._lock:
            if self._file is not None:
                self._file.flush()
        return True

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None and self._owned:
                self._file.close()
            self._file = None


@dataclass(frozen=True, slots=True)
class SpanItem:
    """One span read from a file, with its resource and instrumentation scope (protobuf messages)."""

    span: Any
    scope: Any
    resource: Any


def _open_text(path: str | os.PathLike[str]) -> IO[str]:
    if os.fspath(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_requests(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Each `ExportTraceServiceRequest` in the file: one per non-empty line, or, when the file is
    one JSON document (an object, or a list of objects), that. `OTLPJSONError` names the bad line."""
    with _open_text(path) as handle:
        first = True
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except ValueError:
                if first:  # not JSON lines: a single, pretty-printed document
                    handle.seek(0)
                    yield from _document(handle.read(), path)
                    return
                raise OTLPJSONError(f"{os.fspath(path)}:{number}: not a JSON line") from None
            first = False
            try:
                yield from _requests_of(data)
            except OTLPJSONError as exc:
                raise OTLPJSONError(f"{os.fspath(path)}:{number}: {exc}") from None


def _document(text: str, path: str | os.PathLike[str]) -> Iterator[Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OTLPJSONError(f"{os.fspath(path)}: neither JSON lines nor one JSON document: {exc}") from None
    yield from _requests_of(data)


def _requests_of(data: Any) -> Iterator[Any]:
    if isinstance(data, list):
        for item in data:
            yield request_from_json(item)
    else:
        yield request_from_json(data)


def read_spans(path: str | os.PathLike[str]) -> Iterator[SpanItem]:
    """Every span in the file, with its scope and resource."""
    for request in read_requests(path):
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield SpanItem(span, scope_spans.scope, resource_spans.resource)


def read_records(path: str | os.PathLike[str], *, prices: Any = DEFAULT_PRICES) -> Iterator[CallRecord]:
    """The `CallRecord` of every GenAI inference span in the file, in file order."""
    for item in read_spans(path):
        record = record_from_proto_span(item.span, item.scope.name, prices=prices)
        if record is not None:
            yield record
