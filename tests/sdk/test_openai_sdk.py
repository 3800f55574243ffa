"""The official openai SDK (3.x, on httpx2), sync and async, streamed and not, against the simulator
mapped as OpenAI: one GenAI span per attempt with what the SDK itself saw, and the SDK's behaviour
unchanged."""

from __future__ import annotations

import asyncio
import gc

import httpx2
import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

import routewatch
from routewatch.simulator import Phase, ProviderSettings, Scenario

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello"}]
USAGE_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


@pytest.fixture
async def aclient(sim):
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0) as c:
        yield c


def _rate_limited_once(sim) -> None:
    """A 429 (retry after 50 ms) for the first request, then normal answers."""
    sim.set_scenario(
        Scenario(
            default=ProviderSettings(output_tokens=6, retry_after_s=0.05, fault_every_n={"http_429": 1}),
            phases=[Phase(start_after_requests=1, default=ProviderSettings(fault_every_n={"http_429": 0}))],
        )
    )


def _ordered(spans):
    return sorted(spans, key=lambda s: s.start_time)


# --- chat completions ------------------------------------------------------------------------------


def test_sdk_client_runs_on_httpx2_and_is_covered_without_any_client_change(client, tel) -> None:
    assert isinstance(client._client, httpx2.Client)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = tel.only_span()
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["routewatch.api"] == "openai.chat_completions"


def test_chat_completion_span_follows_the_convention(client, tel, sim) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = tel.only_span()
    attrs = span.attributes
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["openai.api.type"] == "chat_completions"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == sim.port
    assert "gen_ai.request.stream" not in attrs  # set only when streaming
    assert attrs["http.response.status_code"] == 200
    assert span.status.status_code is StatusCode.UNSET


def test_chat_completion_response_facts_match_what_the_sdk_parsed(client, tel) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == completion.id
    assert attrs["gen_ai.response.model"] == completion.model
    assert list(attrs["gen_ai.response.finish_reasons"]) == [completion.choices[0].finish_reason] == ["stop"]
    assert attrs["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens == 6
    assert attrs["openai.response.system_fingerprint"] == completion.system_fingerprint
    assert attrs["routewatch.usage.known"] is True
    assert attrs["routewatch.cost.usd"] > 0


async def test_async_chat_completion(aclient, tel) -> None:
    completion = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert isinstance(aclient._client, httpx2.AsyncClient)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == completion.id
    assert attrs["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens


def test_request_parameters_are_on_the_span(client, tel) -> None:
    client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=50, temperature=0.25, top_p=0.5, seed=42, stop=["END", "STOP"],
        frequency_penalty=0.1, presence_penalty=0.2,
    )  # fmt: skip
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == 0.25
    assert attrs["gen_ai.request.top_p"] == 0.5
    assert attrs["gen_ai.request.seed"] == 42
    assert list(attrs["gen_ai.request.stop_sequences"]) == ["END", "STOP"]
    assert attrs["gen_ai.request.frequency_penalty"] == 0.1
    assert attrs["gen_ai.request.presence_penalty"] == 0.2


def test_max_completion_tokens_is_the_max_tokens_and_a_cut_reply_finishes_with_length(client, tel) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_completion_tokens=2)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.request.max_tokens"] == 2
    assert completion.choices[0].finish_reason == "length"
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["length"]
    assert attrs["gen_ai.usage.output_tokens"] == 2


def test_tool_call_finishes_with_tool_calls(client, tel) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="required")
    assert completion.choices[0].message.tool_calls
    attrs = tel.only_span().attributes
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["tool_calls"]
    assert "gen_ai.output.type" not in attrs


async def test_streamed_tool_call_finishes_with_tool_calls(aclient, tel) -> None:
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="required", stream=True
    )
    reasons = [c.choices[0].finish_reason async for c in stream if c.choices and c.choices[0].finish_reason]
    assert reasons == ["tool_calls"]
    attrs = tel.only_span().attributes
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["tool_calls"]
    assert attrs["routewatch.stream.output_chunks"] > 0  # argument deltas are output


def test_json_schema_response_format_sets_output_type_json(client, tel) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES, response_format=SCHEMA_FORMAT)
    assert tel.only_span().attributes["gen_ai.output.type"] == "json"


def test_text_response_format_sets_output_type_text(client, tel) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES, response_format={"type": "text"})
    assert tel.only_span().attributes["gen_ai.output.type"] == "text"


