"""Shared by the collector-output tests: a drift monitor tuned to alarm within a few hundred calls,
and streams of call records with an injected latency regression."""

from __future__ import annotations

import random
from collections.abc import Iterable

from factories import make_record
from routewatch.drift import DriftMonitor, MonitorConfig
from routewatch.records import CallRecord

FAST = {"warm_up": 300}
FAST_CONFIG = MonitorConfig(detector_overrides={s: FAST for s in ("latency", "ttft", "error")})
T0 = 1_700_000_000


def fast_monitor(**config: object) -> DriftMonitor:
    return DriftMonitor(FAST_CONFIG.model_copy(update=config) if config else FAST_CONFIG, sinks=[])


def calls(
    n: int, *, median_s: float, provider: str = "openai", model: str = "gpt-4o-mini", seed: int = 1,
    start: int = 0, tags: tuple[tuple[str, str], ...] = (), error_every: int = 0,
) -> Iterable[CallRecord]:  # fmt: skip
    """`n` streamed calls with lognormal latency around `median_s` (time to first chunk a third of it)."""
    rng = random.Random(seed)
    for i in range(n):
        duration = median_s * rng.lognormvariate(0, 0.3)
        failed = error_every > 0 and i % error_every == 0
        yield make_record(
            provider=provider, request_model=model, duration_s=duration, stream=True,
            time_to_first_chunk_s=duration / 3, start_time_unix_nano=int((T0 + start + i) * 1e9), tags=tags,
            error_type="server_error" if failed else None, status_code=500 if failed else 200,
        )  # fmt: skip


def regression(baseline: int = 600, after: int = 300, **kw: object) -> list[CallRecord]:
    """Latency x3 after `baseline` calls: enough for the fast monitor to alarm."""
    before = list(calls(baseline, median_s=0.5, **kw))  # type: ignore[arg-type]
    later = list(calls(after, median_s=1.5, start=baseline, seed=2, **kw))  # type: ignore[arg-type]
    return before + later


class OutputsServer:
    """A loopback HTTP server for `Outputs.handle` (the routes the collector serves), for the tests
    that need a socket; `restart()` comes back on the same port."""

    def __init__(self, outputs: object, token: str | None = None, port: int = 0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from routewatch.collector.outputs import Outputs, Request

        assert isinstance(outputs, Outputs)
        self.outputs = outputs
        self.token = token
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if server_self.token and self.headers.get("authorization") != f"Bearer {server_self.token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                response = outputs.handle(Request.of("GET", self.path, dict(self.headers.items())))
                if response is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(response.status)
                self.send_header("content-type", response.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if isinstance(response.body, bytes):
                    self.send_header("content-length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                    return
                self.end_headers()
                try:
                    for chunk in response.body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    pass
                finally:
                    close = getattr(response.body, "close", None)
                    if close is not None:
                        close()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        ThreadingHTTPServer.daemon_threads = True
        self._server_cls, self._handler = ThreadingHTTPServer, Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.outputs.hub.close()  # ends the open event streams

    def restart(self) -> None:
        import threading

        self.server = self._server_cls(("127.0.0.1", self.port), self._handler)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()


# --- a real collector ---------------------------------------------------------------------------------
TOKEN = "t0ken-for-tests"


def collector_config(**settings: object):
    """Free loopback ports, a bearer token, and the collector's default signals with fast warm-up."""
    from routewatch.collector.config import CollectorConfig, default_monitor_config

    monitor = default_monitor_config().model_copy(update={"detector_overrides": FAST_CONFIG.detector_overrides})
    base: dict[str, object] = {"grpc_port": None, "http_port": 0, "auth_token": TOKEN, "monitor": monitor}
    return CollectorConfig.model_validate({**base, **settings})


def genai_span_request(n: int, *, median_s: float, model: str = "gpt-4o-mini", provider: str = "openai",
                       seed: int = 1, start: int = 0, failing: bool = False) -> bytes:  # fmt: skip
    """An OTLP/HTTP protobuf body with `n` GenAI client spans, as an instrumented app exports them."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("app")
    for i in range(n):
        attrs: dict[str, object] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20,
        }  # fmt: skip
        if failing:
            attrs["error.type"] = "500"
        t = (T0 + start + i) * 10**9
        span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attrs, start_time=t)  # type: ignore[arg-type]
        if failing:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=t + int(median_s * rng.lognormvariate(0, 0.3) * 1e9))
    return bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())


def post_spans(collector: object, body: bytes) -> None:
    import httpx

    url = collector.http_url  # type: ignore[attr-defined]
    headers = {"content-type": "application/x-protobuf", "authorization": f"Bearer {TOKEN}"}
    response = httpx.post(url + "/v1/traces", content=body, timeout=10, headers=headers)
    assert response.status_code == 200, response.text
    assert collector.flush(10)  # type: ignore[attr-defined]


def inject_regression(collector: object, model: str = "gpt-4o-mini") -> None:
    """600 calls at 0.5 s then 300 at 1.5 s, over OTLP/HTTP: the latency alarm opens."""
    for k in range(2):
        post_spans(collector, genai_span_request(300, median_s=0.5, model=model, seed=10 + k, start=300 * k))
    post_spans(collector, genai_span_request(300, median_s=1.5, model=model, seed=20, start=600))


def recover(collector: object, model: str = "gpt-4o-mini", n: int = 1000) -> None:
    for k in range(0, n, 500):
        post_spans(collector, genai_span_request(500, median_s=0.5, model=model, seed=30 + k, start=900 + k))


class CuttableProxy:
    """A loopback TCP forwarder to `target_port` whose connections can be cut (`cut()`: open
    connections reset, new ones refused) and restored (`resume()`): a network outage on demand."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source, sink) -> None:  # type: ignore[no-untyped-def]
        import contextlib
        import socket

        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        import contextlib
        import socket

        self._cut = True
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def resume(self) -> None:
        self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()
