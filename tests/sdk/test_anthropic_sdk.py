"""The official anthropic SDK (2.x, on httpx2; its own tracing off), sync and async, against the
simulator: messages.create, streams and the messages.stream helper, cache token arithmetic, finish
reasons, overload and mid-stream errors, and recognition of unknown hosts by the anthropic-version
header."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from opentelemetry.trace import StatusCode

from routewatch.simulator import Phase, ProviderSettings, Scenario

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "hello"}]
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


@pytest.fixture
def tel(instrument, sim):
    return instrument(providers={sim.url: "anthropic"})


@pytest.fixture
def client(sim):
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(sim):
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as c:
        yield c


@pytest.fixture
def cached(sim):
    """100 prompt tokens: 50 fresh, 30 read from the cache, 20 written to it."""
    sim.set_scenario(
        ProviderSettings(output_tokens=6, input_tokens=100, cached_input_tokens=30, cache_creation_input_tokens=20)
    )


def _create(client, **extra):
    return client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, **extra)


def test_sdk_client_runs_on_httpx2(client) -> None:
    assert isinstance(client._client, httpx2.Client)


def test_message_span_follows_the_convention(client, tel) -> None:
    # anthropic 2.x dropped the sampling arguments; the wire format still has them
    message = _create(client, stop_sequences=["END"], extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 40})
    span = tel.only_span()
    attrs = span.attributes
    assert span.name == f"chat {MODEL}"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["routewatch.api"] == "anthropic.messages"
    assert attrs["gen_ai.request.max_tokens"] == 100
    assert attrs["gen_ai.request.temperature"] == 0.3
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.top_k"] == 40
    assert list(attrs["gen_ai.request.stop_sequences"]) == ["END"]
    assert attrs["gen_ai.response.id"] == message.id
    assert attrs["gen_ai.response.model"] == message.model
    assert list(attrs["gen_ai.response.finish_reasons"]) == [message.stop_reason] == ["end_turn"]
    assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens == 6
    assert attrs["routewatch.cost.usd"] > 0


def test_input_tokens_include_cache_reads_and_writes(client, tel, cached) -> None:
    message = _create(client)
    assert message.usage.input_tokens == 50  # Anthropic's count excludes the cache
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.input_tokens"] == 50 + 30 + 20
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == message.usage.cache_read_input_tokens == 30
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == message.usage.cache_creation_input_tokens == 20


def test_streamed_input_tokens_include_cache_reads_and_writes(client, tel, cached) -> None:
    for _ in _create(client, stream=True):
        pass
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.input_tokens"] == 100
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 30
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert attrs["gen_ai.usage.output_tokens"] == 6


def test_thinking_tokens_are_reasoning_output(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, reasoning_tokens=5))
    message = _create(client)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens == 6 + 5
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 5


async def test_async_message(aclient, tel) -> None:
    message = await aclient.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == message.id
    assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens


def test_stream_true(client, tel) -> None:
    events = list(_create(client, stream=True))
    assert events[-1].type == "message_stop"
    span = tel.only_span()
    attrs = span.attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == events[0].message.id
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["end_turn"]
    assert attrs["gen_ai.usage.output_tokens"] == 6
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["routewatch.stream.output_chunks"] == sum(e.type == "content_block_delta" for e in events)
    duration = (span.end_time - span.start_time) / 1e9
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] <= duration


async def test_async_stream_true(aclient, tel) -> None:
    stream = await aclient.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)
    events = [event async for event in stream]
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == events[0].message.id
    assert attrs["routewatch.stream.completed"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_stream_helper(client, tel) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert attrs["gen_ai.usage.input_tokens"] == final.usage.input_tokens
    assert list(attrs["gen_ai.response.finish_reasons"]) == [final.stop_reason]
    assert attrs["routewatch.stream.completed"] is True


async def test_async_stream_helper(aclient, tel) -> None:
    async with aclient.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        final = await stream.get_final_message()
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert attrs["routewatch.stream.completed"] is True


def test_stream_helper_left_early_ends_the_span(client, tel) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        for _ in stream.text_stream:
            break
    attrs = tel.only_span().attributes
    assert attrs["routewatch.stream.completed"] is False
    assert "error.type" not in attrs


def test_max_tokens_finish_reason(client, tel) -> None:
    message = client.messages.create(model=MODEL, max_tokens=3, messages=MESSAGES)
    assert message.stop_reason == "max_tokens"
    attrs = tel.only_span().attributes
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["max_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == 3


def test_streamed_max_tokens_finish_reason(client, tel) -> None:
    with client.messages.stream(model=MODEL, max_tokens=3, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert list(tel.only_span().attributes["gen_ai.response.finish_reasons"]) == ["max_tokens"]


def test_tool_use_finish_reason(client, tel) -> None:
    message = _create(client, tools=TOOLS, tool_choice={"type": "any"})
    assert message.stop_reason == "tool_use"
    assert list(tel.only_span().attributes["gen_ai.response.finish_reasons"]) == ["tool_use"]


def test_overloaded_529_is_an_overloaded_error(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_529": 1}))
    with pytest.raises(anthropic.APIStatusError) as raised:
        _create(client)
    assert raised.value.status_code == 529
    span = tel.only_span()
    assert span.attributes["http.response.status_code"] == 529
    assert span.attributes["error.type"] == "overloaded_error"
    assert span.attributes["routewatch.retry_after_s"] == 1.0
    assert span.status.status_code is StatusCode.ERROR
    (record,) = tel.wait_records(1)
    assert record.server_error and not record.ok


def test_overload_retried_by_the_sdk_gives_one_span_per_attempt(tel, sim) -> None:
    sim.set_scenario(
        Scenario(
            default=ProviderSettings(output_tokens=6, retry_after_s=0.05, fault_every_n={"http_529": 1}),
            phases=[Phase(start_after_requests=1, default=ProviderSettings(fault_every_n={"http_529": 0}))],
        )
    )
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=1) as retrying:
        message = _create(retrying)
    first, second = sorted(tel.genai_spans(), key=lambda s: s.start_time)
    assert first.attributes["error.type"] == "overloaded_error"
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["gen_ai.response.id"] == message.id


def test_error_event_after_200_is_an_error(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"error_after_200": 1}))
    with pytest.raises(anthropic.APIStatusError):
        for _ in _create(client, stream=True):
            pass
    span = tel.only_span()
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["error.type"] == "overloaded_error"
    assert span.attributes["routewatch.stream.completed"] is False
    assert span.status.status_code is StatusCode.ERROR


async def test_async_error_event_after_200_is_an_error(aclient, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"error_after_200": 1}))
    with pytest.raises(anthropic.APIStatusError):
        async with aclient.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
            await stream.get_final_message()
    span = tel.only_span()
    assert span.attributes["error.type"] == "overloaded_error"
    assert span.status.status_code is StatusCode.ERROR


def test_stream_that_ends_before_message_stop_is_an_incomplete_stream(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"truncate": 1}, truncate_mode="end"))
    events = list(_create(client, stream=True))  # the SDK itself does not complain
    assert events[-1].type == "content_block_delta"
    span = tel.only_span()
    assert span.attributes["error.type"] == "incomplete_stream"
    assert span.attributes["routewatch.stream.completed"] is False
    assert span.status.status_code is StatusCode.ERROR


def test_dropped_connection_mid_stream_records_the_exception_class(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=6, fault_every_n={"truncate": 1}, truncate_mode="close"))
    with pytest.raises(Exception) as raised:
        for _ in _create(client, stream=True):
            pass
    # the span records what the transport saw: the SDK raises it as is, or (anthropic >= 2.17) wrapped
    # in an APIConnectionError whose cause it is
    seen = raised.value.__cause__ if isinstance(raised.value, anthropic.APIConnectionError) else raised.value
    span = tel.only_span()
    assert span.attributes["error.type"] == type(seen).__qualname__
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"] == type(seen).__qualname__
    assert span.status.status_code is StatusCode.ERROR


def test_unknown_host_is_recognised_by_the_anthropic_version_header(instrument, client, sim) -> None:
    tel = instrument()  # no mapping: only the path and the SDK's anthropic-version header say "anthropic"
    _create(client)
    assert "anthropic-version" in sim.requests[-1].headers
    attrs = tel.only_span().attributes
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.usage.output_tokens"] == 6


def test_messages_path_without_the_header_on_an_unknown_host_is_not_a_provider_call(instrument, sim) -> None:
    tel = instrument()
    body = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}
    with httpx2.Client() as raw:
        assert raw.post(sim.url + "/v1/messages", json=body).status_code == 200
    assert tel.genai_spans() == []


def test_anthropic_span_carries_no_openai_attributes(client, tel) -> None:
    _create(client)
    attrs = tel.only_span().attributes
    assert [key for key in attrs if key.startswith("openai.")] == []
