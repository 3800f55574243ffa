"""Incremental framing of streamed bodies into events: server-sent events and NDJSON.

Chunks arrive as the network delivers them, so an event may span chunks and a chunk may hold many
events. The framers keep the unfinished tail and return complete events only. Buffered bytes are
bounded: an event longer than `max_event_bytes` is dropped (and counted), never grown without limit.
"""

from __future__ import annotations

__all__ = ["Event", "NDJSONFramer", "SSEFramer"]

Event = tuple[str | None, bytes]

_MAX_EVENT_BYTES = 4 * 1024 * 1024


class SSEFramer:
    """Splits a text/event-stream body into `(event_name, data)` pairs (WHATWG SSE rules).

    Multiple `data:` lines are joined with newlines; comments (`:` lines) and `id:`/`retry:` are
    ignored; CR, LF and CRLF all end lines.
    """

    __slots__ = ("_buf", "_pending_cr", "dropped", "idle", "max_event_bytes")

    def __init__(self, max_event_bytes: int = _MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self._pending_cr = False
        self.max_event_bytes = max_event_bytes
        self.dropped = 0
        #: Nothing is buffered: the next chunk starts a fresh event (read per chunk, so a plain slot).
        self.idle = True

    def feed(self, chunk: bytes) -> list[Event]:
        # Fast path: exactly one complete one-line `data:` event, the usual network chunk.
        if (
            self.idle
            and chunk.startswith(b"data: ")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n\n")
            and b"\r" not in chunk
        ):
            return [(None, chunk[6:-2])]
        if self._pending_cr:
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
            self._pending_cr = False
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                self._pending_cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._keep(buf)
            return []
        self._buf = buf[end + 2 :]
        self.idle = not self._buf and not self._pending_cr
        events: list[Event] = []
        for block in buf[:end].split(b"\n\n"):
            if block:
                event = _parse_block(block)
                if event is not None:
                    events.append(event)
        return events

    def flush(self) -> list[Event]:
        """Frame what remains at end of body (a final event with no blank line after it)."""
        rest, self._buf = self._buf, b""
        self._pending_cr, self.idle = False, True
        event = _parse_block(rest.strip(b"\n")) if rest.strip() else None
        return [event] if event is not None else []

    def _keep(self, buf: bytes) -> None:
        if len(buf) > self.max_event_bytes:
            self.dropped += 1
            self._buf = b""
        else:
            self._buf = buf
        self.idle = not self._buf and not self._pending_cr


def _parse_block(block: bytes) -> Event | None:
    # Fast path: the common one-line `data: {...}` event.
    if block.startswith(b"data: ") and b"\n" not in block:
        return None, block[6:]
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data and name is None:
        return None
    return name, b"\n".join(data)


class NDJSONFramer:
    """Splits a newline-delimited JSON body into `(None, line)` pairs, skipping blank lines."""

    __slots__ = ("_buf", "dropped", "idle", "max_event_bytes")

    def __init__(self, max_event_bytes: int = _MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self.max_event_bytes = max_event_bytes
        self.dropped = 0
        #: Nothing is buffered: the next chunk starts a fresh line.
        self.idle = True

    def feed(self, chunk: bytes) -> list[Event]:
        buf = self._buf + chunk if self._buf else chunk
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > self.max_event_bytes:
                self.dropped += 1
                buf = b""
            self._buf = buf
            self.idle = not buf
            return []
        self._buf = buf[end + 1 :]
        self.idle = not self._buf
        return [(None, line) for line in buf[:end].split(b"\n") if line.strip()]

    def flush(self) -> list[Event]:
        rest, self._buf = self._buf, b""
        self.idle = True
        return [(None, rest)] if rest.strip() else []