# --- streams ---------------------------------------------------------------------------------------


def test_stream_with_include_usage_records_the_usage_chunk(client, tel) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    span = tel.only_span()
    attrs = span.attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens == 6
    assert attrs["routewatch.usage.known"] is True
    assert attrs["routewatch.cost.usd"] > 0
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == 6
    duration = (span.end_time - span.start_time) / 1e9
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] <= duration


async def test_async_stream_with_include_usage_records_the_usage_chunk(aclient, tel) -> None:
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
    assert attrs["gen_ai.usage.input_tokens"] == chunks[-1].usage.prompt_tokens
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_stream_without_include_usage_leaves_usage_unknown_not_zero(client, tel) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    attrs = tel.only_span().attributes
    assert not [key for key in USAGE_KEYS if key in attrs]
    assert attrs["routewatch.usage.known"] is False
    assert "routewatch.cost.usd" not in attrs
    assert attrs["routewatch.stream.completed"] is True  # complete, just without usage
    (record,) = tel.wait_records(1)
    assert record.cost_usd is None
    assert record.usage.input_tokens is None and record.usage.output_tokens is None


def test_stream_broken_early_ends_the_span_without_error(client, tel) -> None:
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            break
    attrs = tel.only_span().attributes
    assert attrs["routewatch.stream.completed"] is False
    assert "error.type" not in attrs


async def test_async_stream_broken_early_ends_the_span_without_error(aclient, tel) -> None:
    async with await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        async for _ in stream:
            break
    attrs = tel.only_span().attributes
    assert attrs["routewatch.stream.completed"] is False
    assert "error.type" not in attrs


def test_stream_close_ends_the_span(client, tel) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    next(iter(stream))
    assert tel.genai_spans() == []  # still in flight
    stream.close()
    span = tel.only_span()
    assert span.attributes["routewatch.stream.completed"] is False
    assert span.status.status_code is StatusCode.UNSET


async def test_async_stream_close_ends_the_span(aclient, tel) -> None:
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    await stream.__aiter__().__anext__()
    await stream.close()
    assert tel.only_span().attributes["routewatch.stream.completed"] is False


def test_stream_dropped_without_close_is_ended_by_garbage_collection(client, tel) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = iter(stream)
    next(chunks)
    assert tel.genai_spans() == []
    del chunks, stream
    gc.collect()
    spans = tel.genai_spans()
    assert len(spans) == 1
    assert spans[0].attributes["routewatch.stream.completed"] is False


async def test_async_stream_dropped_without_close_is_ended_by_garbage_collection(aclient, tel) -> None:
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = stream.__aiter__()
    await chunks.__anext__()
    del chunks, stream
    spans = []
    for _ in range(50):  # the event loop finalises dropped async generators on a later iteration
        gc.collect()
        await asyncio.sleep(0.01)
        if spans := tel.genai_spans():
            break
    assert len(spans) == 1
    assert spans[0].attributes["routewatch.stream.completed"] is False


def test_chat_completions_stream_helper(client, tel) -> None:
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert attrs["routewatch.stream.completed"] is True


def test_raw_and_streaming_response_wrappers_are_covered(client, tel) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    first = raw.parse()
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        second = response.parse()
    spans = _ordered(tel.genai_spans())
    assert [s.attributes["gen_ai.response.id"] for s in spans] == [first.id, second.id]
    assert all(s.attributes["gen_ai.usage.output_tokens"] == 6 for s in spans)


def test_cached_and_reasoning_tokens_are_subsets_of_input_and_output(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, cached_input_tokens=4, reasoning_tokens=3))
    usage = client.chat.completions.create(model=MODEL, messages=MESSAGES).usage
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_tokens  # OpenAI's count already includes the cache
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == usage.prompt_tokens_details.cached_tokens == 4
    assert attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens == 6 + 3
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 3


def test_request_timeout_records_the_exception_class(tel, sim) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"stall": 1}, stall_s=0.5))
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0, timeout=0.1) as impatient:
        with pytest.raises(openai.APITimeoutError) as raised:
            impatient.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = tel.only_span()
    cause = type(raised.value.__cause__).__qualname__
    assert span.attributes["error.type"] == cause == "ReadTimeout"
    assert "http.response.status_code" not in span.attributes
    assert [e.attributes["exception.type"] for e in span.events if e.name == "exception"] == [cause]
    assert span.status.status_code is StatusCode.ERROR


