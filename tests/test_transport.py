"""The transport wrapper with raw httpx and httpx2: byte-identical bodies, exactly one finished span
however a stream ends, unknown hosts untouched, sync and async, clients old and new."""

from __future__ import annotations

import asyncio
import gc
import json

import httpx
import httpx2
import pytest
import trio

import routewatch
from routewatch.simulator import ProviderSettings, Scenario

LIBS = [httpx, httpx2]
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
HEADERS = {"authorization": "Bearer sk-test-secret-key-123456"}


def stream_body(**extra: object) -> dict[str, object]:
    return {**CHAT, "stream": True, "stream_options": {"include_usage": True}, **extra}


@pytest.fixture
def sim_url(simulator) -> str:
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=24)))
    return simulator.url


def _openai_url(sim_url: str) -> str:
    return sim_url + "/v1/chat/completions"


def _ended_by_the_app(mapped):
    """The one span ended with no error (the app stopped, not the provider), and its record is ok."""
    span = mapped.only_span()
    assert "error.type" not in span.attributes
    assert span.status.status_code.name == "UNSET"
    (record,) = mapped.wait_records(1)
    assert record.ok
    return span


def recording_transport(lib):
    """A transport that keeps a copy of every body chunk the network delivered."""

    class Recording(lib.BaseTransport):
        def __init__(self) -> None:
            self.inner = lib.HTTPTransport()
            self.received: list[bytes] = []

        def handle_request(self, request):
            response = self.inner.handle_request(request)
            stream, received = response.stream, self.received

            class Tap(lib.SyncByteStream):
                def __iter__(self):
                    for chunk in stream:
                        received.append(chunk)
                        yield chunk

                def close(self) -> None:
                    stream.close()

            response.stream = Tap()
            return response

    return Recording()


@pytest.mark.parametrize("lib", LIBS)
def test_app_receives_exactly_the_bytes_the_network_delivered(lib, sim_url, mapped) -> None:
    network = recording_transport(lib)
    app_chunks = []
    with lib.Client(transport=routewatch.wrap_transport(network)) as client:
        with client.stream("POST", _openai_url(sim_url), json=stream_body(), headers=HEADERS) as response:
            app_chunks = list(response.iter_raw())
    assert app_chunks == network.received  # same chunks, same boundaries, nothing held back
    assert b"".join(app_chunks).count(b"data: ") >= 24
    assert len(mapped.genai_spans()) == 1


@pytest.mark.parametrize("lib", LIBS)
def test_streamed_call_span_measures_the_whole_generation(lib, simulator, mapped) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=20, ttft_s=0.05, per_token_s=0.005)))
    with lib.Client() as client:
        with client.stream("POST", _openai_url(simulator.url), json=stream_body(), headers=HEADERS) as response:
            for _ in response.iter_bytes():
                pass
    span = mapped.only_span()
    attrs = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.output_tokens"] == 20
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] >= 0.05
    duration = (span.end_time - span.start_time) / 1e9
    assert duration >= 0.05 + 19 * 0.005 * 0.9  # the span covers the stream, not just the headers
    assert "error.type" not in attrs


@pytest.mark.parametrize("lib", LIBS)
def test_early_close_ends_the_span_without_error(lib, sim_url, mapped) -> None:
    with lib.Client() as client:
        with client.stream("POST", _openai_url(sim_url), json=stream_body(), headers=HEADERS) as response:
            for _ in response.iter_raw():
                break
    attrs = mapped.only_span().attributes
    assert attrs["routewatch.stream.completed"] is False
    assert "error.type" not in attrs


@pytest.mark.parametrize("lib", LIBS)
def test_abandoned_stream_is_finished_by_garbage_collection(lib, sim_url, mapped) -> None:
    client = lib.Client()
    request = client.build_request("POST", _openai_url(sim_url), json=stream_body(), headers=HEADERS)
    response = client.send(request, stream=True)
    chunks = response.iter_raw()
    next(chunks)
    assert mapped.genai_spans() == []  # still in flight
    del chunks, response
    gc.collect()
    spans = mapped.genai_spans()
    assert len(spans) == 1 and spans[0].attributes["routewatch.stream.completed"] is False
    client.close()


