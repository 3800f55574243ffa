"""Shared by the collector-ingest tests: collectors on free loopback ports, GenAI export requests,
a worker that can be held (to fill the queue), and a self-signed certificate."""

from __future__ import annotations

import datetime
import ipaddress
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from routewatch.collector import Collector, CollectorConfig
from routewatch.records import CallRecord

# What a span carries of a CallRecord (see tests/otlp/test_convert.py for the full comparison).
SUBSTANCE = (
    "provider", "operation", "api", "request_model", "response_model", "server_address", "server_port",
    "status_code", "error_type", "stream", "stream_completed", "time_to_first_chunk_s", "usage", "cost_usd",
    "priced", "output_tokens_per_s", "finish_reasons", "response_id", "rate_limits", "tags", "trace_id",
    "span_id", "span_scope",
)  # fmt: skip


def substance(record: CallRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in SUBSTANCE}


@contextmanager
def running(**config: Any) -> Iterator[Collector]:
    """A started collector on free loopback ports (outputs not installed: ingest only)."""
    settings: dict[str, Any] = {"grpc_port": 0, "http_port": 0, **config}
    collector = Collector(CollectorConfig(**settings), outputs=False)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop(timeout_s=5)


def genai_spans(
    n: int, *, model: str = "gpt-4o-mini", extra: int = 0, duration_ns: int = 500_000_000, seed: int = 1
) -> list[Any]:
    """`n` finished GenAI client spans (plus `extra` plain HTTP spans), as an app's SDK would export them;
    durations are lognormal around `duration_ns` (sigma 0.2)."""
    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    start = 1_700_000_000 * 10**9
    for i in range(n):
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
                 "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20 + i % 5}  # fmt: skip
        span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attrs, start_time=start + i)
        span.end(end_time=start + i + int(duration_ns * rng.lognormvariate(0, 0.2)))
    for i in range(extra):
        span = tracer.start_span("GET /", attributes={"http.request.method": "GET", "url.path": f"/{i}"})
        span.end()
    return list(exporter.get_finished_spans())


def export_request(n: int, **kw: Any) -> Any:
    return encode_spans(genai_spans(n, **kw))


class Gate:
    """A record listener that holds the ingest worker until `open()`: the queue then fills up."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.entered = threading.Event()

    def __call__(self, record: CallRecord) -> None:
        self.entered.set()
        self.event.wait(10)

    def open(self) -> None:
        self.event.set()


def self_signed(tmp: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (also valid for localhost): (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "routewatch-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
