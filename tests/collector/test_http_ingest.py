"""OTLP/HTTP into the collector: POST /v1/traces in protobuf or JSON, plain or gzip; bad payloads get
400 with a message, overload 503 with Retry-After, a missing token 401; TLS works; the route
table serves what other modules register, streaming included."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time

import httpx
import pytest
from google.rpc import status_pb2
from ingest_support import Gate, export_request, genai_spans, running, self_signed
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult

from routewatch.collector.http_server import Response
from routewatch.otlp.json_format import request_to_json_bytes

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
# One client for the module: building an httpx client (its TLS context) costs more than a request.
HTTP = httpx.Client(timeout=10)


def test_official_http_exporter_protobuf_plain_and_gzip() -> None:
    with running() as collector:
        for compression in (Compression.NoCompression, Compression.Gzip):
            exporter = OTLPSpanExporter(endpoint=collector.http_url + "/v1/traces", compression=compression)
            assert exporter.export(genai_spans(4, extra=1)) is SpanExportResult.SUCCESS
            exporter.shutdown()
        assert collector.flush(5)
        stats = collector.ingest_stats()
        assert stats.spans_received == {"http/protobuf": 10}
        assert (stats.spans_accepted, stats.spans_skipped) == (8, 2)


def test_json_body_plain_and_gzip_gets_a_json_answer() -> None:
    with running() as collector:
        body = request_to_json_bytes(export_request(3))
        plain = HTTP.post(collector.http_url + "/v1/traces", content=body, headers=JSON)
        zipped = HTTP.post(collector.http_url + "/v1/traces", content=gzip.compress(body),
                            headers={**JSON, "content-encoding": "gzip"})  # fmt: skip
        for response in (plain, zipped):
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {}  # full success: partial_success left unset
        assert collector.flush(5)
        assert collector.ingest_stats().spans_received == {"http/json": 6}


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        (PROTOBUF, b"\xff\xfe garbage", 400, "not an OTLP protobuf"),
        (JSON, b"{not json", 400, "not JSON"),
        (JSON, b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}', 400, "spanId"),
        ({**PROTOBUF, "content-encoding": "gzip"}, b"not gzip at all", 400, "not valid gzip"),
        ({**PROTOBUF, "content-encoding": "br"}, b"x", 400, "unsupported Content-Encoding"),
        ({"content-type": "text/plain"}, b"hello", 415, "Content-Type must be"),
    ],
)  # fmt: skip
def test_bad_payloads_are_refused_with_a_message(headers, body, status, message) -> None:
    with running() as collector:
        response = HTTP.post(collector.http_url + "/v1/traces", content=body, headers=headers)
        assert response.status_code == status
        if response.headers["content-type"] == "application/x-protobuf":
            text = status_pb2.Status.FromString(response.content).message
        else:
            text = response.json()["message"]
        assert message in text
        ok = HTTP.post(collector.http_url + "/v1/traces", content=export_request(1).SerializeToString(),
                        headers=PROTOBUF)  # fmt: skip
        assert ok.status_code == 200  # the next client is unaffected
        assert sum(collector.ingest_stats().requests_rejected.values()) == 1


def test_a_gzip_body_of_several_members_is_read_to_its_end() -> None:
    """RFC 1952: a gzip stream may hold several members, to be read as their concatenation (Go's and
    Java's readers do; a client compressing in pieces writes them). Two serialized requests one after
    the other are one request with the spans of both."""
    with running(http_max_body_bytes=4096) as collector:
        first, second = export_request(2).SerializeToString(), export_request(3, seed=2).SerializeToString()
        body = gzip.compress(first) + gzip.compress(second)
        response = HTTP.post(collector.http_url + "/v1/traces", content=body,
                             headers={**PROTOBUF, "content-encoding": "gzip"})  # fmt: skip
        assert response.status_code == 200
        assert collector.flush(5)
        assert collector.ingest_stats().spans_received == {"http/protobuf": 5}
        bomb = gzip.compress(first) + gzip.compress(b"\x00" * 1_000_000)  # the limit holds over all members
        response = HTTP.post(collector.http_url + "/v1/traces", content=bomb,
                             headers={**PROTOBUF, "content-encoding": "gzip"})  # fmt: skip
        assert response.status_code == 413
        garbage = HTTP.post(collector.http_url + "/v1/traces", content=gzip.compress(first) + b"junk",
                            headers={**PROTOBUF, "content-encoding": "gzip"})  # fmt: skip
        assert garbage.status_code == 400


def test_bodies_over_the_limit_are_413_before_and_after_decompression() -> None:
    with running(http_max_body_bytes=4096) as collector:
        big = b"\x00" * 10_000
        assert HTTP.post(collector.http_url + "/v1/traces", content=big, headers=PROTOBUF).status_code == 413
        bomb = gzip.compress(b"\x00" * 1_000_000)  # ~1 KB that inflates to 1 MB
        response = HTTP.post(collector.http_url + "/v1/traces", content=bomb,
                              headers={**PROTOBUF, "content-encoding": "gzip"})  # fmt: skip
        assert response.status_code == 413
        rejected = collector.ingest_stats().requests_rejected
        assert rejected == {("http/protobuf", "too_large"): 2}


def test_full_queue_is_503_with_retry_after() -> None:
    with running(queue_capacity=5, retry_after_s=2) as collector:
        gate = Gate()
        collector.add_record_listener(gate)
        body = export_request(5).SerializeToString()
        assert HTTP.post(collector.http_url + "/v1/traces", content=body, headers=PROTOBUF).status_code == 200
        assert gate.entered.wait(5)
        refused = HTTP.post(collector.http_url + "/v1/traces", content=body, headers=PROTOBUF)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        gate.open()
        assert collector.flush(5)
        assert HTTP.post(collector.http_url + "/v1/traces", content=body, headers=PROTOBUF).status_code == 200
        assert collector.ingest_stats().requests_rejected == {("http/protobuf", "overloaded"): 1}


def test_the_official_exporter_retries_a_503_after_retry_after_and_nothing_is_lost() -> None:
    with running(queue_capacity=10, retry_after_s=1) as collector:
        gate = Gate()
        collector.add_record_listener(gate)
        url = collector.http_url + "/v1/traces"
        assert HTTP.post(url, content=export_request(10).SerializeToString(), headers=PROTOBUF).status_code == 200
        assert gate.entered.wait(5)  # the worker holds the 10 queued records: the queue is full
        exporter = OTLPSpanExporter(endpoint=url, timeout=15)
        result: list[SpanExportResult] = []
        worker = threading.Thread(target=lambda: result.append(exporter.export(genai_spans(5))))
        worker.start()
        deadline = time.monotonic() + 10
        while collector.ingest_stats().requests_rejected.get(("http/protobuf", "overloaded"), 0) < 1:
            assert time.monotonic() < deadline, "the exporter was never refused"
            time.sleep(0.02)
        gate.open()  # the queue drains; the exporter's retry, a Retry-After (1 s) later, gets through
        worker.join(20)
        exporter.shutdown()
        assert result == [SpanExportResult.SUCCESS]
        assert collector.flush(5)
        stats = collector.ingest_stats()
        assert stats.spans_accepted == 15 and stats.records_processed == 15
        assert stats.requests_rejected[("http/protobuf", "overloaded")] >= 1
        assert stats.spans_dropped == {}


def test_partial_success_in_protobuf_when_dropping() -> None:
    gate = Gate()
    with running(queue_capacity=3, overload="drop") as collector:
        collector.add_record_listener(gate)
        response = HTTP.post(collector.http_url + "/v1/traces", content=export_request(5).SerializeToString(),
                              headers=PROTOBUF)  # fmt: skip
        answer = ExportTraceServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_spans == 2
        json_answer = HTTP.post(collector.http_url + "/v1/traces",
                                 content=request_to_json_bytes(export_request(2)), headers=JSON).json()  # fmt: skip
        assert json_answer["partialSuccess"]["rejectedSpans"] == "2"
        gate.open()


def test_bearer_token(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with running(auth_token="tok-123456") as collector:
        url = collector.http_url + "/v1/traces"
        body = export_request(1).SerializeToString()
        assert HTTP.post(url, content=body, headers=PROTOBUF).status_code == 401
        wrong = HTTP.post(url, content=body, headers={**PROTOBUF, "authorization": "Bearer tok-12345"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        ok = HTTP.post(url, content=body, headers={**PROTOBUF, "authorization": "Bearer tok-123456"})
        assert ok.status_code == 200
        assert HTTP.get(collector.http_url + "/healthz").status_code == 200  # public
        assert collector.ingest_stats().requests_rejected == {("http/protobuf", "unauthorized"): 2}
    assert "tok-123456" not in caplog.text


def test_tls(tmp_path) -> None:
    cert, key = self_signed(tmp_path)
    with running(tls_cert_file=cert, tls_key_file=key) as collector:
        assert collector.http_url.startswith("https://")
        with httpx.Client(verify=str(cert)) as client:
            response = client.post(collector.http_url + "/v1/traces",
                                   content=export_request(2).SerializeToString(), headers=PROTOBUF)  # fmt: skip
            assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.post(collector.http_url + "/v1/traces", content=b"", headers=PROTOBUF)  # unverified cert
        assert collector.flush(5) and collector.ingest_stats().spans_accepted == 2


def test_mutual_tls_requires_a_client_certificate(tmp_path) -> None:
    import ssl

    cert, key = self_signed(tmp_path)
    (tmp_path / "client").mkdir()
    client_cert, client_key = self_signed(tmp_path / "client")
    with running(tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=client_cert) as collector:
        trusted = ssl.create_default_context(cafile=str(cert))
        trusted.load_cert_chain(str(client_cert), str(client_key))
        with httpx.Client(verify=trusted) as client:
            ok = client.post(collector.http_url + "/v1/traces", content=export_request(1).SerializeToString(),
                             headers=PROTOBUF)  # fmt: skip
            assert ok.status_code == 200
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
            with pytest.raises(httpx.TransportError):
                client.post(collector.http_url + "/v1/traces", content=b"", headers=PROTOBUF)


def test_route_table_serves_registered_routes_streams_and_404_405() -> None:
    with running() as collector:
        stop_seen = threading.Event()

        def ticks(request):
            def chunks():
                try:
                    for i in range(3):
                        yield f"data: {i}\n\n".encode()
                finally:
                    stop_seen.set()

            return Response(200, "text/event-stream", chunks(), {"cache-control": "no-cache"})

        collector.routes.add("GET", "/api/ticks", ticks)
        collector.routes.add("POST", "/echo", lambda r: Response(200, "application/json",
                                                                 json.dumps({"n": len(r.body)}).encode()))  # fmt: skip
        streamed = HTTP.get(collector.http_url + "/api/ticks")
        assert streamed.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert streamed.headers["connection"] == "close"  # so the client does not reuse a closing connection
        assert stop_seen.wait(2)
        assert HTTP.post(collector.http_url + "/echo", content=b"12345").json() == {"n": 5}
        assert HTTP.get(collector.http_url + "/nowhere").status_code == 404
        wrong_method = HTTP.get(collector.http_url + "/v1/traces")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


def test_a_stream_ends_when_the_client_goes_away() -> None:
    with running() as collector:
        closed = threading.Event()

        def forever(request):
            def chunks():
                try:
                    while not request.stop.is_set():
                        yield b": heartbeat\n\n"
                        request.stop.wait(0.02)
                finally:
                    closed.set()

            return Response(200, "text/event-stream", chunks())

        collector.routes.add("GET", "/forever", forever)
        with HTTP.stream("GET", collector.http_url + "/forever") as response:
            assert next(response.iter_bytes()).startswith(b": heartbeat")
        assert closed.wait(5)


def _raw_post(port: int, head: bytes, body: bytes = b"", *, half_close: bool = False) -> bytes:
    """Send `POST /v1/traces` with the given extra header lines and body bytes as they are; the
    collector's whole answer (it closes the connection after these refusals)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n" + head
                     + b"\r\n" + body)  # fmt: skip
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize(
    ("head", "body", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n", b"400"),  # no hex chunk size
        (b"Content-Length: twelve\r\n", b"", b"400"),
        (b"", b"", b"411"),  # a POST without Content-Length or chunked body
    ],
)  # fmt: skip
def test_bodies_framed_wrongly_are_refused_and_counted_as_malformed(head, body, status) -> None:
    with running() as collector:
        answer = _raw_post(collector.http_port, head, body)
        assert answer.startswith(b"HTTP/1.1 " + status)
        assert collector.ingest_stats().requests_rejected == {("http/protobuf", "malformed"): 1}


