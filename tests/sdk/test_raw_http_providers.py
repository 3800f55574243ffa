"""Hand-written HTTP with httpx and httpx2, sync and async, for the providers without an SDK here:
Cohere v2 chat (JSON and SSE) and Ollama's native chat and generate (JSON and NDJSON streams)."""

from __future__ import annotations

import json

import httpx
import httpx2
import pytest
from opentelemetry.trace import StatusCode

from routewatch.simulator import ProviderSettings

LIBS = [httpx, httpx2]
MESSAGES = [{"role": "user", "content": "hello"}]
COHERE_MODEL = "command-a-03-2025"
OLLAMA_MODEL = "llama3.2"


@pytest.fixture
def cohere(instrument, sim):
    return instrument(providers={sim.url: "cohere"})


@pytest.fixture
def ollama(instrument, sim):
    return instrument(providers={sim.url: "ollama"})


def _sse_data(lines: list[str]) -> list[dict]:
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


def _ndjson(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.strip()]


def _stream_lines(lib, url: str, body: dict) -> list[str]:
    with lib.Client() as client, client.stream("POST", url, json=body) as response:
        return list(response.iter_lines())


async def _astream_lines(lib, url: str, body: dict) -> list[str]:
    async with lib.AsyncClient() as client, client.stream("POST", url, json=body) as response:
        return [line async for line in response.aiter_lines()]


# --- Cohere v2 chat ---------------------------------------------------------------------------------


def _cohere_body(**extra) -> dict:
    return {"model": COHERE_MODEL, "messages": MESSAGES, **extra}


@pytest.mark.parametrize("lib", LIBS)
def test_cohere_chat(lib, cohere, sim) -> None:
    with lib.Client() as client:
        reply = client.post(sim.url + "/v2/chat", json=_cohere_body()).json()
    span = cohere.only_span()
    attrs = span.attributes
    assert span.name == f"chat {COHERE_MODEL}"
    assert attrs["gen_ai.provider.name"] == "cohere"
    assert attrs["routewatch.api"] == "cohere.chat"
    assert attrs["gen_ai.response.id"] == reply["id"]
    assert list(attrs["gen_ai.response.finish_reasons"]) == [reply["finish_reason"]] == ["COMPLETE"]
    assert attrs["gen_ai.usage.input_tokens"] == reply["usage"]["billed_units"]["input_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == reply["usage"]["billed_units"]["output_tokens"]
    assert "gen_ai.response.model" not in attrs  # Cohere's replies do not name the model
    assert "gen_ai.request.stream" not in attrs


@pytest.mark.parametrize("lib", LIBS)
def test_cohere_chat_stream(lib, cohere, sim) -> None:
    events = _sse_data(_stream_lines(lib, sim.url + "/v2/chat", _cohere_body(stream=True)))
    end = events[-1]
    assert end["type"] == "message-end"
    span = cohere.only_span()
    attrs = span.attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == events[0]["id"]
    assert list(attrs["gen_ai.response.finish_reasons"]) == [end["delta"]["finish_reason"]]
    assert attrs["gen_ai.usage.input_tokens"] == end["delta"]["usage"]["billed_units"]["input_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == end["delta"]["usage"]["billed_units"]["output_tokens"]
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == sum(e["type"] == "content-delta" for e in events) == 6
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] <= (span.end_time - span.start_time) / 1e9


@pytest.mark.parametrize("lib", LIBS)
async def test_async_cohere_chat(lib, cohere, sim) -> None:
    async with lib.AsyncClient() as client:
        reply = (await client.post(sim.url + "/v2/chat", json=_cohere_body())).json()
    attrs = cohere.only_span().attributes
    assert attrs["gen_ai.response.id"] == reply["id"]
    assert attrs["gen_ai.usage.output_tokens"] == reply["usage"]["billed_units"]["output_tokens"]


@pytest.mark.parametrize("lib", LIBS)
async def test_async_cohere_chat_stream(lib, cohere, sim) -> None:
    events = _sse_data(await _astream_lines(lib, sim.url + "/v2/chat", _cohere_body(stream=True)))
    attrs = cohere.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == events[-1]["delta"]["usage"]["billed_units"]["output_tokens"]
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_cohere_max_tokens_finish_reason(cohere, sim) -> None:
    with httpx.Client() as client:
        client.post(sim.url + "/v2/chat", json=_cohere_body(max_tokens=2, temperature=0.4, p=0.9, k=10))
    attrs = cohere.only_span().attributes
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["MAX_TOKENS"]
    assert attrs["gen_ai.request.max_tokens"] == 2
    assert attrs["gen_ai.request.temperature"] == 0.4
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.top_k"] == 10


def test_cohere_rate_limit_is_typed_by_its_status(cohere, sim) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_429": 1}))
    with httpx2.Client() as client:
        assert client.post(sim.url + "/v2/chat", json=_cohere_body()).status_code == 429
    span = cohere.only_span()
    assert span.attributes["error.type"] == "429"
    assert span.status.status_code is StatusCode.ERROR


def test_cohere_cost_is_computed_from_billed_units(cohere, sim) -> None:
    from routewatch.pricing import PriceBook
    from routewatch.records import Usage

    with httpx2.Client() as client:
        billed = client.post(sim.url + "/v2/chat", json=_cohere_body()).json()["usage"]["billed_units"]
    expected = (
        PriceBook()
        .cost("cohere", COHERE_MODEL, Usage(input_tokens=billed["input_tokens"], output_tokens=billed["output_tokens"]))
        .usd
    )
    assert cohere.only_span().attributes["routewatch.cost.usd"] == pytest.approx(expected)


# --- Ollama native ----------------------------------------------------------------------------------


def _ollama_chat(**extra) -> dict:
    return {"model": OLLAMA_MODEL, "messages": MESSAGES, **extra}


def _ollama_generate(**extra) -> dict:
    return {"model": OLLAMA_MODEL, "prompt": "hello", **extra}


@pytest.mark.parametrize("lib", LIBS)
def test_ollama_chat_streams_ndjson_by_default(lib, ollama, sim) -> None:
    lines = _ndjson(_stream_lines(lib, sim.url + "/api/chat", _ollama_chat()))
    final = lines[-1]
    assert final["done"] is True
    span = ollama.only_span()
    attrs = span.attributes
    assert span.name == f"chat {OLLAMA_MODEL}"
    assert attrs["gen_ai.provider.name"] == "ollama"
    assert attrs["routewatch.api"] == "ollama.chat"
    assert attrs["gen_ai.request.stream"] is True  # no "stream" in the body: Ollama's default
    assert attrs["gen_ai.response.model"] == final["model"]
    assert list(attrs["gen_ai.response.finish_reasons"]) == [final["done_reason"]] == ["stop"]
    assert attrs["gen_ai.usage.input_tokens"] == final["prompt_eval_count"]
    assert attrs["gen_ai.usage.output_tokens"] == final["eval_count"] == 6
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == sum(bool(x["message"]["content"]) for x in lines) == 6
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


@pytest.mark.parametrize("lib", LIBS)
def test_ollama_chat_not_streamed(lib, ollama, sim) -> None:
    with lib.Client() as client:
        reply = client.post(sim.url + "/api/chat", json=_ollama_chat(stream=False)).json()
    attrs = ollama.only_span().attributes
    assert "gen_ai.request.stream" not in attrs
    assert "gen_ai.response.time_to_first_chunk" not in attrs
    assert "routewatch.stream.completed" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] == reply["prompt_eval_count"]
    assert attrs["gen_ai.usage.output_tokens"] == reply["eval_count"]
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]


