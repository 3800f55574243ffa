"""Streamed bodies are digested off the app's thread, from (chunk, arrival time) pairs: long streams
spill to the worker in order, and the chunk the app stopped at still counts."""

from __future__ import annotations

import json

import httpx2
import pytest

import routewatch
from routewatch.call import SPILL_BYTES

URL = "https://api.openai.com/v1/chat/completions"
REQUEST = {"model": "gpt-4o-mini", "messages": [], "stream": True, "stream_options": {"include_usage": True}}


def _event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _delta(text: str) -> bytes:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return _event({"id": "c1", "model": "gpt-4o-mini", "choices": [choice]})


def _sse(n: int) -> list[bytes]:
    chunks = [_delta(f"w{i} " + "x" * 200) for i in range(n)]
    chunks.append(
        _event({"id": "c1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    chunks.append(_event({"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": n}}))
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def _client(chunks: list[bytes], *, split: int = 0) -> httpx2.Client:
    def server(request: httpx2.Request) -> httpx2.Response:
        body = iter(chunks)
        if split:  # events cut across network chunks
            wire = b"".join(chunks)
            body = iter([wire[i : i + split] for i in range(0, len(wire), split)])
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.Client(transport=routewatch.wrap_transport(httpx2.MockTransport(server)))


@pytest.mark.parametrize("split", [0, 997])
def test_a_stream_longer_than_the_spill_size_is_parsed_whole_and_in_order(telemetry, split: int) -> None:
    chunks = _sse(1200)
    assert sum(map(len, chunks)) > 3 * SPILL_BYTES
    with _client(chunks, split=split) as client, client.stream("POST", URL, json=REQUEST) as response:
        received = b"".join(response.iter_bytes())
    assert received == b"".join(chunks)
    attrs = telemetry.only_span().attributes
    assert attrs["routewatch.stream.output_chunks"] == 1200
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["gen_ai.usage.output_tokens"] == 1200
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]
    (record,) = telemetry.wait_records(1)
    assert record.response.output_text.startswith("w0 x")
    assert len(record.chunk_intervals_s) == 1199
    assert all(gap >= 0 for gap in record.chunk_intervals_s)


def test_the_chunk_the_app_stopped_at_is_counted(telemetry) -> None:
    with _client(_sse(10)) as client, client.stream("POST", URL, json=REQUEST) as response:
        for i, _ in enumerate(response.iter_raw()):
            if i == 2:
                break
    attrs = telemetry.only_span().attributes
    assert attrs["routewatch.stream.output_chunks"] == 3
    assert attrs["routewatch.stream.completed"] is False


def test_request_parameters_reach_the_span_when_the_body_is_parsed_late(telemetry) -> None:
    body = {**REQUEST, "temperature": 0.5, "max_tokens": 64}
    with _client(_sse(2)) as client:
        client.post(URL, json=body)
    span = telemetry.only_span()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["gen_ai.request.temperature"] == 0.5
    assert span.attributes["gen_ai.request.max_tokens"] == 64
    assert span.attributes["gen_ai.request.stream"] is True


def test_a_model_only_a_parse_can_tell_still_names_the_span(telemetry) -> None:
    body = {**REQUEST, "model": "caf\u00e9-1", "metadata": {"model": "other"}}
    with _client(_sse(2)) as client:
        client.post(URL, json=body)
    span = telemetry.only_span()
    assert span.name == "chat caf\u00e9-1"
    assert span.attributes["gen_ai.request.model"] == "caf\u00e9-1"


def test_output_events_that_arrive_together_in_the_first_chunk_are_0_s_apart(telemetry) -> None:
    # time_per_output_chunk is recorded per output chunk after the first (v1.41): the events that
    # share the first network chunk with the first output came with it, 0 s after it.
    chunks = _sse(4)
    first = chunks[0] + chunks[1] + chunks[2]
    with _client([first, *chunks[3:]]) as client:
        client.post(URL, json=REQUEST)
    (record,) = telemetry.wait_records(1)
    assert record.response.output_chunks == 4
    assert len(record.chunk_intervals_s) == 3
    assert record.chunk_intervals_s[:2] == (0.0, 0.0)
    assert all(0 <= gap < 1.0 for gap in record.chunk_intervals_s)
