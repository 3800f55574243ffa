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
