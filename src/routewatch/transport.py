"""Transport and byte-stream wrappers for httpx and httpx2, built from one definition.

The two libraries share an API but not their base classes, and the clients check the stream's
class, so the wrappers are made per library by `transport_classes(lib)`. Each wrapper only moves
bytes and reports to a `Call`; all logic lives in `call.py`. Every chunk reaches the app before
routewatch looks at it, and the app's own exceptions are re-raised unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from .call import SPILL_BYTES, Call
from .instrumentation import Instrumentation

__all__ = ["TransportClasses", "is_wrapped", "transport_classes"]

log = logging.getLogger("routewatch")

InstrumentationGetter = Callable[[], "Instrumentation | None"]
_perf_counter = time.perf_counter


@dataclass(frozen=True)
class TransportClasses:
    """The wrappers made for one HTTP library."""

    lib: ModuleType
    transport: type[Any]
    async_transport: type[Any]
    stream: type[Any]
    async_stream: type[Any]


_registry: dict[str, TransportClasses] = {}


def is_wrapped(transport: object) -> bool:
    return isinstance(transport, _Wrapper)


#: A task cancelled while it awaits the provider (a chat UI's "stop", a client that went away, the
#: app's own `asyncio.timeout`) is the app stopping early, as `break` is: "closed", not a failure
#: counted against the provider's error rate. The cancellation itself reaches the app unchanged.
_STOPPED_BY_THE_APP = (GeneratorExit, asyncio.CancelledError)


def _stopped_by_the_app(exc: BaseException) -> bool:
    """`_STOPPED_BY_THE_APP`, or trio's `Cancelled` (httpx under trio, through anyio; a cancel scope's
    deadline, `move_on_after`), recognised by name so that trio is never imported for it."""
    if isinstance(exc, _STOPPED_BY_THE_APP):
        return True
    cls = type(exc)
    return cls.__name__ == "Cancelled" and cls.__module__.partition(".")[0] == "trio"


def _end_on_exception(call: Call, exc: BaseException) -> None:
    if _stopped_by_the_app(exc):
        call.finish("closed")
    else:
        call.finish("failed", exc)


class _Wrapper:
    """Marker base of every routewatch transport wrapper."""

    __slots__ = ()


def _watch_response(response: Any, call: Call, stream_cls: type[Any]) -> None:
    try:
        call.on_headers(response.status_code, response.headers)
        content = getattr(response, "_content", None)
        if isinstance(content, bytes):  # already read in memory (mock transports): finish now
            call.raw.append((content, _perf_counter()))
            call.finish("read")
            return
        response.stream = stream_cls(response.stream, call)
    except Exception:
        log.warning("routewatch: could not watch a response body; the call is recorded without it", exc_info=True)
        call.finish("closed")


def _enter_span(call: Call) -> object | None:
    if not call.own_span:  # enriching a span that is already current
        return None
    return otel_context.attach(trace.set_span_in_context(call.span))


def _exit_span(token: object | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


def transport_classes(lib: ModuleType, current: InstrumentationGetter) -> TransportClasses:
    """The wrapper classes for `lib` (httpx or httpx2), made once per library."""
    cached = _registry.get(lib.__name__)
    if cached is not None:
        return cached

    class SyncStream(lib.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call

        def __iter__(self) -> Iterator[bytes]:
            # The hot loop: per chunk, one clock read before the app gets it, then an append.
            call = self._call
            append = call.raw.append
            perf = _perf_counter
            size = 0
            try:
                for chunk in self._inner:
                    call.pending = item = (chunk, perf())
                    yield chunk
                    append(item)
                    size += len(chunk)
                    if size > SPILL_BYTES:
                        append = call.spill().append
                        size = 0
            except GeneratorExit:
                call.finish("closed")
                raise
            except BaseException as exc:
                call.finish("failed", exc)
                raise
            call.finish("read")

        def close(self) -> None:
            try:
                self._call.finish("closed")
            finally:
                self._inner.close()

        @property
        def elapsed(self) -> Any:
            return getattr(self._inner, "elapsed", None)

        def __del__(self) -> None:
            with contextlib.suppress(Exception):
                self._call.finish("closed")

    class AsyncStream(lib.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call

        async def __aiter__(self) -> AsyncIterator[bytes]:
            call = self._call
            append = call.raw.append
            perf = _perf_counter
            size = 0
            chunks = self._inner.__aiter__()
            try:
                async for chunk in chunks:
                    call.pending = item = (chunk, perf())
                    yield chunk
                    append(item)
                    size += len(chunk)
                    if size > SPILL_BYTES:
                        append = call.spill().append
                        size = 0
            except BaseException as exc:
                _end_on_exception(call, exc)
                raise
            finally:
                if isinstance(chunks, AsyncGenerator):
                    await chunks.aclose()
            call.finish("read")

        async def aclose(self) -> None:
            try:
                self._call.finish("closed")
            finally:
                await self._inner.aclose()

        @property
        def elapsed(self) -> Any:
            return getattr(self._inner, "elapsed", None)

        def __del__(self) -> None:
            with contextlib.suppress(Exception):
                self._call.finish("closed")

    class Transport(_Wrapper, lib.BaseTransport):  # type: ignore[name-defined,misc]
        """Wraps a sync transport; requests that are not provider calls pass straight through."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def handle_request(self, request: Any) -> Any:
            inst = current()
            call = inst.begin(request) if inst is not None else None
            if call is None:
                return self._inner.handle_request(request)
            token = _enter_span(call)
            try:
                response = self._inner.handle_request(request)
            except BaseException as exc:
                _exit_span(token)
                call.finish("failed", exc)
                raise
            _exit_span(token)
            _watch_response(response, call, SyncStream)
            return response

        def close(self) -> None:
            self._inner.close()

        def __enter__(self) -> Any:
            self._inner.__enter__()
            return self

        def __exit__(self, *args: Any) -> None:
            self._inner.__exit__(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    class AsyncTransport(_Wrapper, lib.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        """Wraps an async transport; requests that are not provider calls pass straight through."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def handle_async_request(self, request: Any) -> Any:
            inst = current()
            call = inst.begin(request) if inst is not None else None
            if call is None:
                return await self._inner.handle_async_request(request)
            token = _enter_span(call)
            try:
                response = await self._inner.handle_async_request(request)
            except BaseException as exc:
                _exit_span(token)
                _end_on_exception(call, exc)
                raise
            _exit_span(token)
            _watch_response(response, call, AsyncStream)
            return response

        async def aclose(self) -> None:
            await self._inner.aclose()

        async def __aenter__(self) -> Any:
            await self._inner.__aenter__()
            return self

        async def __aexit__(self, *args: Any) -> None:
            await self._inner.__aexit__(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    for cls in (SyncStream, AsyncStream, Transport, AsyncTransport):
        cls.__qualname__ = f"RouteWatch{cls.__name__}[{lib.__name__}]"
    classes = TransportClasses(lib, Transport, AsyncTransport, SyncStream, AsyncStream)
    _registry[lib.__name__] = classes
    return classes
