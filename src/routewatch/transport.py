"""Transport and byte-stream wrappers for httpx and httpx2, built from one definition.

The two libraries share an API but not their base classes, and the clients check the stream's
class, so the wrappers are made per library by `transport_classes(lib)`. Each wrapper only moves
bytes and reports to a `Call`; all logic lives in `call.py`. Every chunk reaches the app before
routewatch looks at it, and the app's own exceptions are re-raised unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from .call import Call
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


class _Wrapper:
    """Marker base of every routewatch transport wrapper."""

    __slots__ = ()


def _watch_response(response: Any, call: Call, stream_cls: type[Any]) -> None:
    try:
        call.on_headers(response.status_code, response.headers)
        content = getattr(response, "_content", None)
        if isinstance(content, bytes):  # already read in memory (mock transports): finish now
            call.on_chunk(content, _perf_counter())
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
            self._pending: tuple[bytes, float] | None = None

        def __iter__(self) -> Iterator[bytes]:
            call = self._call
            try:
                for chunk in self._inner:
                    now = _perf_counter()
                    self._pending = (chunk, now)
                    yield chunk
                    self._pending = None
                    call.on_chunk(chunk, now)
            except GeneratorExit:
                self._end("closed")
                raise
            except BaseException as exc:
                self._end("failed", exc)
                raise
            self._end("read")

        def _end(self, how: str, exc: BaseException | None = None) -> None:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._call.on_chunk(*pending)
            self._call.finish(how, exc)

        def close(self) -> None:
            try:
                self._end("closed")
            finally:
                self._inner.close()

        @property
        def elapsed(self) -> Any:
            return getattr(self._inner, "elapsed", None)

        def __del__(self) -> None:
            with contextlib.suppress(Exception):
                self._end("closed")

    class AsyncStream(lib.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call
            self._pending: tuple[bytes, float] | None = None

        async def __aiter__(self) -> AsyncIterator[bytes]:
            call = self._call
            chunks = self._inner.__aiter__()
            try:
                async for chunk in chunks:
                    now = _perf_counter()
                    self._pending = (chunk, now)
                    yield chunk
                    self._pending = None
                    call.on_chunk(chunk, now)
            except GeneratorExit:
                self._end("closed")
                raise
            except BaseException as exc:
                self._end("failed", exc)
                raise
            finally:
                if isinstance(chunks, AsyncGenerator):
                    await chunks.aclose()
            self._end("read")

        def _end(self, how: str, exc: BaseException | None = None) -> None:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._call.on_chunk(*pending)
            self._call.finish(how, exc)

        async def aclose(self) -> None:
            try:
                self._end("closed")
            finally:
                await self._inner.aclose()

        @property
        def elapsed(self) -> Any:
            return getattr(self._inner, "elapsed", None)

        def __del__(self) -> None:
            with contextlib.suppress(Exception):
                self._end("closed")

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
                call.finish("failed", exc)
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
