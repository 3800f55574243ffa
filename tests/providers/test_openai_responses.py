"""openai.responses: POST /v1/responses and GET /v1/responses/{id}."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import RequestFacts, Usage

API = "openai.responses"
PARSER = get_parser(API)


def request(**body: object) -> RequestFacts:
    return PARSER.parse_request(json.dumps(body).encode(), "/v1/responses", "")


# Requests


def test_request_max_output_tokens_is_the_max_tokens() -> None:
    facts = request(model="gpt-4.1", input="hi", max_output_tokens=500, stream=True)
    assert (facts.model, facts.max_tokens, facts.stream) == ("gpt-4.1", 500, True)


def test_request_text_format_json_schema() -> None:
    schema = {"type": "object", "properties": {}}
    facts = request(text={"format": {"type": "json_schema", "name": "x", "schema": schema, "strict": True}})
    assert (facts.output_type, facts.json_schema) == ("json", schema)


def test_request_text_format_text() -> None:
    assert request(text={"format": {"type": "text"}}).output_type == "text"


def test_request_named_function_tool_choice_is_required() -> None:
    tools = [{"type": "function", "name": "f", "parameters": {}}]
    assert request(tools=tools, tool_choice={"type": "function", "name": "f"}).tool_choice_required
    assert not request(tools=tools, tool_choice="auto").tool_choice_required


def test_get_request_has_no_body_and_reads_stream_from_the_query() -> None:
    assert PARSER.parse_request(b"", "/v1/responses/resp_1", "") == RequestFacts()
    assert PARSER.parse_request(b"", "/v1/responses/resp_1", "stream=true&starting_after=3").stream


# Non-streamed responses


def test_response_usage_maps_cached_and_reasoning_tokens(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/responses.json"))
    assert facts.usage == Usage(
        input_tokens=2036, output_tokens=426, cache_read_input_tokens=1920, reasoning_output_tokens=320
    )


def test_response_id_model_text_and_tier(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/responses.json"))
    assert facts.response_id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    assert facts.response_model == "gpt-4.1-2025-04-14"
    assert facts.output_text == "In a peaceful grove beneath a silver moon, a unicorn named Lumina slept."
    assert facts.service_tier == "default"


def test_completed_message_finishes_with_stop(load_fixture) -> None:
    assert PARSER.parse_response(load_fixture("openai/responses.json")).finish_reasons == ("stop",)


def test_completed_function_calls_finish_with_tool_calls(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/responses_function_call.json"))
    assert facts.finish_reasons == ("tool_calls",)
    assert facts.tool_call_count == 2


def test_incomplete_for_max_output_tokens_finishes_with_length(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/responses_incomplete.json"))
    assert facts.finish_reasons == ("length",)
    assert facts.usage.reasoning_output_tokens == 16


def test_refusal_content_sets_refusal(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/responses_refusal.json"))
    assert facts.refusal
    assert facts.output_text == "I'm sorry, I can't assist with that."


def test_response_shape(load_fixture) -> None:
    shape = PARSER.parse_response(load_fixture("openai/responses_function_call.json")).shape
    assert shape == (
        "created_at",
        "error",
        "id",
        "incomplete_details",
        "model",
        "object",
        "output",
        "service_tier",
        "status",
        "usage",
    )


# Streams


def test_stream_usage_and_finish_come_from_response_completed(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream.sse")
    assert facts.completed
    assert facts.usage == Usage(input_tokens=37, output_tokens=11, cache_read_input_tokens=0, reasoning_output_tokens=8)
    assert facts.finish_reasons == ("stop",)
    assert (facts.response_id, facts.response_model) == ("resp_st01", "gpt-4.1-2025-04-14")


def test_stream_text_and_reasoning_deltas_are_output(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "openai/responses_stream.sse")]
    # created, in_progress, item added, reasoning delta, item added, part added, 2 text deltas, done, completed
    assert outputs == [False, False, False, True, False, False, True, True, False, False]
    facts = parser.finish()
    assert facts.output_text == "Hi there!"
    assert facts.output_chunks == 3


def test_stream_shape_is_the_first_event_keys(stream_fixture) -> None:
    assert stream_fixture(API, "openai/responses_stream.sse").shape == ("response", "sequence_number", "type")


def test_stream_function_call_arguments_are_output(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream_tool_calls.sse")
    assert facts.output_chunks == 2
    assert facts.tool_call_count == 1
    assert facts.finish_reasons == ("tool_calls",)


def test_stream_incomplete_is_terminal_with_its_reason(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream_incomplete.sse")
    assert facts.completed
    assert facts.finish_reasons == ("content_filter",)
    assert facts.error_type is None


def test_stream_refusal_delta(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream_refusal.sse")
    assert facts.refusal
    assert facts.output_text == "I can't help with that."
    assert facts.output_chunks == 1


def test_stream_failed_is_terminal_and_an_error(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream_failed.sse")
    assert facts.completed
    assert facts.error_type == "server_error"
    assert facts.error_message == "The model failed to generate a response."
    assert facts.finish_reasons == ()


def test_stream_bare_error_event(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream_error_event.sse")
    assert facts.error_type == "rate_limit_exceeded"
    assert facts.error_message == "Rate limit reached for requests."
    assert not facts.completed
    assert facts.response_id == "resp_st05"


def test_stream_cut_before_a_terminal_event(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/responses_stream_truncated.sse")
    assert not facts.completed
    assert not facts.usage.known
    assert facts.output_text == "Half a sentence"
    assert facts.response_model == "gpt-4.1-2025-04-14"


# Client-executed tool calls and streamed tool inputs other than function arguments
# (openai/types/responses/response_output_item.py, response_stream_event.py)


def test_a_computer_call_is_a_tool_call_the_caller_must_answer() -> None:
    body = {
        "id": "resp_cu1",
        "object": "response",
        "status": "completed",
        "model": "computer-use-preview",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "computer_call", "id": "cu_1", "call_id": "call_1", "action": {"type": "screenshot"},
             "pending_safety_checks": [], "status": "completed"},
        ],
    }  # fmt: skip
    facts = PARSER.parse_response(json.dumps(body).encode())
    assert facts.tool_call_count == 1
    assert facts.finish_reasons == ("tool_calls",)


def test_shell_local_shell_and_apply_patch_calls_are_tool_calls() -> None:
    output = [
        {"type": "shell_call", "id": "sh_1", "call_id": "call_1", "action": {"commands": ["ls"]},
         "status": "completed"},
        {"type": "local_shell_call", "id": "ls_1", "call_id": "call_2", "action": {"type": "exec", "command": ["ls"]},
         "status": "completed"},
        {"type": "apply_patch_call", "id": "ap_1", "call_id": "call_3",
         "operation": {"type": "delete_file", "path": "a.py"}, "status": "completed"},
    ]  # fmt: skip
    facts = PARSER.parse_response(json.dumps({"id": "r", "status": "completed", "output": output}).encode())
    assert (facts.tool_call_count, facts.finish_reasons) == (3, ("tool_calls",))


def test_a_streamed_computer_call_item_is_counted() -> None:
    parser = PARSER.stream_parser()
    event = {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
             "item": {"type": "computer_call", "id": "cu_1", "call_id": "call_1", "status": "in_progress"}}  # fmt: skip
    parser.feed("response.output_item.added", json.dumps(event).encode())
    assert parser.finish().tool_call_count == 1


def test_stream_mcp_arguments_code_interpreter_code_and_shell_command_deltas_are_output() -> None:
    parser = PARSER.stream_parser()
    events = [
        {"type": "response.mcp_call_arguments.delta", "delta": '{"q":', "item_id": "mcp_1", "output_index": 0,
         "sequence_number": 3},
        {"type": "response.code_interpreter_call_code.delta", "delta": "print(1)", "item_id": "ci_1",
         "output_index": 1, "sequence_number": 4},
        {"type": "response.shell_call_command.delta", "delta": "ls -l", "command_index": 0, "output_index": 2,
         "sequence_number": 5},
    ]  # fmt: skip
    assert [parser.feed(str(event["type"]), json.dumps(event).encode()) for event in events] == [True, True, True]
    facts = parser.finish()
    assert facts.output_chunks == 3
    assert facts.output_text is None  # tool inputs are not message text


def test_stream_shell_output_and_partial_images_are_tool_results_not_output() -> None:
    parser = PARSER.stream_parser()
    events = [
        {"type": "response.shell_call_output_content.delta", "delta": {"stdout": "a.py\n"}, "command_index": 0,
         "item_id": "sh_1", "output_index": 0, "sequence_number": 6},
        {"type": "response.image_generation_call.partial_image", "partial_image_b64": "iVBOR", "item_id": "ig_1",
         "output_index": 1, "partial_image_index": 0, "sequence_number": 7},
    ]  # fmt: skip
    assert [parser.feed(str(event["type"]), json.dumps(event).encode()) for event in events] == [False, False]
