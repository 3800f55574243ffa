"""The official google-genai SDK (sync and async) parses the simulator's Gemini API; Vertex paths too."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import errors, types

from routewatch.simulator import ProviderSettings, Simulator

MODEL = "gemini-2.5-flash"


_clients: list[genai.Client] = []


def client(sim: Simulator) -> genai.Client:
    # A genai.Client closes its HTTP client when collected, even while `client.models` is in use.
    _clients.append(genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=sim.url)))
    return _clients[-1]


def test_generate_content(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(reasoning_tokens=5))
    response = client(sim).models.generate_content(model=MODEL, contents="hi")
    assert response.text and response.model_version == MODEL
    usage = response.usage_metadata
    assert usage is not None and (usage.candidates_token_count, usage.thoughts_token_count) == (24, 5)
    assert usage.total_token_count == (usage.prompt_token_count or 0) + 29
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert sim.requests[-1].headers["x-goog-api-key"] == "<redacted>"


def test_stream_usage_on_every_chunk_and_finish_reason_on_the_last(sim: Simulator) -> None:
    chunks = list(client(sim).models.generate_content_stream(model=MODEL, contents="hi"))
    assert len(chunks) == 24
    counts = [c.usage_metadata.candidates_token_count for c in chunks if c.usage_metadata]
    assert counts == list(range(1, 25))
    reasons = [c.candidates[0].finish_reason for c in chunks if c.candidates]
    assert reasons[-1] == types.FinishReason.STOP and set(reasons[:-1]) == {None}
    assert "alt=sse" in sim.requests[-1].path


def test_max_output_tokens_and_json_schema(sim: Simulator) -> None:
    c = client(sim)
    capped = c.models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(max_output_tokens=3)
    )
    assert capped.candidates and capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    schema = {"type": "OBJECT", "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}}}
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema)
    structured = c.models.generate_content(model=MODEL, contents="hi", config=config)
    assert isinstance(structured.parsed, dict) and set(structured.parsed) == {"name", "age"}


def test_refusal_is_a_safety_stop(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"refusal": 1}))
    response = client(sim).models.generate_content(model=MODEL, contents="hi")
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert response.text is None


def test_embed_content(sim: Simulator) -> None:
    result = client(sim).models.embed_content(model="text-embedding-004", contents=["a", "b"])
    assert result.embeddings and [len(e.values or []) for e in result.embeddings] == [64, 64]


@pytest.mark.parametrize(("status", "error"), [(429, errors.ClientError), (503, errors.ServerError)])
def test_status_faults(sim: Simulator, status: int, error: type[errors.APIError]) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={f"http_{status}": 1}))
    with pytest.raises(error) as info:
        client(sim).models.generate_content(model=MODEL, contents="hi")
    assert info.value.code == status
    assert info.value.status == {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}[status]


def test_error_after_200_raises_a_server_error(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}))
    with pytest.raises(errors.ServerError):
        list(client(sim).models.generate_content_stream(model=MODEL, contents="hi"))


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_vertex_paths(sim: Simulator, version: str) -> None:
    path = f"/{version}/projects/p/locations/us-central1/publishers/google/models/{MODEL}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    reply = httpx.post(sim.url + path, json=body).json()
    assert reply["usageMetadata"]["candidatesTokenCount"] == 24 and reply["modelVersion"] == MODEL


async def test_async_stream(sim: Simulator) -> None:
    stream = await client(sim).aio.models.generate_content_stream(model=MODEL, contents="hi")
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.candidates_token_count == 24
