"""The official google-genai SDK (3.x, on httpx2), sync and `client.aio`, against the simulator with no
mapping at all: Gemini is recognised by its `:generateContent` vocabulary. Usage (output = candidates +
thoughts), finish reasons, response model, time to first chunk, and the API key kept off every span."""

from __future__ import annotations

import httpx2
import pytest
from google import genai
from google.genai import errors, types
from opentelemetry.trace import StatusCode

from routewatch.simulator import ProviderSettings

MODEL = "gemini-2.5-flash"
API_KEY = "AIzaSyTestSecret-0123456789abcdefXYZ"


@pytest.fixture
def tel(instrument, sim):
    return instrument()  # no providers mapping


@pytest.fixture
def client(sim):
    # With aiohttp installed (litellm brings it) google-genai's async client runs on aiohttp, which
    # routewatch does not see; handing it an httpx2 client keeps `client.aio` on httpx2 (docs/faq.md).
    options = types.HttpOptions(base_url=sim.url, httpx_async_client=httpx2.AsyncClient())
    c = genai.Client(api_key=API_KEY, http_options=options)
    yield c  # held for the whole test: a collected Client closes its HTTP client
    c.close()


@pytest.fixture
def thinking(sim):
    sim.set_scenario(ProviderSettings(output_tokens=6, reasoning_tokens=4))


def test_sdk_clients_run_on_httpx2(client) -> None:
    assert isinstance(client._api_client._httpx_client, httpx2.Client)


def test_async_client_runs_on_httpx2_when_given_one(client) -> None:
    assert isinstance(client._api_client._async_httpx_client, httpx2.AsyncClient)
    assert not client._api_client._use_aiohttp()


def test_generate_content_span_follows_the_convention(client, tel, sim) -> None:
    response = client.models.generate_content(model=MODEL, contents="hello")
    span = tel.only_span()
    attrs = span.attributes
    assert span.name == f"generate_content {MODEL}"
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["routewatch.api"] == "gemini.generate_content"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["server.port"] == sim.port
    assert attrs["gen_ai.response.model"] == response.model_version
    assert attrs["gen_ai.response.id"] == response.response_id
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["STOP"]
    assert attrs["gen_ai.usage.input_tokens"] == response.usage_metadata.prompt_token_count
    assert attrs["gen_ai.usage.output_tokens"] == response.usage_metadata.candidates_token_count == 6
    assert attrs["routewatch.cost.usd"] > 0


def test_output_tokens_are_candidates_plus_thoughts(client, tel, thinking) -> None:
    usage = client.models.generate_content(model=MODEL, contents="hello").usage_metadata
    assert (usage.candidates_token_count, usage.thoughts_token_count) == (6, 4)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == 6 + 4
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 4


def test_cached_content_is_a_subset_of_the_input(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, cached_input_tokens=5))
    usage = client.models.generate_content(model=MODEL, contents="hello").usage_metadata
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_token_count
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == usage.cached_content_token_count == 5


def test_request_parameters_are_on_the_span(client, tel) -> None:
    config = types.GenerateContentConfig(
        max_output_tokens=50, temperature=0.2, top_p=0.8, top_k=20, stop_sequences=["END"], seed=7
    )
    client.models.generate_content(model=MODEL, contents="hello", config=config)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.top_p"] == 0.8
    assert attrs["gen_ai.request.top_k"] == 20
    assert list(attrs["gen_ai.request.stop_sequences"]) == ["END"]
    assert attrs["gen_ai.request.seed"] == 7


def test_json_response_sets_output_type_json(client, tel) -> None:
    schema = {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}}
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema)
    client.models.generate_content(model=MODEL, contents="hello", config=config)
    assert tel.only_span().attributes["gen_ai.output.type"] == "json"


def test_max_tokens_finish_reason(client, tel) -> None:
    config = types.GenerateContentConfig(max_output_tokens=3)
    response = client.models.generate_content(model=MODEL, contents="hello", config=config)
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    attrs = tel.only_span().attributes
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["MAX_TOKENS"]
    assert attrs["gen_ai.usage.output_tokens"] == 3


