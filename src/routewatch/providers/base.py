"""The contract every provider API parser meets: pure functions over bytes, no OpenTelemetry.

One `ApiParser` per wire flavour (OpenAI chat completions, Anthropic messages, ...). The transport
wrapper frames a streamed body into events (SSE or NDJSON) and feeds them one by one to the
flavour's `StreamParser`; a non-streamed body is handed whole to `parse_response`.

Parsers never raise: garbage, truncated or unexpected bodies yield facts with `parsed=False`,
`completed=False` or an `error_type`, so nothing escapes into the application.
"""

from __future__ import annotations

from typing import Literal, Protocol

from ..records import RequestFacts, ResponseFacts

__all__ = ["ApiParser", "StreamFormat", "StreamParser", "TextDeltaParser"]

StreamFormat = Literal["sse", "ndjson"]


class StreamParser(Protocol):
    """Accumulates the events of one streamed response."""

    def feed(self, event: str | None, data: bytes) -> bool:
        """Take one event: the SSE `event:` name (None when absent, and always for NDJSON) and its
        `data` payload (SSE data lines joined by newlines, or one NDJSON line). Returns True when the
        event carried output (a content, tool-call or reasoning delta), which is what time to first
        chunk and time per output chunk measure."""
        ...

    def finish(self) -> ResponseFacts:
        """The facts of the stream so far; `completed` says whether its terminal event arrived."""
        ...


class TextDeltaParser(StreamParser, Protocol):
    """A stream parser whose common event, a text delta, the digest may read without it.

    Most events of a streamed reply are text deltas that differ from each other only in their text:
    `data: {"id":"c1",...,"delta":{"content":"<text>"},...}`. Once the parser has said where the text
    lies in one of them, the call's digest recognises the next ones by their bytes around the text
    and hands the parser only the texts (`add_texts`), instead of framing and feeding each event.
    """

    def text_span(self, event: str | None, data: bytes) -> tuple[int, int] | None:
        """Asked right after `feed(event, data)` returned True. When that event was a plain text
        delta, data[start:end] its text, such that any event with the same bytes before `start` and
        from `end` on, and between them bytes with no quote, backslash, CR or LF that decode as UTF-8,
        would be read by `feed` (with the same `event`) as that same kind of delta with those bytes as
        its text: (start, end).
        Else None."""
        ...

    def add_texts(self, texts: list[str]) -> None:
        """Take such text deltas, each non-empty, in order, as `feed` would have taken their events."""
        ...


class ApiParser(Protocol):
    """One provider API flavour: how to read its requests, responses, errors and streams."""

    #: Stable identifier of the flavour, e.g. "openai.chat_completions".
    api: str
    #: GenAI operation name for this flavour (chat, text_completion, embeddings, generate_content, ...).
    operation: str
    stream_format: StreamFormat

    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        """Read the request body (and, for Gemini, the model and stream flag from path and query)."""
        ...

    def parse_response(self, body: bytes) -> ResponseFacts:
        """Read a complete non-streamed 2xx JSON body."""
        ...

    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        """Read a non-2xx body: `error_type` is the provider's error type when the body gives one
        (e.g. `rate_limit_error`, `overloaded_error`, `RESOURCE_EXHAUSTED`), else the status code."""
        ...

    def stream_parser(self) -> StreamParser:
        """A fresh accumulator for one streamed response."""
        ...
