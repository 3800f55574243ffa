"""ollama.chat: POST /api/chat, streamed as NDJSON unless the request says otherwise."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import RequestFacts, Usage

API = "ollama.chat"
PARSER = get_parser(API)


def request(**body: object) -> RequestFacts:
    return PARSER.parse_request(json.dumps(body).encode(), "/api/chat", "")


def test_stream_format_is_ndjson() -> None:
    assert PARSER.stream_format == "ndjson"


def test_request_streams_by_default() -> None:
    assert request(model="llama3.2", messages=[]).stream
    assert not request(model="llama3.2", messages=[], stream=False).stream


def test_request_options() -> None:
    facts = request(
        model="llama3.2",
        stream=False,
        options={"num_predict": 128, "temperature": 0.1, "top_p": 0.8, "top_k": 20, "seed": 42, "stop": ["###"]},
    )
    assert facts == RequestFacts(
        model="llama3.2", max_tokens=128, temperature=0.1, top_p=0.8, top_k=20, seed=42, stop_sequences=("###",)
    )


def test_request_unlimited_num_predict_is_no_max_tokens() -> None:
    assert request(options={"num_predict": -1}).max_tokens is None


def test_request_format_json_and_schema() -> None:
    assert request(format="json").output_type == "json"
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    facts = request(format=schema)
    assert (facts.output_type, facts.json_schema) == ("json", schema)


def test_request_tools() -> None:
    assert request(tools=[{"type": "function", "function": {"name": "f"}}]).has_tools


def test_response_usage_is_prompt_eval_and_eval_counts(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("ollama/chat.json"))
    assert facts.usage == Usage(input_tokens=26, output_tokens=10)


def test_response_model_text_and_done_reason(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("ollama/chat.json"))
    assert facts.response_model == "llama3.2"
    assert facts.response_id is None
    assert facts.output_text == "Hello! How can I help you today?"
    assert facts.finish_reasons == ("stop",)
    assert facts.completed


def test_a_streamed_body_read_whole_is_parsed_line_by_line(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("ollama/chat_stream.ndjson"))
    assert facts.output_text == "Hello there!"
    assert facts.usage == Usage(input_tokens=26, output_tokens=282)
    assert facts.completed


def test_error_body_has_only_a_message(load_fixture) -> None:
    facts = PARSER.parse_error(404, load_fixture("ollama/error_not_found.json"))
    assert facts.error_type == "404"
    assert facts.error_message == 'model "llama9" not found, try pulling it first'


def test_stream_final_object_has_usage_and_done(stream_fixture) -> None:
    facts = stream_fixture(API, "ollama/chat_stream.ndjson")
    assert facts.completed
    assert facts.usage == Usage(input_tokens=26, output_tokens=282)
    assert facts.finish_reasons == ("stop",)
    assert facts.response_model == "qwen3"


def test_stream_thinking_and_content_are_output_but_only_content_is_text(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "ollama/chat_stream.ndjson")]
    assert outputs == [True, True, True, False]
    facts = parser.finish()
    assert facts.output_text == "Hello there!"
    assert facts.shape == ("created_at", "done", "message", "model")


def test_stream_tool_calls_arrive_whole(stream_fixture) -> None:
    facts = stream_fixture(API, "ollama/chat_stream_tool_calls.ndjson")
    assert facts.tool_call_count == 2
    assert facts.output_chunks == 1


def test_stream_without_done_is_not_completed(stream_fixture) -> None:
    facts = stream_fixture(API, "ollama/chat_stream_truncated.ndjson")
    assert not facts.completed
    assert not facts.usage.known
    assert facts.output_text == "Once upon"


def test_stream_error_line(stream_fixture) -> None:
    facts = stream_fixture(API, "ollama/chat_stream_error.ndjson")
    assert facts.error_type == "error"
    assert facts.error_message == "an error was encountered while running the model: unexpected EOF"
    assert not facts.completed