def test_generate_content_stream(client, tel, thinking) -> None:
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hello"))
    last = chunks[-1]
    span = tel.only_span()
    attrs = span.attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.model"] == last.model_version
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["STOP"]
    assert attrs["gen_ai.usage.input_tokens"] == last.usage_metadata.prompt_token_count
    assert attrs["gen_ai.usage.output_tokens"] == (
        last.usage_metadata.candidates_token_count + last.usage_metadata.thoughts_token_count
    )
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == len(chunks)
    duration = (span.end_time - span.start_time) / 1e9
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] <= duration


def test_time_to_first_chunk_measures_the_first_chunk(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=4, ttft_s=0.05, per_token_s=0.01))
    list(client.models.generate_content_stream(model=MODEL, contents="hello"))
    span = tel.only_span()
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]
    duration = (span.end_time - span.start_time) / 1e9
    assert 0.05 <= ttfc < duration
    assert duration >= 0.05 + 3 * 0.01 * 0.9


def test_stream_left_early_ends_the_span(client, tel) -> None:
    for _ in client.models.generate_content_stream(model=MODEL, contents="hello"):
        break
    attrs = tel.only_span().attributes
    assert attrs["routewatch.stream.completed"] is False
    assert "error.type" not in attrs


async def test_async_generate_content(client, tel, thinking) -> None:
    response = await client.aio.models.generate_content(model=MODEL, contents="hello")
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == response.response_id
    assert attrs["gen_ai.usage.output_tokens"] == 6 + 4
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["STOP"]


async def test_async_generate_content_stream(client, tel) -> None:
    chunks = [chunk async for chunk in await client.aio.models.generate_content_stream(model=MODEL, contents="hi")]
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage_metadata.candidates_token_count
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == len(chunks)
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_embed_content(client, tel) -> None:
    result = client.models.embed_content(model="text-embedding-004", contents="hello")
    assert result.embeddings
    span = tel.only_span()
    attrs = span.attributes
    assert span.name == "embeddings text-embedding-004"
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["routewatch.usage.known"] is False  # the API reports no token counts here
    assert "routewatch.cost.usd" not in attrs


async def test_async_embed_content(client, tel) -> None:
    await client.aio.models.embed_content(model="text-embedding-004", contents=["a", "b"])
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.request.model"] == "text-embedding-004"


def test_resource_exhausted_is_the_error_type(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_429": 1}))
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents="hello")
    span = tel.only_span()
    assert span.attributes["error.type"] == "RESOURCE_EXHAUSTED"
    assert span.attributes["http.response.status_code"] == 429
    assert span.status.status_code is StatusCode.ERROR


def test_error_after_200_in_a_stream_is_an_error(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"error_after_200": 1}))
    with pytest.raises(errors.APIError):
        list(client.models.generate_content_stream(model=MODEL, contents="hello"))
    span = tel.only_span()
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["error.type"] == "INTERNAL"
    assert span.status.status_code is StatusCode.ERROR


def test_api_key_appears_in_no_span(client, tel, sim, span_text) -> None:
    client.models.generate_content(model=MODEL, contents="hello")
    list(client.models.generate_content_stream(model=MODEL, contents="hello"))
    client.models.embed_content(model="text-embedding-004", contents="hello")
    assert sim.requests[-1].headers["x-goog-api-key"] == "<redacted>"  # the SDK sent it as a header
    url = f"{sim.url}/v1beta/models/{MODEL}:generateContent?key={API_KEY}"
    sim.set_scenario(ProviderSettings(fault_every_n={"truncate": 1}))
    with httpx2.Client() as raw:
        with pytest.raises(httpx2.RemoteProtocolError):  # an exception event on the span
            raw.post(url.replace(":generateContent", ":streamGenerateContent") + "&alt=sse", json={})
        sim.set_scenario(ProviderSettings(fault_every_n={"http_400": 1}))
        raw.post(url, json={"contents": [{"parts": [{"text": "hi"}]}]})
    spans = tel.genai_spans()
    assert len(spans) == 5
    assert any(event.name == "exception" for span in spans for event in span.events)
    assert API_KEY not in span_text(spans)
    assert "TestSecret" not in span_text(tel.spans())
