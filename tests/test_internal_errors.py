"""routewatch's own failures never reach the app, and are counted on `routewatch.internal.errors`."""

from __future__ import annotations

import httpx2
import pytest

import routewatch
from routewatch.framing import SSEFramer

SSE = b'data: {"id":"c1","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'


def _stream_server(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=iter([SSE[:40], SSE[40:]]))


def _internal_errors(telemetry) -> int:
    return sum(p.value for p in telemetry.metric_points("routewatch.internal.errors"))


def test_a_framing_failure_is_counted_and_the_app_still_gets_every_byte(telemetry, monkeypatch) -> None:
    before = _internal_errors(telemetry)

    def broken(self: SSEFramer, chunk: bytes) -> list[object]:
        raise RuntimeError("framer bug")

    monkeypatch.setattr(SSEFramer, "feed", broken)
    transport = routewatch.wrap_transport(httpx2.MockTransport(_stream_server))
    with httpx2.Client(transport=transport) as client:
        with client.stream(
            "POST", "https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True}
        ) as response:
            body = b"".join(response.iter_bytes())
    assert body == SSE
    assert telemetry.only_span().attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert _internal_errors(telemetry) == before + 1


def test_no_failure_no_count(telemetry) -> None:
    before = _internal_errors(telemetry)
    transport = routewatch.wrap_transport(httpx2.MockTransport(_stream_server))
    with httpx2.Client(transport=transport) as client:
        client.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True})
    telemetry.only_span()
    assert _internal_errors(telemetry) == before


@pytest.fixture(autouse=True)
def _quiet_routewatch_warnings(caplog) -> None:
    caplog.set_level("ERROR", logger="routewatch")