@pytest.mark.parametrize("lib", LIBS)
def test_ollama_generate_stream(lib, ollama, sim) -> None:
    lines = _ndjson(_stream_lines(lib, sim.url + "/api/generate", _ollama_generate(options={"num_predict": 3})))
    span = ollama.only_span()
    attrs = span.attributes
    assert span.name == f"text_completion {OLLAMA_MODEL}"
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.request.max_tokens"] == 3
    assert list(attrs["gen_ai.response.finish_reasons"]) == [lines[-1]["done_reason"]] == ["length"]
    assert attrs["gen_ai.usage.output_tokens"] == lines[-1]["eval_count"] == 3
    assert attrs["routewatch.stream.completed"] is True


@pytest.mark.parametrize("lib", LIBS)
def test_ollama_generate_not_streamed(lib, ollama, sim) -> None:
    with lib.Client() as client:
        reply = client.post(sim.url + "/api/generate", json=_ollama_generate(stream=False)).json()
    attrs = ollama.only_span().attributes
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.usage.input_tokens"] == reply["prompt_eval_count"]
    assert attrs["gen_ai.usage.output_tokens"] == reply["eval_count"]


@pytest.mark.parametrize("lib", LIBS)
async def test_async_ollama_chat_stream(lib, ollama, sim) -> None:
    lines = _ndjson(await _astream_lines(lib, sim.url + "/api/chat", _ollama_chat(stream=True)))
    attrs = ollama.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == lines[-1]["eval_count"]
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


@pytest.mark.parametrize("lib", LIBS)
async def test_async_ollama_generate_not_streamed(lib, ollama, sim) -> None:
    async with lib.AsyncClient() as client:
        reply = (await client.post(sim.url + "/api/generate", json=_ollama_generate(stream=False))).json()
    attrs = ollama.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == reply["eval_count"]
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]


def test_ollama_is_unpriced_not_free(ollama, sim) -> None:
    with httpx2.Client() as client:
        client.post(sim.url + "/api/chat", json=_ollama_chat(stream=False))
    attrs = ollama.only_span().attributes
    assert attrs["routewatch.usage.known"] is True
    assert attrs["routewatch.cost.priced"] is False
    assert "routewatch.cost.usd" not in attrs
    (record,) = ollama.wait_records(1)
    assert record.cost_usd is None and not record.priced


def test_ollama_stream_ending_before_done_is_incomplete(ollama, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"truncate": 1}, truncate_mode="end"))
    lines = _ndjson(_stream_lines(httpx, sim.url + "/api/chat", _ollama_chat()))
    assert not lines[-1]["done"]
    span = ollama.only_span()
    assert span.attributes["error.type"] == "incomplete_stream"
    assert span.attributes["routewatch.stream.completed"] is False
    assert "gen_ai.usage.output_tokens" not in span.attributes  # the counts come with `done`


def test_ollama_error_line_mid_stream_is_an_error(ollama, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"error_after_200": 1}))
    lines = _ndjson(_stream_lines(httpx2, sim.url + "/api/chat", _ollama_chat()))
    assert "error" in lines[-1]
    span = ollama.only_span()
    assert span.attributes["http.response.status_code"] == 200
    assert "error.type" in span.attributes
    assert span.status.status_code is StatusCode.ERROR