@pytest.mark.parametrize("lib", LIBS)
def test_truncated_stream_is_an_error(lib, simulator, mapped) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(fault_every_n={"truncate": 1}, truncate_mode="end")))
    with lib.Client() as client:
        with client.stream("POST", _openai_url(simulator.url), json=stream_body(), headers=HEADERS) as response:
            body = b"".join(response.iter_raw())
    assert b"[DONE]" not in body
    span = mapped.only_span()
    assert span.attributes["error.type"] == "incomplete_stream"
    assert span.attributes["routewatch.stream.completed"] is False
    assert span.status.is_ok is False


@pytest.mark.parametrize("lib", LIBS)
def test_connection_dropped_mid_stream_records_the_exception_and_reraises(lib, simulator, mapped) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(fault_every_n={"truncate": 1}, truncate_mode="close")))
    with lib.Client() as client, pytest.raises(lib.HTTPError) as raised:
        with client.stream("POST", _openai_url(simulator.url), json=stream_body(), headers=HEADERS) as response:
            for _ in response.iter_raw():
                pass
    span = mapped.only_span()
    assert span.attributes["error.type"] == type(raised.value).__qualname__


@pytest.mark.parametrize("lib", LIBS)
async def test_async_stream(lib, sim_url, mapped) -> None:
    async with lib.AsyncClient() as client:
        async with client.stream("POST", _openai_url(sim_url), json=stream_body(), headers=HEADERS) as response:
            chunks = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(chunks).count(b"data: ") >= 24
    attrs = mapped.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == 24
    assert attrs["routewatch.stream.completed"] is True


@pytest.mark.parametrize("lib", LIBS)
async def test_async_early_break(lib, sim_url, mapped) -> None:
    async with lib.AsyncClient() as client:
        async with client.stream("POST", _openai_url(sim_url), json=stream_body(), headers=HEADERS) as response:
            async for _ in response.aiter_raw():
                break
    assert mapped.only_span().attributes["routewatch.stream.completed"] is False


@pytest.mark.parametrize("lib", LIBS)
def test_client_created_before_instrument_is_covered(lib, sim_url, telemetry) -> None:
    routewatch.uninstrument()
    client = lib.Client()
    routewatch.instrument(tracer_provider=telemetry.tracer_provider, providers={sim_url + "/v1": "openai"})
    client.post(_openai_url(sim_url), json=CHAT, headers=HEADERS)
    client.close()
    assert telemetry.only_span().attributes["gen_ai.usage.input_tokens"] > 0


@pytest.mark.parametrize("lib", LIBS)
def test_unknown_hosts_and_non_generation_paths_produce_nothing(lib, sim_url, mapped) -> None:
    with lib.Client() as client:
        assert client.get(sim_url + "/health").status_code == 200
        client.post(sim_url + "/v1/files", json={}, headers=HEADERS)
        client.post(sim_url + "/other/chat/completions", json=CHAT)  # unmapped, no auth signature
    assert mapped.genai_spans() == []
    assert mapped.records == []


@pytest.mark.parametrize("lib", LIBS)
def test_error_status_records_provider_error_type(lib, simulator, mapped) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(fault_every_n={"http_429": 1})))
    with lib.Client() as client:
        response = client.post(_openai_url(simulator.url), json=CHAT, headers=HEADERS)
    assert response.status_code == 429
    span = mapped.only_span()
    assert span.attributes["error.type"] == "rate_limit_exceeded"
    assert span.attributes["routewatch.retry_after_s"] == 1.0
    (record,) = mapped.wait_records(1)
    assert record.rate_limited and not record.ok


@pytest.mark.parametrize("lib", LIBS)
def test_wrap_transport_composes_with_a_custom_transport(lib, sim_url, mapped) -> None:
    routewatch.uninstrument()
    routewatch.instrument(tracer_provider=mapped.tracer_provider, providers={sim_url + "/v1": "openai"})
    transport = routewatch.wrap_transport(lib.HTTPTransport())
    with lib.Client(transport=transport) as client:
        client.post(_openai_url(sim_url), json=CHAT, headers=HEADERS)
    assert len(mapped.genai_spans()) == 1  # wrapped once, not twice


