"""A minimal HTTP/1.1 server on asyncio streams: just what the provider simulator needs.

Keep-alive, `Content-Length` and chunked request bodies, and responses either with a
`Content-Length` body or a chunked stream. Each streamed chunk is written and drained on its own so
clients see real per-chunk timing. A stream ends the body cleanly when its generator returns, or cuts
the connection mid-body when it raises `StreamAbort` (a provider dropping a stream).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Handler", "HttpRequest", "HttpResponse", "HttpServer", "StreamAbort"]

logger = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Site Overloaded",
}


class StreamAbort(Exception):
    """Raised by a response stream to drop the connection without finishing the chunked body."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One parsed request; header names are lower-cased (repeated headers joined with ", ")."""

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class HttpResponse:
    """A response: a whole `body`, or a chunked `stream` of byte chunks.

    `cut_body` sends the `Content-Length` of the whole body but only its first half, then closes:
    a non-streamed response truncated in flight.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None
    cut_body: bool = False


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """Serves `handler` on an already bound, listening socket, inside the running event loop."""

    def __init__(self, handler: Handler, sock: socket.socket) -> None:
        self.handler = handler
        self.sock = sock
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, sock=self.sock, limit=_MAX_HEAD)

    async def close(self) -> None:
        """Stop accepting, cancel every open connection and wait for them to finish."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    request = await _read_request(reader, writer)
                except _BadRequest as exc:
                    body = b'{"error":{"message":"%s","type":"invalid_request_error"}}' % str(exc).encode()
                    await _write_response(writer, HttpResponse(exc.status, [_JSON], body), keep_alive=False)
                    break
                if request is None:
                    break
                keep_alive = request.headers.get("connection", "").lower() != "close"
                try:
                    response = await self.handler(request)
                except Exception:
                    logger.exception("simulator handler failed for %s %s", request.method, request.target)
                    body = b'{"error":{"message":"simulator handler failed","type":"server_error"}}'
                    response = HttpResponse(500, [_JSON], body)
                if not await _write_response(writer, response, keep_alive):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, StreamAbort):
            pass
        except asyncio.CancelledError:
            pass  # close() is shutting the server down; ending normally keeps asyncio 3.11 quiet
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)


_JSON = ("content-type", "application/json")


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> HttpRequest | None:
    """Read one request; None on a clean end of the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest(400, "incomplete request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest(431, "request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400, "malformed header line")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise _BadRequest(400, "bad content-length") from exc
        if length < 0 or length > _MAX_BODY:
            raise _BadRequest(413, "request body too large")
        body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return HttpRequest(method, target, path, query, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _BadRequest(400, "bad chunk size") from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        total += size
        if total > _MAX_BODY:
            raise _BadRequest(413, "request body too large")
        chunks.append((await reader.readexactly(size + 2))[:-2])


async def _write_response(writer: asyncio.StreamWriter, response: HttpResponse, keep_alive: bool) -> bool:
    """Write `response`; returns whether the connection can serve another request."""
    head = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}", f"date: {_http_date()}"]
    head.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        head.append("connection: close")
    stream = response.stream
    if stream is None:
        head.append(f"content-length: {len(response.body)}")
        data = "\r\n".join(head).encode("latin-1") + b"\r\n\r\n"
        if response.cut_body:
            writer.write(data + response.body[: len(response.body) // 2])
            await writer.drain()
            return False
        writer.write(data + response.body)
        await writer.drain()
        return keep_alive
    head.append("transfer-encoding: chunked")
    writer.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n")
    try:
        async for chunk in stream:
            if chunk:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
    except StreamAbort:
        await writer.drain()
        return False
    finally:
        await stream.aclose()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return keep_alive


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]
