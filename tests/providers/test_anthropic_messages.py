"""anthropic.messages: POST /v1/messages."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import RequestFacts, Usage

API = "anthropic.messages"
PARSER = get_parser(API)


def request(**body: object) -> RequestFacts:
    return PARSER.parse_request(json.dumps(body).encode(), "/v1/messages", "")


# Requests


def test_request_reads_model_limits_and_sampling() -> None:
    facts = request(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        stream=True,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop_sequences=["\n\nHuman:"],
        service_tier="auto",
    )
    assert facts == RequestFacts(
        model="claude-sonnet-4-5",
        stream=True,
        max_tokens=1024,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop_sequences=("\n\nHuman:",),
        service_tier="auto",
    )


def test_request_tool_choice_any_or_a_named_tool_is_required() -> None:
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert request(tools=tools, tool_choice={"type": "any"}).tool_choice_required
    assert request(tools=tools, tool_choice={"type": "tool", "name": "get_weather"}).tool_choice_required
    assert not request(tools=tools, tool_choice={"type": "auto"}).tool_choice_required
    assert request(tools=tools).has_tools


def test_request_structured_output_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    facts = request(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert (facts.output_type, facts.json_schema) == ("json", schema)


# Non-streamed responses


def test_input_tokens_include_cache_read_and_cache_creation(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("anthropic/message.json"))
    # Anthropic's own input_tokens (21) excludes the cache; the convention's count includes it.
    assert facts.usage == Usage(
        input_tokens=21 + 1800 + 188,
        output_tokens=393,
        cache_read_input_tokens=1800,
        cache_creation_input_tokens=188,
        reasoning_output_tokens=300,
    )


def test_response_id_model_text_and_stop_reason(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("anthropic/message.json"))
    assert (facts.response_id, facts.response_model) == ("msg_013Zva2CMHLNnXjNJJKqJ2EF", "claude-sonnet-4-5-20250929")
    assert facts.output_text == "Hi! My name is Claude."
    assert facts.finish_reasons == ("end_turn",)
    assert facts.service_tier == "standard"
    assert not facts.refusal


def test_response_shape(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("anthropic/message.json"))
    assert facts.shape == ("content", "id", "model", "role", "stop_reason", "stop_sequence", "type", "usage")


def test_tool_use_blocks_are_counted_and_thinking_is_not_text(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("anthropic/message_tool_use.json"))
    assert facts.tool_call_count == 2
    assert facts.finish_reasons == ("tool_use",)
    assert facts.output_text == "I'll check the weather."


def test_refusal_stop_reason_sets_refusal(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("anthropic/message_refusal.json"))
    assert facts.refusal
    assert facts.finish_reasons == ("refusal",)
    assert facts.output_text is None


# Errors


def test_error_type_is_the_error_objects_type(load_fixture) -> None:
    facts = PARSER.parse_error(529, load_fixture("anthropic/error_overloaded.json"))
    assert (facts.error_type, facts.error_message) == ("overloaded_error", "Overloaded")


def test_rate_limit_error(load_fixture) -> None:
    assert PARSER.parse_error(429, load_fixture("anthropic/error_rate_limit.json")).error_type == "rate_limit_error"


def test_error_without_a_json_body_is_the_status_code() -> None:
    assert PARSER.parse_error(502, b"Bad Gateway").error_type == "502"


# Streams


def test_stream_usage_combines_message_start_and_message_delta(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream.sse")
    assert facts.usage == Usage(
        input_tokens=25 + 2000 + 100,
        output_tokens=15,
        cache_read_input_tokens=2000,
        cache_creation_input_tokens=100,
        reasoning_output_tokens=9,
    )


def test_stream_message_delta_usage_is_cumulative_and_overrides(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream_cumulative_usage.sse")
    assert facts.usage == Usage(
        input_tokens=2400 + 700 + 50,
        output_tokens=120,
        cache_read_input_tokens=700,
        cache_creation_input_tokens=50,
    )


def test_stream_message_stop_completes(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream.sse")
    assert facts.completed
    assert facts.finish_reasons == ("end_turn",)
    assert facts.response_id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert facts.response_model == "claude-sonnet-4-5-20250929"
    assert facts.service_tier == "standard"


def test_stream_text_and_thinking_deltas_are_output_signatures_and_pings_are_not(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "anthropic/stream.sse")]
    # start, block start, thinking, signature, block stop, ping, block start, 2 text, block stop, delta, stop
    assert outputs == [False, False, True, False, False, False, False, True, True, False, False, False]
    facts = parser.finish()
    assert facts.output_text == "Hello!"
    assert facts.output_chunks == 3


def test_stream_shape_is_the_message_start_keys(stream_fixture) -> None:
    assert stream_fixture(API, "anthropic/stream.sse").shape == ("message", "type")


def test_stream_tool_use_blocks_and_json_deltas(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream_tool_use.sse")
    assert facts.tool_call_count == 1
    assert facts.output_chunks == 4
    assert facts.finish_reasons == ("tool_use",)
    assert facts.usage == Usage(input_tokens=472, output_tokens=89)


def test_stream_refusal(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream_refusal.sse")
    assert facts.refusal
    assert facts.finish_reasons == ("refusal",)


def test_stream_error_event_after_200(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream_error_after_200.sse")
    assert facts.error_type == "overloaded_error"
    assert facts.error_message == "Overloaded"
    assert not facts.completed
    assert facts.output_text == "Sure"


def test_stream_cut_before_message_stop(stream_fixture) -> None:
    facts = stream_fixture(API, "anthropic/stream_truncated.sse")
    assert not facts.completed
    assert facts.finish_reasons == ()
    assert facts.usage == Usage(
        input_tokens=12, output_tokens=1, cache_read_input_tokens=0, cache_creation_input_tokens=0
    )
    assert facts.output_text == "Half an answer"
