"""The official openai SDK (sync and async) parses everything the simulator's OpenAI endpoints send."""

from __future__ import annotations

import json
from typing import Literal

import httpx2
import openai
import pydantic
import pytest

from routewatch.simulator import Phase, ProviderSettings, Scenario, Simulator

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    }
]


class Forecast(pydantic.BaseModel):
    city: str
    temperature: float
    conditions: Literal["sunny", "cloudy", "rain"]
    hourly: list[int]
    note: str | None


def client(sim: Simulator, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=max_retries)


def test_chat_completion_has_text_usage_and_fingerprint(sim: Simulator) -> None:
    reply = client(sim).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.model == "gpt-4o-mini"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens == 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 24
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 0
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    assert reply.system_fingerprint == "fp_sim0001"


def test_the_same_request_gets_the_same_text(sim: Simulator) -> None:
    c = client(sim)
    first = c.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    second = c.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    other = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "other"}])
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_stream_sends_one_chunk_per_token_and_usage_only_when_asked(sim: Simulator) -> None:
    c = client(sim)
    plain = list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert len([ch for ch in plain if ch.choices and ch.choices[0].delta.content]) == 24
    assert all(ch.usage is None and ch.choices for ch in plain)
    assert plain[-1].choices[0].finish_reason == "stop"

    chunks = list(
        c.chat.completions.create(
            model="m",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 24
    assert sim.requests[1].body["stream_options"] == {"include_usage": True}


def test_max_tokens_caps_the_reply_with_finish_reason_length(sim: Simulator) -> None:
    reply = client(sim).chat.completions.create(model="m", messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5


def test_required_tool_choice_calls_the_tool_with_valid_arguments(sim: Simulator) -> None:
    c = client(sim)
    reply = c.chat.completions.create(
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert set(arguments) == {"city", "unit"} and arguments["unit"] in ("c", "f")

    stream = c.chat.completions.create(
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
        stream=True,
    )
    deltas = [ch.choices[0].delta.tool_calls for ch in stream if ch.choices and ch.choices[0].delta.tool_calls]
    streamed = "".join(d[0].function.arguments or "" for d in deltas if d[0].function)
    assert set(json.loads(streamed)) == {"city", "unit"}


def test_auto_tool_choice_answers_in_text_unless_the_scenario_forces_tools(sim: Simulator) -> None:
    c = client(sim)
    reply = c.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    assert reply.choices[0].message.tool_calls is None
    sim.set_scenario(ProviderSettings(tool_calls=True))
    reply = c.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    assert reply.choices[0].message.tool_calls


def test_json_schema_output_parses_into_the_model(sim: Simulator) -> None:
    reply = client(sim).chat.completions.parse(model="m", messages=MESSAGES, response_format=Forecast)  # type: ignore[arg-type]
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, Forecast) and parsed.conditions in ("sunny", "cloudy", "rain")
    fmt = sim.requests[-1].body["response_format"]
    assert fmt["type"] == "json_schema"


def test_json_object_output_is_a_json_object(sim: Simulator) -> None:
    reply = client(sim).chat.completions.create(
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("fault", ["invalid_json_output", "schema_violation"])
def test_structured_output_faults_fail_validation(sim: Simulator, fault: str) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={fault: 1}))
    with pytest.raises(pydantic.ValidationError):
        client(sim).chat.completions.parse(model="m", messages=MESSAGES, response_format=Forecast)  # type: ignore[arg-type]


def test_refusal_and_empty_output(sim: Simulator) -> None:
    c = client(sim)
    sim.set_scenario(ProviderSettings(fault_every_n={"refusal": 1}))
    message = c.chat.completions.create(model="m", messages=MESSAGES).choices[0].message  # type: ignore[arg-type]
    assert message.refusal and message.content is None
    sim.set_scenario(ProviderSettings(fault_every_n={"empty_output": 1}))
    reply = c.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "" and reply.usage and reply.usage.completion_tokens == 0


def test_model_override_fingerprint_and_token_details(sim: Simulator) -> None:
    settings = ProviderSettings(
        model_override="gpt-4o-2024-08-06",
        fingerprint="fp_changed",
        input_tokens=100,
        cached_input_tokens=40,
        reasoning_tokens=7,
    )
    sim.set_scenario(settings)
    reply = client(sim).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert (reply.model, reply.system_fingerprint) == ("gpt-4o-2024-08-06", "fp_changed")
    usage = reply.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (100, 31)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 40
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 7


def test_rate_limit_headers(sim: Simulator) -> None:
    raw = client(sim).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    headers = raw.headers
    assert headers["x-request-id"].startswith("req_")
    assert headers["x-ratelimit-limit-requests"] == "10000"
    assert headers["x-ratelimit-remaining-requests"] == "9999"
    assert int(headers["x-ratelimit-remaining-tokens"]) < 2_000_000
    assert headers["x-ratelimit-reset-requests"] == "6ms"
    assert headers["openai-processing-ms"].isdigit()


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError), (503, openai.InternalServerError)],
)
def test_status_faults_raise_the_sdk_errors(sim: Simulator, status: int, error: type[Exception]) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={f"http_{status}": 1}, retry_after_s=2))
    with pytest.raises(error) as info:
        client(sim).chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    if status == 429:
        response = info.value.response  # type: ignore[attr-defined]
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_retries_carry_the_retry_count_header(sim: Simulator) -> None:
    first_fails = Scenario(
        default=ProviderSettings(fault_every_n={"http_429": 1}, retry_after_s=0.01),
        phases=[Phase(start_after_requests=1, default=ProviderSettings(fault_every_n={"http_429": 0}))],
    )
    sim.set_scenario(first_fails)
    reply = client(sim, max_retries=2).chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert [r.headers.get("x-stainless-retry-count") for r in sim.requests] == ["0", "1"]
    assert sim.requests[0].headers["authorization"] == "<redacted>"


