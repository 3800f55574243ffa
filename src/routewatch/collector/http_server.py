"""The collector's HTTP server: a route table other modules register into, served by a threaded
stdlib server (HTTP/1.1 keep-alive, optional TLS, optional bearer token).

Handlers are framework-neutral: `handler(request) -> response`. A request has `method`, `path`,
`query` (parsed), `headers` (lower-case names), `body` (bytes, already size-limited), `client` and
`stop` (a `threading.Event` set when the server shuts down, for long-lived streams). A response is
any object with `status`, `content_type`, `body` and `headers` (`Response` here, or the output
side's own); a body that is an iterator of bytes is streamed with chunked encoding, flushed per
chunk, and closed (`GeneratorExit`) as soon as the client goes away or the server stops.

Routes are private by default: with a token configured they need `Authorization: Bearer ...`;
register a route with `public=True` to serve it without (e.g. `/healthz`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from .auth import BearerAuth

__all__ = ["HTTPServer", "Request", "Response", "Route", "RouteTable", "json_response", "text_response"]

log = logging.getLogger("routewatch.collector")

Handler = Callable[[Any], Any]
RejectHook = Callable[["Request", str], None]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    client: str = ""
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes | Iterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, "text/plain; charset=utf-8", (text.rstrip("\n") + "\n").encode(), headers or {})


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    import json

    return Response(status, "application/json", json.dumps(data, separators=(",", ":")).encode(), headers or {})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    public: bool = False
    max_body_bytes: int | None = None  # None: the server's limit


class RouteTable:
    """(method, exact path) -> route. Thread-safe to add to while serving (copy on write)."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._lock = threading.Lock()

    def add(
        self, method: str, path: str, handler: Handler, *, public: bool = False, max_body_bytes: int | None = None
    ) -> None:
        """Serve `method path` with `handler`; a second registration of the same pair replaces the first."""
        if not path.startswith("/"):
            raise ValueError(f"route paths start with '/', got {path!r}")
        route = Route(method.upper(), path, handler, public, max_body_bytes)
        with self._lock:
            routes = dict(self._routes)
            routes[(route.method, path)] = route
            self._routes = routes

    def add_all(self, routes: Mapping[tuple[str, str], Handler], *, public: bool = False) -> None:
        for (method, path), handler in routes.items():
            self.add(method, path, handler, public=public)

    def find(self, method: str, path: str) -> Route | None:
        routes = self._routes
        route = routes.get((method, path))
        if route is None and method == "HEAD":
            route = routes.get(("GET", path))
        return route

    def methods(self, path: str) -> list[str]:
        return sorted(m for (m, p) in self._routes if p == path)

    def __iter__(self) -> Iterator[Route]:
        return iter(list(self._routes.values()))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    owner: HTTPServer

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        context = self.owner.ssl_context
        if context is not None:
            # The handshake runs in the connection's own thread (see _Handler.setup), so one slow
            # client cannot hold up the accept loop.
            sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._track(request, False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("routewatch collector: HTTP connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "routewatch-collector"
    sys_version = ""

    def setup(self) -> None:
        owner = self.server.owner
        self.request.settimeout(owner.idle_timeout_s)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("routewatch collector HTTP %s: " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def _dispatch(self) -> None:
        owner = self.server.owner
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, path, parse_qs(query), headers, b"", self.client_address[0], owner.stop_event)
        route = owner.routes.find(self.command, path)
        if route is None:
            allowed = owner.routes.methods(path)
            if allowed:
                self._drain_body(headers)
                self._send(text_response(405, f"{self.command} not allowed", {"allow": ", ".join(allowed)}))
            else:
                self._drain_body(headers)
                self._send(text_response(404, f"no route for {path}"))
            return
        if not route.public and not owner.auth.allows(headers.get("authorization")):
            self.close_connection = True  # do not read a body an unauthenticated client sent
            owner._rejected(request, "unauthorized")
            self._send(
                text_response(401, "missing or wrong bearer token", {"www-authenticate": 'Bearer realm="routewatch"'})
            )
            return
        limit = route.max_body_bytes or owner.max_body_bytes
        body, refusal = self._read_body(headers, limit)
        if body is None:
            owner._rejected(request, refusal)
            return
        request = Request(request.method, path, request.query, headers, body, request.client, owner.stop_event)
        try:
            response = route.handler(request)
        except Exception:
            log.exception("routewatch collector: handler for %s %s failed", self.command, path)
            response = text_response(500, "internal error")
        self._send(response)

    def _drain_body(self, headers: Mapping[str, str]) -> None:
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) <= 64 * 1024:
            self.rfile.read(int(length))
        elif length or headers.get("transfer-encoding"):
            self.close_connection = True

    def _read_body(self, headers: Mapping[str, str], limit: int) -> tuple[bytes | None, str]:
        """(the request body, ""), or (None, the rejection reason) after answering 400/411/413 (the
        connection then closes): "too_large" only for 413, a body framed wrongly is "malformed"."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked(limit)
        length_text = headers.get("content-length")
        if length_text is None:
            if self.command in ("POST", "PUT", "PATCH"):
                return self._refuse(411, "Content-Length required", "malformed")
            return b"", ""
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(400, "bad Content-Length", "malformed")
        if length > limit:
            return self._refuse(413, f"body of {length} bytes is over the {limit}-byte limit", "too_large")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client stopped sending: a prefix may parse, but it is not the request
            return self._refuse(400, f"body truncated: {len(body)} of {length} bytes", "malformed")
        return body, ""

    def _read_chunked(self, limit: int) -> tuple[bytes | None, str]:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                n = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return self._refuse(400, "bad chunked encoding", "malformed")
            if n == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts), ""
            size += n
            if size > limit:
                return self._refuse(413, f"body is over the {limit}-byte limit", "too_large")
            parts.append(self.rfile.read(n))
            self.rfile.readline(1024)

    def _refuse(self, status: int, message: str, reason: str) -> tuple[None, str]:
        """Answer `status` and close the connection (what is left of the body is not read)."""
        self.close_connection = True
        self._send(text_response(status, message))
        return None, reason

    def _send(self, response: Any) -> None:
        body = response.body
        streaming = not isinstance(body, (bytes, bytearray))
        try:
            self.send_response(int(response.status))
            self.send_header("Content-Type", response.content_type)
            for name, value in (response.headers or {}).items():
                self.send_header(name, value)
            if streaming:
                self.send_header("Transfer-Encoding", "chunked")
                self.close_connection = True  # a stream ends its connection: say so, or a client reuses it
            else:
                self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                if streaming:
                    _close(body)
                    self.wfile.write(b"0\r\n\r\n")
                return
            if not streaming:
                self.wfile.write(body)
                return
            self._stream(body)
        except OSError:
            self.close_connection = True
            if streaming:
                _close(body)

    def _stream(self, chunks: Iterator[bytes]) -> None:
        """Write each chunk as it is produced; a gone client or a stopping server ends the iterator.

        The socket keeps the idle timeout: waiting for the next chunk is no socket call, so it only
        bounds a write, and a client that accepts no byte for that long (stalled, or a dead peer
        behind a full window) is gone too. Without it such a write blocks its thread for good."""
        self.request.settimeout(self.server.owner.idle_timeout_s)
        stop = self.server.owner.stop_event
        try:
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                if stop.is_set():
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            _close(chunks)
            self.close_connection = True


def _close(chunks: Any) -> None:
    closer = getattr(chunks, "close", None)
    if callable(closer):
        with contextlib.suppress(Exception):
            closer()


class HTTPServer:
    """Serves a `RouteTable` on `host:port` (port 0 picks a free one; see `.port` after `start`)."""

    def __init__(
        self, routes: RouteTable, host: str, port: int, *, auth: BearerAuth | None = None,
        ssl_context: ssl.SSLContext | None = None, max_body_bytes: int = 20 * 1024 * 1024,
        idle_timeout_s: float = 30.0, on_reject: RejectHook | None = None,
    ) -> None:  # fmt: skip
        self.routes = routes
        self.host = host
        self.requested_port = port
        self.auth = auth or BearerAuth(None)
        self.ssl_context = ssl_context
        self.max_body_bytes = max_body_bytes
        self.idle_timeout_s = idle_timeout_s
        self.on_reject = on_reject
        self.stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Any] = set()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_BoundServer", (_Server,), {"address_family": family})
        server = server_class((self.host, self.requested_port), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="routewatch-collector-http", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, end streams and idle keep-alive connections, close the socket."""
        server = self._server
        if server is None:
            return
        self.stop_event.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._server = None

    def _track(self, conn: Any, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _rejected(self, request: Request, reason: str) -> None:
        if self.on_reject is not None:
            with contextlib.suppress(Exception):
                self.on_reject(request, reason)
