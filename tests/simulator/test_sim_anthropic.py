"""The official anthropic SDK (sync and async) parses the simulator's Messages API."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from routewatch.simulator import ProviderSettings, Simulator

MESSAGES = [{"role": "user", "content": "Hello"}]
MODEL = "claude-haiku-4-5"


@pytest.fixture(autouse=True)
def _no_sdk_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")


@pytest.fixture
def claude(sim: Simulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


def test_message_with_cache_usage(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.set_scenario(ProviderSettings(input_tokens=100, cached_input_tokens=60, cache_creation_input_tokens=10))
    message = claude.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)  # type: ignore[arg-type]
    assert message.model == MODEL and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (30, 60, 10)
    assert usage.output_tokens == 24
    assert "sk-ant-test" not in str(sim.requests[-1].headers)


def test_stream_events_and_cumulative_usage(sim: Simulator, claude: anthropic.Anthropic) -> None:
    events = list(claude.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 24
    delta = events[-2]
    assert delta.type == "message_delta" and delta.usage.output_tokens == 24
    assert delta.delta.stop_reason == "end_turn"


def test_stream_helper_final_message(sim: Simulator, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=MODEL, max_tokens=5, messages=MESSAGES) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 5
    assert final.content[0].text == text  # type: ignore[union-attr]


def test_forced_tool_use(sim: Simulator, claude: anthropic.Anthropic) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    message = claude.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "any"},
    )
    block = message.content[0]
    assert message.stop_reason == "tool_use"
    assert block.type == "tool_use" and block.name == "lookup" and set(block.input) == {"q"}  # type: ignore[arg-type]
    with claude.messages.stream(
        model=MODEL,
        max_tokens=1024,
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "any"},
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and set(final.content[0].input) == {"q"}  # type: ignore[arg-type]


def test_529_is_an_overloaded_error_with_the_real_body(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_529": 1}))
    with pytest.raises(anthropic.OverloadedError) as info:
        claude.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
    body = info.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error" and body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"].startswith("req_")
    assert info.value.response.headers["retry-after"] == "1"


def test_429_is_a_rate_limit_error(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_429": 1}))
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]


def test_error_event_after_200(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}))
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        list(claude.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True))  # type: ignore[arg-type]


def test_truncated_stream_never_sends_message_stop(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"truncate": 1}, truncate_mode="end"))
    events = list(claude.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "message_stop" not in [e.type for e in events]


def test_rate_limit_headers(sim: Simulator, claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "9999"
    assert raw.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert int(raw.headers["anthropic-ratelimit-tokens-remaining"]) < 2_000_000


async def test_async_stream(sim: Simulator) -> None:
    c = anthropic.AsyncAnthropic(base_url=sim.url, api_key="k", max_retries=0)
    async with c, c.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:  # type: ignore[arg-type]
        final = await stream.get_final_message()
    assert final.usage.output_tokens == 24 and final.stop_reason == "end_turn"