def test_error_chunk_after_200_is_an_error_and_the_sdk_still_raises(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"error_after_200": 1}))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            pass
    span = tel.only_span()
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["error.type"] == "server_error"
    assert span.status.status_code is StatusCode.ERROR


# --- include_usage injection (opt-in) ----------------------------------------------------------------


def test_include_usage_injection_adds_stream_options_and_usage_is_recorded(instrument, client, sim) -> None:
    tel = instrument(providers={sim.url + "/v1": "openai"}, include_usage=True)
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert sim.requests[-1].body["stream_options"] == {"include_usage": True}
    assert chunks[-1].usage is not None  # the server was asked, so it answered
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
    assert attrs["routewatch.usage.known"] is True


async def test_include_usage_injection_works_for_async_clients(instrument, aclient, sim) -> None:
    tel = instrument(providers={sim.url + "/v1": "openai"}, include_usage=True)
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async for _ in stream:
        pass
    assert sim.requests[-1].body["stream_options"] == {"include_usage": True}
    assert tel.only_span().attributes["gen_ai.usage.input_tokens"] > 0


def test_include_usage_injection_leaves_non_streaming_requests_alone(instrument, client, sim) -> None:
    instrument(providers={sim.url + "/v1": "openai"}, include_usage=True)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "stream_options" not in sim.requests[-1].body


def test_include_usage_injection_respects_an_explicit_false(instrument, client, sim) -> None:
    tel = instrument(providers={sim.url + "/v1": "openai"}, include_usage=True)
    list(client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": False}
    ))  # fmt: skip
    assert sim.requests[-1].body["stream_options"] == {"include_usage": False}
    assert tel.only_span().attributes["routewatch.usage.known"] is False


def test_include_usage_is_not_injected_by_default(client, tel, sim) -> None:
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert "stream_options" not in sim.requests[-1].body


def test_a_span_says_when_routewatch_injected_include_usage(instrument, client, sim) -> None:
    tel = instrument(providers={sim.url + "/v1": "openai"}, include_usage=True)
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert tel.only_span().attributes.get("routewatch.request.include_usage_injected") is True


# --- retries -----------------------------------------------------------------------------------------


def test_each_sdk_retry_is_its_own_span(tel, sim) -> None:
    _rate_limited_once(sim)
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=2) as retrying:
        completion = retrying.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert [r.headers.get("x-stainless-retry-count") for r in sim.requests] == ["0", "1"]
    first, second = _ordered(tel.genai_spans())
    assert first.context.span_id != second.context.span_id
    assert first.attributes["http.response.status_code"] == 429
    assert first.attributes["error.type"] == "rate_limit_exceeded"
    assert first.attributes["routewatch.retry_after_s"] == 0.05
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes  # the first attempt is no resend
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["gen_ai.response.id"] == completion.id
    assert "error.type" not in second.attributes


async def test_each_async_sdk_retry_is_its_own_span(tel, sim) -> None:
    _rate_limited_once(sim)
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=2) as retrying:
        await retrying.chat.completions.create(model=MODEL, messages=MESSAGES)
    first, second = _ordered(tel.genai_spans())
    assert first.attributes["error.type"] == "rate_limit_exceeded"
    assert second.attributes["http.request.resend_count"] == 1
    records = tel.wait_records(2)
    assert [r.rate_limited for r in sorted(records, key=lambda r: r.start_time_unix_nano)] == [True, False]


