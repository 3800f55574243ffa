"""OTLP over gRPC into the collector, with the official exporter: an instrumented app's calls arrive
as the same records it built in process; malformed requests, overload, auth and TLS answer the way
the OTLP specification says, and never affect other clients."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import openai
import pytest
from google.rpc import error_details_pb2, status_pb2
from ingest_support import Gate, export_request, genai_spans, running, self_signed, substance
from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from routewatch.simulator import ProviderSettings, Scenario

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _raw_export(target: str, credentials: grpc.ChannelCredentials | None = None):
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    call = channel.unary_unary(
        EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
    )
    return channel, call


def _assert_handshake_refused(target: str, credentials: grpc.ChannelCredentials | None, spans: int) -> None:
    """An export over these credentials never reaches the collector (the TLS handshake fails)."""
    channel, export = _raw_export(target, credentials)
    with pytest.raises(grpc.RpcError) as caught:
        export(export_request(spans).SerializeToString(), timeout=3)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    channel.close()


def test_an_instrumented_app_exports_to_the_collector_and_records_match(simulator, mapped) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=8, per_token_s=0.001)))
    with running() as collector:
        received = []
        collector.add_record_listener(received.append)
        exporter = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, compression=Compression.Gzip)
        mapped.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        with openai.OpenAI(base_url=simulator.url + "/v1", api_key="sk-test", max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            for _ in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True},
            ):  # fmt: skip
                pass
            client.embeddings.create(model="text-embedding-3-small", input="hello")
        in_process = mapped.wait_records(3)
        assert collector.flush(5)
        exporter.shutdown()
        by_id = {r.span_id: r for r in received}
        assert len(in_process) == 3, (in_process, mapped.spans())
        assert len(by_id) == 3, (collector.ingest_stats(), [s.name for s in mapped.spans()])
        for record in in_process:
            assert substance(by_id[record.span_id]) == substance(record)
        stats = collector.ingest_stats()
        assert stats.spans_received == {"grpc": 3} and stats.spans_accepted == 3
        streams = collector.monitor.state()
        assert sum(s["calls"] for s in streams.values()) == 3


def test_malformed_request_is_invalid_argument_and_other_clients_carry_on() -> None:
    with running() as collector:
        channel, export = _raw_export(collector.grpc_target)
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\xff\xfe\xfd definitely not protobuf")
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "not an OTLP ExportTraceServiceRequest" in caught.value.details()
        good = export(export_request(4).SerializeToString())
        assert not good.HasField("partial_success")
        channel.close()
        assert collector.flush(5)
        stats = collector.ingest_stats()
        assert stats.requests_rejected == {("grpc", "malformed"): 1}
        assert stats.spans_accepted == 4


def test_a_request_over_the_size_limit_is_refused_and_counted_as_too_large() -> None:
    """gRPC itself would refuse an oversized message before any handler ran, uncounted: the collector
    lets gRPC take up to twice the limit and refuses over the limit itself, counted as the HTTP path
    counts it, with INVALID_ARGUMENT: the same request will never fit, so no exporter retries it. The
    limit is on the decompressed request, whatever its encoding on the wire."""
    limit = 64 * 1024
    big = export_request(400).SerializeToString()
    assert limit < len(big) < 2 * limit
    with running(grpc_max_message_bytes=limit) as collector:
        channel, export = _raw_export(collector.grpc_target)
        for compression in (None, grpc.Compression.Gzip):
            with pytest.raises(grpc.RpcError) as caught:
                export(big, compression=compression, timeout=5)
            error = caught.value
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert error.details() == f"request of {len(big)} bytes is over the collector's {limit}-byte limit"
        assert not export(export_request(4).SerializeToString(), timeout=5).HasField("partial_success")
        channel.close()
        # The official exporter gives up at once (it would retry RESOURCE_EXHAUSTED): counted once.
        exporter = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, timeout=5)
        assert exporter.export(genai_spans(400)) is SpanExportResult.FAILURE
        exporter.shutdown()
        assert collector.flush(5)
        stats = collector.ingest_stats()
        assert stats.requests_rejected == {("grpc", "too_large"): 3}
        assert stats.spans_received == {"grpc": 4} and stats.spans_accepted == 4


def test_full_queue_answers_resource_exhausted_with_retry_info_and_the_exporter_retries() -> None:
    with running(queue_capacity=10, retry_after_s=0.2) as collector:
        gate = Gate()
        collector.add_record_listener(gate)
        channel, export = _raw_export(collector.grpc_target)
        export(export_request(10).SerializeToString())
        assert gate.entered.wait(5)
        with pytest.raises(grpc.RpcError) as caught:
            export(export_request(3).SerializeToString())
        error = caught.value
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(error.trailing_metadata())
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert retry.retry_delay.ToTimedelta().total_seconds() == pytest.approx(0.2)
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)
        channel.close()

        # The official exporter treats it as retryable: it waits the delay and gets through once
        # the queue drains, so nothing is lost.
        exporter = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, timeout=10)
        result: list[SpanExportResult] = []
        worker = threading.Thread(target=lambda: result.append(exporter.export(genai_spans(5))))
        worker.start()
        deadline = time.monotonic() + 10  # the exporter is refused at least once before the queue drains
        while collector.ingest_stats().requests_rejected.get(("grpc", "overloaded"), 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        gate.open()
        worker.join(15)
        exporter.shutdown()
        assert result == [SpanExportResult.SUCCESS]
        assert collector.flush(5)
        stats = collector.ingest_stats()
        assert stats.spans_accepted == 15 and stats.records_processed == 15
        assert stats.requests_rejected[("grpc", "overloaded")] >= 2  # the raw call and the exporter's first try
        assert stats.spans_dropped == {}


def test_bearer_token_is_required_when_configured_and_never_logged(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with running(auth_token="s3cret-token-value") as collector:
        without = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, timeout=5)
        assert without.export(genai_spans(2)) is SpanExportResult.FAILURE
        wrong = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, timeout=5,
                                 headers={"authorization": "Bearer nope"})  # fmt: skip
        assert wrong.export(genai_spans(2)) is SpanExportResult.FAILURE
        right = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, timeout=5,
                                 headers={"authorization": "Bearer s3cret-token-value"})  # fmt: skip
        assert right.export(genai_spans(2)) is SpanExportResult.SUCCESS
        for exporter in (without, wrong, right):
            exporter.shutdown()
        stats = collector.ingest_stats()
        assert stats.requests_rejected == {("grpc", "unauthorized"): 2}
        assert stats.spans_accepted == 2
    assert "s3cret-token-value" not in caplog.text


def test_tls(tmp_path) -> None:
    cert, key = self_signed(tmp_path)
    with running(tls_cert_file=cert, tls_key_file=key) as collector:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        secure = OTLPSpanExporter(endpoint=collector.grpc_target, credentials=credentials, timeout=5)
        assert secure.export(genai_spans(3)) is SpanExportResult.SUCCESS
        secure.shutdown()
        _assert_handshake_refused(collector.grpc_target, None, 1)  # plaintext to a TLS port
        assert collector.flush(5)
        assert collector.ingest_stats().spans_accepted == 3


def test_mutual_tls_requires_a_client_certificate(tmp_path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "client").mkdir()
    client_cert, client_key = self_signed(tmp_path / "client")
    with running(tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=client_cert) as collector:
        with_client_cert = grpc.ssl_channel_credentials(
            root_certificates=cert.read_bytes(), private_key=client_key.read_bytes(),
            certificate_chain=client_cert.read_bytes(),
        )  # fmt: skip
        exporter = OTLPSpanExporter(endpoint=collector.grpc_target, credentials=with_client_cert, timeout=5)
        assert exporter.export(genai_spans(3)) is SpanExportResult.SUCCESS
        exporter.shutdown()
        # Server verified, but no client certificate: the handshake fails, nothing is accepted.
        _assert_handshake_refused(collector.grpc_target, grpc.ssl_channel_credentials(cert.read_bytes()), 2)
        # A client certificate the collector does not trust is refused too.
        (tmp_path / "stranger").mkdir()
        other_cert, other_key = self_signed(tmp_path / "stranger")
        stranger = grpc.ssl_channel_credentials(
            root_certificates=cert.read_bytes(), private_key=other_key.read_bytes(),
            certificate_chain=other_cert.read_bytes(),
        )  # fmt: skip
        _assert_handshake_refused(collector.grpc_target, stranger, 2)
        assert collector.flush(5)
        assert collector.ingest_stats().spans_accepted == 3


def test_drop_policy_answers_partial_success_with_the_rejected_count() -> None:
    with running(queue_capacity=5, overload="drop") as collector:
        gate = Gate()
        collector.add_record_listener(gate)
        channel, export = _raw_export(collector.grpc_target)
        response = export(export_request(8).SerializeToString())
        channel.close()
        assert response.partial_success.rejected_spans == 3
        assert "queue is full" in response.partial_success.error_message
        gate.open()
        assert collector.flush(5)
        assert collector.ingest_stats().spans_dropped == {"queue_full": 3}
