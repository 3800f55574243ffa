"""SSE and NDJSON framing: events come out whole, however the network splits the bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routewatch.framing import NDJSONFramer, SSEFramer

BODY = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": keep-alive comment\n\n"
    b"data: line one\ndata: line two\n\n"
    b'data: {"b":2}\n\n'
    b"data: [DONE]\n\n"
)
EXPECTED = [("message_start", b'{"a":1}'), (None, b"line one\nline two"), (None, b'{"b":2}'), (None, b"[DONE]")]


def frame_all(framer: SSEFramer | NDJSONFramer, chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    events = []
    for chunk in chunks:
        events.extend(framer.feed(chunk))
    events.extend(framer.flush())
    return events


def test_sse_whole_body_in_one_chunk() -> None:
    assert frame_all(SSEFramer(), [BODY]) == EXPECTED


def test_sse_byte_by_byte() -> None:
    assert frame_all(SSEFramer(), [BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


def test_sse_crlf_line_endings_split_between_cr_and_lf() -> None:
    body = BODY.replace(b"\n", b"\r\n")
    cut = body.index(b"\r\n") + 1  # the CR ends one chunk, the LF starts the next
    assert frame_all(SSEFramer(), [body[:cut], body[cut:]]) == EXPECTED


def test_sse_final_event_without_blank_line_is_flushed() -> None:
    assert frame_all(SSEFramer(), [b'data: {"x":1}']) == [(None, b'{"x":1}')]


def test_sse_oversized_event_is_dropped_and_counted() -> None:
    framer = SSEFramer(max_event_bytes=16)
    assert framer.feed(b"data: " + b"x" * 64) == []
    assert framer.dropped == 1
    assert framer.feed(b"\n\ndata: ok\n\n") == [(None, b"ok")]


@given(st.lists(st.integers(min_value=1, max_value=len(BODY) - 1), max_size=12))
def test_sse_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [BODY[a:b] for a, b in zip([0, *points], [*points, len(BODY)], strict=True)]
    assert frame_all(SSEFramer(), chunks) == EXPECTED


@given(st.binary(max_size=512), st.integers(min_value=1, max_value=64))
def test_sse_garbage_never_raises(body: bytes, step: int) -> None:
    frame_all(SSEFramer(), [body[i : i + step] for i in range(0, len(body), step)])


def test_ndjson_lines_across_chunks() -> None:
    chunks = [b'{"a":1}\n{"b"', b":2}\n\n", b'{"done":true}']
    assert frame_all(NDJSONFramer(), chunks) == [(None, b'{"a":1}'), (None, b'{"b":2}'), (None, b'{"done":true}')]