def test_a_rate_limit_the_sdk_gives_up_on_is_one_error_span(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_429": 1}))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = tel.only_span()
    assert span.attributes["error.type"] == "rate_limit_exceeded"
    assert "routewatch.cost.usd" not in span.attributes


# --- responses -------------------------------------------------------------------------------------


def test_responses_create(client, tel) -> None:
    response = client.responses.create(model=MODEL, input="hello", max_output_tokens=40, temperature=0.5)
    span = tel.only_span()
    attrs = span.attributes
    assert span.name == f"chat {MODEL}"
    assert attrs["routewatch.api"] == "openai.responses"
    assert attrs["openai.api.type"] == "responses"
    assert attrs["gen_ai.request.max_tokens"] == 40
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.response.model"] == response.model
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == response.usage.output_tokens == 6
    assert "gen_ai.response.time_to_first_chunk" not in attrs


def test_responses_cut_by_max_output_tokens_finish_with_length(client, tel) -> None:
    response = client.responses.create(model=MODEL, input="hello", max_output_tokens=2)
    assert response.status == "incomplete"
    assert list(tel.only_span().attributes["gen_ai.response.finish_reasons"]) == ["length"]


def test_responses_stream_helper(client, tel) -> None:
    with client.responses.stream(model=MODEL, input="hello") as stream:
        final = stream.get_final_response()
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert attrs["routewatch.stream.completed"] is True


def test_responses_json_schema_sets_output_type_json(client, tel) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    client.responses.create(
        model=MODEL, input="hello", text={"format": {"type": "json_schema", "name": "p", "schema": schema}}
    )
    assert tel.only_span().attributes["gen_ai.output.type"] == "json"


def test_responses_stream_takes_usage_from_response_completed(client, tel) -> None:
    with client.responses.create(model=MODEL, input="hello", stream=True) as stream:
        events = list(stream)
    completed = events[-1]
    assert completed.type == "response.completed"
    span = tel.only_span()
    attrs = span.attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == completed.response.id
    assert attrs["gen_ai.usage.input_tokens"] == completed.response.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == completed.response.usage.output_tokens
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == sum(e.type == "response.output_text.delta" for e in events)
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


async def test_async_responses_stream_takes_usage_from_response_completed(aclient, tel) -> None:
    stream = await aclient.responses.create(model=MODEL, input="hello", stream=True)
    events = [event async for event in stream]
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == events[-1].response.usage.output_tokens
    assert attrs["routewatch.stream.completed"] is True


def test_responses_retrieve_is_a_get_span_for_that_response(client, tel, sim) -> None:
    created = client.responses.create(model=MODEL, input="hello")
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id
    assert sim.requests[-1].method == "GET"
    _, get = _ordered(tel.genai_spans())
    assert get.attributes["routewatch.api"] == "openai.responses"
    assert get.attributes["gen_ai.response.id"] == created.id
    assert get.attributes["http.response.status_code"] == 200
    assert "gen_ai.request.model" not in get.attributes  # a GET has no body to name one


def test_retrieving_a_response_adds_no_cost_or_tokens(client, tel) -> None:
    created = client.responses.create(model=MODEL, input="hello")
    client.responses.retrieve(created.id)
    client.responses.retrieve(created.id)
    create, *gets = _ordered(tel.genai_spans())
    cost = sum(p.value for p in tel.metric_points("routewatch.client.cost"))
    assert cost == pytest.approx(create.attributes["routewatch.cost.usd"])
    for get in gets:
        assert "routewatch.cost.usd" not in get.attributes
        assert "gen_ai.usage.output_tokens" not in get.attributes


def _responses_stream_outcome(client) -> tuple[list[str], str | None]:
    """The event types the SDK yields for a stream, and the exception class it raises, if any."""
    types: list[str] = []
    try:
        with client.responses.create(model=MODEL, input="hello", stream=True) as stream:
            for event in stream:
                types.append(event.type)
    except Exception as exc:
        return types, type(exc).__qualname__
    return types, None


@pytest.mark.parametrize("event", ["response.failed", "error"])
def test_responses_error_after_200_is_an_error_and_the_sdk_behaves_as_uninstrumented(
    event, client, instrument, sim
) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}, responses_error_event=event))
    routewatch.uninstrument()
    plain = _responses_stream_outcome(client)
    tel = instrument(providers={sim.url + "/v1": "openai"})
    instrumented = _responses_stream_outcome(client)
    assert instrumented == plain
    assert plain[0][-1] == event  # the SDK saw the failure event
    span = tel.only_span()
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["error.type"] == "server_error"
    assert span.status.status_code is StatusCode.ERROR


# --- embeddings ------------------------------------------------------------------------------------


def test_embeddings(client, tel) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
    span = tel.only_span()
    attrs = span.attributes
    assert span.name == "embeddings text-embedding-3-small"
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert "gen_ai.usage.output_tokens" not in attrs
    assert "gen_ai.response.finish_reasons" not in attrs


def test_embeddings_span_does_not_claim_the_chat_completions_api(client, tel) -> None:
    client.embeddings.create(model="text-embedding-3-small", input="hello world")
    assert tel.only_span().attributes.get("openai.api.type") != "chat_completions"


async def test_async_embeddings(aclient, tel) -> None:
    result = await aclient.embeddings.create(model="text-embedding-3-small", input="hello world")
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
