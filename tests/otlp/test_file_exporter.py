"""OTLP JSON-lines files: one ExportTraceServiceRequest per line, written by an SDK exporter, read
back as requests, spans or call records; a single pretty-printed document and .gz files work too."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from routewatch.otlp.file_exporter import OTLPJsonFileExporter, read_records, read_requests, read_spans
from routewatch.otlp.json_format import OTLPJSONError, request_to_json


def _emit(exporter: OTLPJsonFileExporter, n: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    for i in range(n):
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": f"m{i}",
                 "gen_ai.usage.input_tokens": i, "gen_ai.usage.output_tokens": 2 * i}  # fmt: skip
        with tracer.start_as_current_span(f"chat m{i}", kind=SpanKind.CLIENT, attributes=attrs):
            with tracer.start_as_current_span("POST", attributes={"http.request.method": "POST"}):
                pass
    provider.shutdown()


def test_each_export_is_one_json_line_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = OTLPJsonFileExporter(path)
    _emit(exporter, 3)
    lines = path.read_text().splitlines()
    assert len(lines) == 6  # simple processor: one export per span
    assert all(json.loads(line)["resourceSpans"] for line in lines)
    assert exporter.exported_spans == 6
    assert len(list(read_requests(path))) == 6
    assert sorted(item.span.name for item in read_spans(path)) == ["POST"] * 3 + ["chat m0", "chat m1", "chat m2"]
    records = list(read_records(path))
    assert [(r.request_model, r.usage.output_tokens) for r in records] == [("m0", 0), ("m1", 2), ("m2", 4)]
    assert all(r.span_scope == "app" for r in records)


def test_appends_to_an_existing_file_and_writes_to_streams(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    _emit(OTLPJsonFileExporter(path), 1)
    _emit(OTLPJsonFileExporter(path), 1)
    assert len(path.read_text().splitlines()) == 4
    stream = io.StringIO()
    exporter = OTLPJsonFileExporter(stream)
    _emit(exporter, 1)
    assert len(stream.getvalue().splitlines()) == 2 and not stream.closed


def test_single_pretty_printed_document_and_lists_and_gzip(tmp_path: Path) -> None:
    source = tmp_path / "spans.jsonl"
    _emit(OTLPJsonFileExporter(source), 2)
    requests = list(read_requests(source))
    pretty = tmp_path / "one.json"
    pretty.write_text(json.dumps(request_to_json(requests[0]), indent=2))
    assert list(read_requests(pretty)) == requests[:1]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([request_to_json(r) for r in requests], indent=1))
    assert list(read_requests(listed)) == requests
    zipped = tmp_path / "spans.jsonl.gz"
    zipped.write_bytes(gzip.compress(source.read_bytes()))
    assert list(read_requests(zipped)) == requests


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    _emit(OTLPJsonFileExporter(path), 1)
    with path.open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(OTLPJSONError, match=r"spans.jsonl:3"):
        list(read_requests(path))


def test_shutdown_closes_and_later_exports_fail_without_raising(tmp_path: Path) -> None:
    exporter = OTLPJsonFileExporter(tmp_path / "spans.jsonl")
    exporter.shutdown()
    from opentelemetry.sdk.trace.export import SpanExportResult

    provider = TracerProvider()
    tracer = provider.get_tracer("app")
    span = tracer.start_span("x")
    span.end()
    assert exporter.export([span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
