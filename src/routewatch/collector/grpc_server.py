"""OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

The method is registered with a raw-bytes deserializer so a malformed request gets a clear
INVALID_ARGUMENT (and a counter) instead of a generic decode failure, and so an overloaded
collector can refuse before decoding. Overload answers RESOURCE_EXHAUSTED carrying RetryInfo, in
both places clients look for it (`grpc-status-details-bin` and `google.rpc.retryinfo-bin`); the
OpenTelemetry exporters treat that as retryable and wait the given delay. Gzip request compression
is handled by gRPC itself.

The size limit is enforced here, not only by gRPC: gRPC refuses a message over its own limit before
any handler runs, so nothing would count it. gRPC is let take up to `GRPC_LIMIT_FACTOR` times the
configured limit (of the decompressed message, as gRPC measures it); over the configured limit the
handler refuses with INVALID_ARGUMENT, counted as `requests_rejected{reason="too_large"}`, as the HTTP
path answers 413 with INVALID_ARGUMENT. Not RESOURCE_EXHAUSTED: the same request will never fit, and
the OpenTelemetry Python exporter retries RESOURCE_EXHAUSTED even without RetryInfo, which would
resend it (and count it) again and again; INVALID_ARGUMENT is non-retryable for every OTLP exporter.
Past the factor gRPC still refuses on its own (RESOURCE_EXHAUSTED), uncounted: the price of bounding
what one call may buffer.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .auth import BearerAuth
from .ingest import PROTOCOL_GRPC, Ingest

__all__ = ["GRPC_LIMIT_FACTOR", "GRPCServer", "TraceService"]

log = logging.getLogger("routewatch.collector")

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
GRPC_LIMIT_FACTOR = 2  # gRPC's own receive limit, as a multiple of the configured one


class _Status(namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):  # type: ignore[misc]
    """A `grpc.Status` for `abort_with_status` (rich error details in trailing metadata)."""


def _rich_status(code: grpc.StatusCode, rpc_code: int, message: str, *details: Any) -> _Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = status_pb2.Status(code=rpc_code, message=message, details=packed)
    metadata: list[tuple[str, bytes]] = [("grpc-status-details-bin", status.SerializeToString())]
    for detail in details:
        if isinstance(detail, error_details_pb2.RetryInfo):
            metadata.append(("google.rpc.retryinfo-bin", detail.SerializeToString()))
    return _Status(code, message, tuple(metadata))


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    """Export: check the token and the size, refuse when overloaded, decode, hand to `Ingest`, answer."""

    def __init__(
        self, ingest: Ingest, auth: BearerAuth, retry_after_s: float = 1.0, *,
        max_message_bytes: int = 4 * 1024 * 1024,
    ) -> None:  # fmt: skip
        self.ingest = ingest
        self.auth = auth
        self.max_message_bytes = max_message_bytes
        seconds = int(retry_after_s)
        self._retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=seconds, nanos=int((retry_after_s - seconds) * 1e9))
        )

    def Export(self, request: bytes | ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
        ingest = self.ingest
        if self.auth.enabled:
            header = None
            for key, value in context.invocation_metadata() or ():
                if key == "authorization":
                    header = value if isinstance(value, str) else None
                    break
            if not self.auth.allows(header):
                ingest.reject(PROTOCOL_GRPC, "unauthorized")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        size = len(request) if isinstance(request, bytes) else request.ByteSize()
        if size > self.max_message_bytes:
            ingest.reject(PROTOCOL_GRPC, "too_large")
            context.abort_with_status(
                _rich_status(
                    grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT,
                    f"request of {size} bytes is over the collector's {self.max_message_bytes}-byte limit",
                    error_details_pb2.BadRequest(),
                )
            )  # fmt: skip
        if ingest.full():
            ingest.reject(PROTOCOL_GRPC, "overloaded")
            self._overloaded(context)
        try:
            outcome = ingest.accept(request, PROTOCOL_GRPC)  # bytes: decoded by the fast reader
        except DecodeError as exc:
            ingest.reject(PROTOCOL_GRPC, "malformed")
            context.abort_with_status(
                _rich_status(
                    grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT,
                    f"not an OTLP ExportTraceServiceRequest: {exc}", error_details_pb2.BadRequest(),
                )
            )  # fmt: skip
        if outcome.overloaded:
            self._overloaded(context)
        response = ExportTraceServiceResponse()
        if outcome.rejected_spans:
            response.partial_success.rejected_spans = outcome.rejected_spans
            response.partial_success.error_message = outcome.message
        return response

    def _overloaded(self, context: Any) -> None:
        context.abort_with_status(
            _rich_status(
                grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED,
                "collector queue is full; retry after the delay in RetryInfo", self._retry,
            )
        )  # fmt: skip


class GRPCServer:
    """A grpcio server with the trace service on `host:port` (port 0 picks a free one). The request
    size limit is the service's `max_message_bytes`; gRPC's own is `GRPC_LIMIT_FACTOR` times it."""

    def __init__(
        self, service: TraceService, host: str, port: int, *, workers: int = 8,
        tls: tuple[bytes, bytes] | None = None, client_ca: bytes | None = None,
    ) -> None:  # fmt: skip
        self.service = service
        self.host = host
        self.requested_port = port
        self.workers = workers
        self.tls = tls
        self.client_ca = client_ca
        self._server: Any = None
        self.port = 0

    @property
    def target(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{host}:{self.port}"

    def start(self) -> None:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="routewatch-collector-grpc"),
            options=[
                ("grpc.max_receive_message_length", GRPC_LIMIT_FACTOR * self.service.max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self.service.Export,
                    request_deserializer=None,  # raw bytes: decode errors are ours to report
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        host = self.host if ":" not in self.host else f"[{self.host}]"
        address = f"{host}:{self.requested_port}"
        if self.tls is not None:
            key, cert = self.tls
            credentials = grpc.ssl_server_credentials(
                [(key, cert)], root_certificates=self.client_ca, require_client_auth=self.client_ca is not None
            )
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
        if not port:
            raise OSError(f"could not bind OTLP/gRPC to {address}")
        self.port = port
        server.start()
        self._server = server

    def stop(self, grace_s: float = 5.0) -> None:
        """Refuse new calls, let running ones finish for up to `grace_s`."""
        if self._server is not None:
            self._server.stop(grace_s).wait(grace_s + 1)
            self._server = None
