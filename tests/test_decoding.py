"""Compressed provider responses are parsed from a decoded copy; the app's bytes are untouched."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx2
import pytest

import routewatch
from routewatch.decoding import make_decoder


def raw_deflate(data: bytes) -> bytes:
    """`deflate` as many servers send it: a bare DEFLATE stream, without the zlib wrapper."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


BODY = {
    "id": "chatcmpl-z",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
}


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate), ("identity", lambda b: b)],
)
def test_decoder_round_trips_in_pieces(encoding: str, compress) -> None:
    raw = json.dumps(BODY).encode()
    wire = compress(raw)
    decoder = make_decoder(encoding)
    if decoder is None:
        assert encoding == "identity"
        return
    assert b"".join(decoder(wire[i : i + 7]) for i in range(0, len(wire), 7)) == raw


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot decode"):
        make_decoder("compress")


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", raw_deflate)])
def test_compressed_json_response_is_parsed_and_the_app_still_gets_json(telemetry, encoding: str, compress) -> None:
    """Streamed from the network in pieces; httpx and httpx2 read `deflate` as zlib-wrapped, else as
    a bare DEFLATE stream: so does routewatch."""

    def server(request: httpx2.Request) -> httpx2.Response:
        wire = compress(json.dumps(BODY).encode())
        headers = {"content-type": "application/json", "content-encoding": encoding}
        return httpx2.Response(200, headers=headers, content=iter([wire[:20], wire[20:]]))

    transport = routewatch.wrap_transport(httpx2.MockTransport(server))
    with httpx2.Client(transport=transport) as client:
        response = client.post(
            "https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []}
        )
    assert response.json() == BODY
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 11
    assert span.attributes["gen_ai.usage.output_tokens"] == 2


def test_garbage_compressed_body_is_recorded_unparsed_without_breaking_the_app(telemetry) -> None:
    def broken(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "application/json", "content-encoding": "gzip"}, content=iter([b"nope"])
        )

    transport = routewatch.wrap_transport(httpx2.MockTransport(broken))
    with httpx2.Client(transport=transport) as client, pytest.raises(httpx2.DecodingError):
        client.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    span = telemetry.only_span()
    assert span.attributes["routewatch.usage.known"] is False
    assert sum(p.value for p in telemetry.metric_points("routewatch.instrumentation.errors")) == 1