def test_a_body_cut_short_of_its_content_length_is_refused_not_half_ingested() -> None:
    with running() as collector:
        first = export_request(4).SerializeToString()
        whole = first + export_request(6, seed=2).SerializeToString()  # its first bytes alone parse as 4 spans
        answer = _raw_post(collector.http_port, b"Content-Length: %d\r\n" % len(whole), first, half_close=True)
        assert answer.startswith(b"HTTP/1.1 400")
        assert b"truncated" in answer
        assert collector.flush(5)
        stats = collector.ingest_stats()
        assert stats.spans_received == {} and stats.spans_accepted == 0  # the client's retry sends all 10 again
        assert stats.requests_rejected == {("http/protobuf", "malformed"): 1}


def test_a_stream_to_a_client_that_stops_reading_ends_after_the_idle_timeout() -> None:
    import socket

    with running(http_idle_timeout_s=0.5) as collector:
        closed = threading.Event()

        def flood(request):
            def chunks():
                try:
                    for _ in range(2_000):  # far more than the socket buffers hold
                        yield b"x" * 65_536
                finally:
                    closed.set()

            return Response(200, "text/event-stream", chunks())

        collector.routes.add("GET", "/flood", flood)
        with socket.socket() as stalled:  # connected, never reads: the server's writes block
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect(("127.0.0.1", collector.http_port))
            stalled.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
            assert closed.wait(10), "the handler thread is still blocked writing to a client that reads nothing"
