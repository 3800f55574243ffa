"""cohere.chat: POST /v2/chat."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import RequestFacts, Usage

API = "cohere.chat"
PARSER = get_parser(API)


def request(**body: object) -> RequestFacts:
    return PARSER.parse_request(json.dumps(body).encode(), "/v2/chat", "")


def test_request_p_and_k_are_top_p_and_top_k() -> None:
    facts = request(model="command-a-03-2025", stream=True, max_tokens=300, temperature=0.3, p=0.75, k=50, seed=3)
    assert facts == RequestFacts(
        model="command-a-03-2025", stream=True, max_tokens=300, temperature=0.3, top_p=0.75, top_k=50, seed=3
    )


def test_request_json_object_with_schema() -> None:
    schema = {"type": "object"}
    facts = request(response_format={"type": "json_object", "json_schema": schema})
    assert (facts.output_type, facts.json_schema) == ("json", schema)


def test_request_tool_choice_required() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert request(tools=tools, tool_choice="REQUIRED").tool_choice_required
    assert not request(tools=tools, tool_choice="NONE").tool_choice_required


def test_response_prefers_billed_units_which_are_what_cohere_charges(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("cohere/chat.json"))
    assert facts.usage == Usage(input_tokens=17, output_tokens=12, cache_read_input_tokens=128)


def test_response_falls_back_to_billed_units(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("cohere/chat_billed_only.json"))
    assert facts.usage == Usage(input_tokens=30, output_tokens=50)
    assert facts.finish_reasons == ("MAX_TOKENS",)


def test_response_id_text_and_finish_reason_and_no_model(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("cohere/chat.json"))
    assert facts.response_id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert facts.output_text == "LLMs are neural networks trained on large text corpora."
    assert facts.finish_reasons == ("COMPLETE",)
    assert facts.response_model is None
    assert facts.shape == ("finish_reason", "id", "message", "usage")


def test_response_tool_calls(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("cohere/chat_tool_calls.json"))
    assert facts.tool_call_count == 2
    assert facts.finish_reasons == ("TOOL_CALL",)


def test_error_type_is_the_status_code(load_fixture) -> None:
    facts = PARSER.parse_error(429, load_fixture("cohere/error_rate_limit.json"))
    assert facts.error_type == "429"
    assert facts.error_message is not None and facts.error_message.startswith("You are using a Trial key")


def test_stream_message_end_carries_usage_and_completes(stream_fixture) -> None:
    facts = stream_fixture(API, "cohere/chat_stream.sse")
    assert facts.completed
    assert facts.usage == Usage(input_tokens=35, output_tokens=9)
    assert facts.finish_reasons == ("COMPLETE",)
    assert facts.response_id == "a8fc192e-4bb8-4e15-ae1f-a174e8b02ae8"


def test_stream_content_deltas_are_output(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "cohere/chat_stream.sse")]
    assert outputs == [False, False, True, True, False, False]
    facts = parser.finish()
    assert facts.output_text == "Coca-Cola is a drink."
    assert facts.shape == ("delta", "id", "type")


def test_stream_tool_plan_and_tool_call_deltas_are_output(stream_fixture) -> None:
    facts = stream_fixture(API, "cohere/chat_stream_tool_calls.sse")
    assert facts.tool_call_count == 2
    assert facts.output_chunks == 5
    assert facts.finish_reasons == ("TOOL_CALL",)


def test_stream_error_in_message_end(stream_fixture) -> None:
    facts = stream_fixture(API, "cohere/chat_stream_error.sse")
    assert facts.error_type == "error"
    assert facts.error_message == "internal server error, this has been reported to our developers"
    assert facts.finish_reasons == ("ERROR",)


def test_stream_cut_before_message_end(stream_fixture) -> None:
    facts = stream_fixture(API, "cohere/chat_stream_truncated.sse")
    assert not facts.completed
    assert not facts.usage.known
    assert facts.output_text == "Half"
