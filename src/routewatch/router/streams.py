"""Peeked streams: the router reads a stream up to its first chunk that carries output before handing
it to the caller, so a stream that fails before any output reached the caller can still fail over
(a role-only opening chunk or an Anthropic `message_start` is not output). The wrapper then replays
the chunks it read, passes the rest through untouched, and reports how the stream ended exactly once.

Everything else (`.response`, `.close()`, context-manager use, helpers of the SDK's stream class) is
delegated to the SDK's own stream object.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

__all__ = ["AsyncPeekedStream", "PeekedStream", "apeek", "carries_output", "is_async_stream", "is_stream", "peek"]

EndCallback = Callable[[bool, "BaseException | None"], None]
_PRELUDE_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "ping",
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    }
)
MAX_PEEK_CHUNKS = 16  # read at most this many chunks looking for output


def carries_output(chunk: Any) -> bool:
    """Whether a stream chunk carries output the caller would see; unknown shapes count as output."""
    try:
        choices = getattr(chunk, "choices", None)
        if isinstance(choices, list):  # OpenAI chat completion chunk
            for choice in choices:
                delta = getattr(choice, "delta", None)
                if any(getattr(delta, k, None) for k in ("content", "tool_calls", "refusal", "function_call")):
                    return True
            return False
        kind = getattr(chunk, "type", None)
        if isinstance(kind, str):  # Anthropic events, OpenAI Responses events
            return kind not in _PRELUDE_EVENTS
        candidates = getattr(chunk, "candidates", None)  # google-genai
        if isinstance(candidates, list):
            return any(getattr(getattr(c, "content", None), "parts", None) for c in candidates)
    except Exception:
        return True
    return True


def is_stream(result: Any) -> bool:
    return isinstance(result, Iterator) and not isinstance(result, (str, bytes, dict, list))


def is_async_stream(result: Any) -> bool:
    return isinstance(result, AsyncIterator)


class _Ending:
    def __init__(self, source: Any, buffered: list[Any], on_end: EndCallback) -> None:
        self._source = source
        self._buffered = deque(buffered)
        self._on_end: EndCallback | None = on_end

    def _finish(self, ok: bool, exc: BaseException | None) -> None:
        callback, self._on_end = self._on_end, None
        if callback is not None:
            callback(ok, exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


class PeekedStream(_Ending):
    """A sync stream whose first chunk was already read."""

    def __init__(self, source: Any, iterator: Iterator[Any], buffered: list[Any], on_end: EndCallback, *,
                 ended: bool) -> None:  # fmt: skip
        super().__init__(source, buffered, on_end)
        self._iterator = iterator
        self._ended = ended
        if ended:
            self._finish(True, None)

    def __iter__(self) -> PeekedStream:
        return self

    def __next__(self) -> Any:
        if self._buffered:
            return self._buffered.popleft()
        if self._ended:
            raise StopIteration
        try:
            return next(self._iterator)
        except StopIteration:
            self._finish(True, None)
            raise
        except BaseException as exc:
            self._finish(False, exc)
            raise

    def close(self) -> None:
        self._finish(True, None)  # the caller stopped reading: not the target's failure
        close = getattr(self._source, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> PeekedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncPeekedStream(_Ending):
    """An async stream whose first chunk was already read."""

    def __init__(
        self, source: Any, iterator: AsyncIterator[Any], buffered: list[Any], on_end: EndCallback, *, ended: bool
    ) -> None:
        super().__init__(source, buffered, on_end)
        self._iterator = iterator
        self._ended = ended
        if ended:
            self._finish(True, None)

    def __aiter__(self) -> AsyncPeekedStream:
        return self

    async def __anext__(self) -> Any:
        if self._buffered:
            return self._buffered.popleft()
        if self._ended:
            raise StopAsyncIteration
        try:
            return await self._iterator.__anext__()
        except StopAsyncIteration:
            self._finish(True, None)
            raise
        except BaseException as exc:
            self._finish(False, exc)
            raise

    async def close(self) -> None:
        self._finish(True, None)
        close = getattr(self._source, "close", None) or getattr(self._source, "aclose", None)
        if callable(close):
            outcome = close()
            if hasattr(outcome, "__await__"):
                await outcome

    async def __aenter__(self) -> AsyncPeekedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def peek(result: Any) -> tuple[Iterator[Any], list[Any], bool]:
    """Read up to the first chunk with output (exceptions propagate, so the router can fail over).
    Returns the iterator, the chunks read, and whether the stream already ended."""
    iterator: Iterator[Any] = result if hasattr(result, "__next__") else iter(result)
    buffered: list[Any] = []
    for chunk in iterator:
        buffered.append(chunk)
        if len(buffered) >= MAX_PEEK_CHUNKS or carries_output(chunk):
            return iterator, buffered, False
    return iterator, buffered, True


async def apeek(result: Any) -> tuple[AsyncIterator[Any], list[Any], bool]:
    iterator: AsyncIterator[Any] = result if hasattr(result, "__anext__") else result.__aiter__()
    buffered: list[Any] = []
    async for chunk in iterator:
        buffered.append(chunk)
        if len(buffered) >= MAX_PEEK_CHUNKS or carries_output(chunk):
            return iterator, buffered, False
    return iterator, buffered, True