def test_non_streamed_body_is_returned_unchanged(sim_url, mapped) -> None:
    with httpx2.Client() as client:
        instrumented = client.post(_openai_url(sim_url), json=CHAT, headers=HEADERS).content
    parsed = json.loads(instrumented)
    assert parsed["object"] == "chat.completion"
    assert mapped.only_span().attributes["gen_ai.response.id"] == parsed["id"]


def test_api_keys_never_reach_spans(sim_url, mapped) -> None:
    with httpx2.Client() as client:
        client.post(_openai_url(sim_url) + "?key=AIzaSyTopSecret0123456789abcdef", json=CHAT, headers=HEADERS)
    for span in mapped.spans():
        text = json.dumps({k: str(v) for k, v in (span.attributes or {}).items()}) + span.name
        assert "sk-test-secret" not in text and "TopSecret" not in text


@pytest.mark.parametrize("lib", LIBS)
async def test_a_task_cancelled_mid_stream_ends_the_span_as_an_early_close(lib, simulator, mapped) -> None:
    """Cancelling the task that reads a stream (a chat UI's "stop", a client that disconnected, an
    `asyncio.timeout` of the app's) is the app stopping early, as `break` is: the span ends once, with
    no error for the provider's error rate; the cancellation reaches the app unchanged."""
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=200, per_token_s=0.05)))
    first_chunk = asyncio.Event()

    async def read_all(client) -> None:
        async with client.stream("POST", _openai_url(simulator.url), json=stream_body(), headers=HEADERS) as response:
            async for _ in response.aiter_raw():
                first_chunk.set()

    async with lib.AsyncClient() as client:
        task = asyncio.create_task(read_all(client))
        await asyncio.wait_for(first_chunk.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    span = _ended_by_the_app(mapped)
    assert span.attributes["routewatch.stream.completed"] is False


@pytest.mark.parametrize("lib", LIBS)
def test_a_trio_cancel_scope_mid_stream_ends_the_span_as_an_early_close(lib, simulator, mapped) -> None:
    """Under trio (httpx runs on it through anyio) a cancelled scope is the app stopping early too:
    trio's `Cancelled` is not asyncio's, and used to be recorded as a failure of the provider."""
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=200, per_token_s=0.05)))
    chunks: list[bytes] = []

    async def read_until_cancelled() -> bool:
        async with lib.AsyncClient() as client:
            with trio.move_on_after(10) as scope:
                async with client.stream("POST", _openai_url(simulator.url), json=stream_body(), headers=HEADERS) as r:
                    async for chunk in r.aiter_raw():
                        chunks.append(chunk)
                        scope.cancel()
            return scope.cancelled_caught

    assert trio.run(read_until_cancelled)
    assert 1 <= len(chunks) < 20  # trio raises at its next checkpoint, maybe a buffered chunk later
    span = _ended_by_the_app(mapped)
    assert span.attributes["routewatch.stream.completed"] is False


@pytest.mark.parametrize("lib", LIBS)
def test_a_trio_deadline_while_waiting_for_the_response_ends_the_span_without_error(lib, simulator, mapped) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(latency_s=5.0)))

    async def post_with_a_deadline() -> bool:
        async with lib.AsyncClient() as client:
            with trio.move_on_after(0.2) as scope:
                await client.post(_openai_url(simulator.url), json=CHAT, headers=HEADERS)
            return scope.cancelled_caught

    assert trio.run(post_with_a_deadline)
    _ended_by_the_app(mapped)


def test_a_look_alike_cancelled_from_another_library_is_a_failure() -> None:
    from routewatch.transport import _stopped_by_the_app

    class Cancelled(Exception):  # a look-alike from another library: a failure like any other
        pass

    assert _stopped_by_the_app(asyncio.CancelledError()) and _stopped_by_the_app(GeneratorExit())
    assert not _stopped_by_the_app(Cancelled()) and not _stopped_by_the_app(TimeoutError())


@pytest.mark.parametrize("lib", LIBS)
async def test_a_task_cancelled_while_waiting_for_the_response_ends_the_span_without_error(
    lib, simulator, mapped
) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(latency_s=5.0)))
    async with lib.AsyncClient() as client:
        task = asyncio.create_task(client.post(_openai_url(simulator.url), json=CHAT, headers=HEADERS))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    _ended_by_the_app(mapped)