def test_error_after_200_raises_mid_stream(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}, fault_after_chunks=2))
    seen = []
    with pytest.raises(openai.APIError, match="server had an error"):
        for chunk in client(sim).chat.completions.create(model="m", messages=MESSAGES, stream=True):  # type: ignore[arg-type]
            seen.append(chunk)
    assert len(seen) == 3  # the role chunk and two tokens


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_error_after_200_is_an_sse_error_event_carrying_data_error(sim: Simulator, path: str) -> None:
    # The reference's OpenAI wire format: "An SSE `event: error` carries `data.error`".
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}, fault_after_chunks=2))
    body = {"model": "m", "messages": MESSAGES, "prompt": "hi", "stream": True}
    with httpx2.Client(base_url=sim.url) as http:
        text = http.post(path, json=body).text
    last = text.rstrip("\n").split("\n\n")[-1].split("\n")
    assert last[0] == "event: error"
    assert last[1].startswith("data: ")
    error = json.loads(last[1][len("data: ") :])["error"]
    assert error["type"] == "server_error" and error["message"]


def test_truncation_closes_the_connection_or_ends_the_stream_early(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"truncate": 1}, fault_after_chunks=4))
    with pytest.raises(openai.APIConnectionError):
        list(client(sim).chat.completions.create(model="m", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    sim.set_scenario(ProviderSettings(fault_every_n={"truncate": 1}, fault_after_chunks=4, truncate_mode="end"))
    chunks = list(client(sim).chat.completions.create(model="m", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert len(chunks) == 5 and chunks[-1].choices[0].finish_reason is None


def test_malformed_body_fails_to_parse(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"malformed_body": 1}))
    with pytest.raises(json.JSONDecodeError):
        client(sim).chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]


def test_legacy_completions_and_embeddings(sim: Simulator) -> None:
    c = client(sim)
    completion = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert completion.choices[0].finish_reason == "length"  # the API's default max_tokens is 16
    assert completion.usage is not None and completion.usage.completion_tokens == 16
    streamed = list(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=50, stream=True))
    assert len([ch for ch in streamed if ch.choices[0].text]) == 24
    assert streamed[-1].choices[0].finish_reason == "stop"

    embedded = c.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8)
    assert [len(d.embedding) for d in embedded.data] == [8, 8]
    assert abs(sum(v * v for v in embedded.data[0].embedding) - 1) < 1e-3
    assert embedded.usage.prompt_tokens > 0


def test_responses_json_stream_and_retrieve(sim: Simulator) -> None:
    c = client(sim)
    response = c.responses.create(model="gpt-4.1", input="hi", max_output_tokens=100)
    assert response.status == "completed" and response.output_text
    assert response.usage is not None and response.usage.output_tokens == 24
    assert c.responses.retrieve(response.id).output_text == response.output_text

    events = list(c.responses.create(model="gpt-4.1", input="hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 24
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.usage is not None and events[-1].response.usage.output_tokens == 24  # type: ignore[union-attr]
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve("resp_missing")


def test_responses_truncated_by_max_output_tokens_is_incomplete(sim: Simulator) -> None:
    response = client(sim).responses.create(model="m", input="hi", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"


def test_responses_function_call(sim: Simulator) -> None:
    tools = [
        {
            "type": "function",
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    response = client(sim).responses.create(model="m", input="hi", tools=tools, tool_choice="required")  # type: ignore[arg-type]
    item = response.output[0]
    assert item.type == "function_call" and item.name == "lookup" and "q" in json.loads(item.arguments)


@pytest.mark.parametrize("event", ["response.failed", "error"])
def test_responses_error_after_200(sim: Simulator, event: str) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}, responses_error_event=event))  # type: ignore[arg-type]
    events = list(client(sim).responses.create(model="m", input="hi", stream=True))
    assert events[-1].type == event
    assert not any(e.type == "response.completed" for e in events)


def test_azure_and_prefixed_paths(sim: Simulator) -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint=sim.url, api_key="k", api_version="2024-10-21", azure_deployment="my-gpt", max_retries=0
    )
    reply = azure.chat.completions.create(model="my-gpt", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert sim.requests[-1].path == "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    assert sim.requests[-1].headers["api-key"] == "<redacted>"

    compatible = openai.OpenAI(base_url=sim.url + "/openai/v1", api_key="k", max_retries=0)
    assert compatible.chat.completions.create(model="m", messages=MESSAGES).choices  # type: ignore[arg-type]


def test_httpx2_client_sees_chunked_stream_and_content_types(sim: Simulator) -> None:
    with httpx2.Client(base_url=sim.url) as http:
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["transfer-encoding"] == "chunked"
            text = response.read().decode()
        assert text.endswith("data: [DONE]\n\n")
        plain = http.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
        assert plain.headers["content-type"] == "application/json"


async def test_async_client_json_and_stream(sim: Simulator) -> None:
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="k", max_retries=0) as c:
        reply = await c.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        assert reply.usage is not None and reply.usage.completion_tokens == 24
        stream = await c.chat.completions.create(
            model="m",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 24
        events = [e async for e in await c.responses.create(model="m", input="hi", stream=True)]
        assert events[-1].type == "response.completed"
