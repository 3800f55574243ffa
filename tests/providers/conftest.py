"""Test helpers for the provider parsers: read a recorded body and frame it into the events the
transport would feed to a `StreamParser`.

The framing here is a test double, deliberately simple; production framing lives outside
`routewatch.providers`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from routewatch.providers import ApiParser, get_parser
from routewatch.records import ResponseFacts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

Event = tuple[str | None, bytes]


def read_fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def frame_sse(raw: bytes) -> list[Event]:
    """(event name, data) per SSE event. Data lines are joined by newlines; comments, `id:` and
    `retry:` are skipped; an event not closed by a blank line is dropped, as the SSE spec says."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    events: list[Event] = []
    name: str | None = None
    data: list[str] = []
    for line in text.split("\n"):
        if not line:
            if data:
                events.append((name, "\n".join(data).encode()))
            name, data = None, []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return events


def frame_ndjson(raw: bytes) -> list[Event]:
    """(None, line) per non-blank line; a last line without a newline is still an event."""
    return [(None, line) for line in raw.split(b"\n") if line.strip()]


def frame_body(raw: bytes, stream_format: str) -> list[Event]:
    return frame_ndjson(raw) if stream_format == "ndjson" else frame_sse(raw)


def feed_events(parser: ApiParser, events: list[Event]) -> tuple[ResponseFacts, list[bool]]:
    """Feed every event to a fresh stream parser; the facts and what each feed() returned."""
    accumulator = parser.stream_parser()
    outputs = [accumulator.feed(name, data) for name, data in events]
    return accumulator.finish(), outputs


@pytest.fixture(scope="session")
def frame() -> Callable[[bytes, str], list[Event]]:
    """`frame(body, "sse" | "ndjson")` -> the (event, data) pairs a transport would feed."""
    return frame_body


@pytest.fixture(scope="session")
def run_stream() -> Callable[[ApiParser, list[Event]], tuple[ResponseFacts, list[bool]]]:
    """`run_stream(parser, events)` -> (finished facts, what each feed() returned)."""
    return feed_events


@pytest.fixture(scope="session")
def load_fixture() -> Callable[[str], bytes]:
    """`load_fixture("openai/chat_completion.json")` -> the recorded body."""
    return read_fixture


@pytest.fixture(scope="session")
def stream_events() -> Callable[[str, str], list[Event]]:
    """`stream_events(api, "anthropic/stream.sse")` -> the fixture framed for that API's format."""

    def events(api: str, name: str) -> list[Event]:
        return frame_body(read_fixture(name), get_parser(api).stream_format)

    return events


@pytest.fixture(scope="session")
def stream_fixture() -> Callable[[str, str], ResponseFacts]:
    """`stream_fixture(api, "openai/chat_completion_stream_usage.sse")` -> the finished facts."""

    def facts(api: str, name: str) -> ResponseFacts:
        parser = get_parser(api)
        return feed_events(parser, frame_body(read_fixture(name), parser.stream_format))[0]

    return facts
