"""gemini.generate_content: `:generateContent` and `:streamGenerateContent` on AI Studio and Vertex."""

from __future__ import annotations

import json

import pytest

from routewatch.providers import get_parser
from routewatch.records import RequestFacts, Usage

API = "gemini.generate_content"
PARSER = get_parser(API)
STUDIO = "/v1beta/models/gemini-2.5-flash:generateContent"


def request(path: str = STUDIO, query: str = "", **body: object) -> RequestFacts:
    return PARSER.parse_request(json.dumps(body).encode(), path, query)


# Requests


@pytest.mark.parametrize(
    ("path", "model", "stream"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash", False),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "gemini-2.5-flash", True),
        (
            "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash-001:generateContent",
            "gemini-2.0-flash-001",
            False,
        ),
        (
            "/v1beta1/projects/p1/locations/global/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
            "gemini-2.5-pro",
            True,
        ),
    ],
)
def test_request_model_and_stream_come_from_the_path(path: str, model: str, stream: bool) -> None:
    facts = request(path, "alt=sse" if stream else "", contents=[])
    assert (facts.model, facts.stream) == (model, stream)


def test_request_without_a_body_still_has_model_and_stream() -> None:
    facts = PARSER.parse_request(b"", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse")
    assert facts == RequestFacts(model="gemini-2.5-flash", stream=True)


def test_request_generation_config() -> None:
    facts = request(
        generationConfig={
            "maxOutputTokens": 800,
            "temperature": 0.7,
            "topP": 0.95,
            "topK": 40,
            "candidateCount": 2,
            "seed": 11,
            "stopSequences": ["END"],
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
        }
    )
    assert facts == RequestFacts(
        model="gemini-2.5-flash",
        max_tokens=800,
        temperature=0.7,
        top_p=0.95,
        top_k=40,
        choice_count=2,
        seed=11,
        stop_sequences=("END",),
        presence_penalty=0.1,
        frequency_penalty=0.2,
    )


def test_request_snake_case_config_is_read_too() -> None:
    facts = request(generation_config={"max_output_tokens": 64, "top_p": 0.5})
    assert (facts.max_tokens, facts.top_p) == (64, 0.5)


def test_request_json_mime_type_and_schema() -> None:
    schema = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}
    assert request(generationConfig={"responseMimeType": "application/json"}).output_type == "json"
    facts = request(generationConfig={"responseMimeType": "application/json", "responseSchema": schema})
    assert (facts.output_type, facts.json_schema) == ("json", schema)
    facts = request(generationConfig={"responseJsonSchema": schema})
    assert (facts.output_type, facts.json_schema) == ("json", schema)


def test_request_function_calling_mode_any_is_required() -> None:
    tools = [{"functionDeclarations": [{"name": "f"}]}]
    facts = request(tools=tools, toolConfig={"functionCallingConfig": {"mode": "ANY"}})
    assert facts.has_tools and facts.tool_choice_required
    assert not request(tools=tools, toolConfig={"functionCallingConfig": {"mode": "AUTO"}}).tool_choice_required


# Non-streamed responses


def test_output_tokens_are_candidates_plus_thoughts(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/generate_content.json"))
    assert facts.usage == Usage(
        input_tokens=1200,
        output_tokens=18 + 242,
        cache_read_input_tokens=1024,
        reasoning_output_tokens=242,
    )


def test_tool_use_prompt_tokens_are_input_tokens() -> None:
    # totalTokenCount = prompt + candidates + toolUsePrompt: the tool-use prompt is billed as input
    usage = {"promptTokenCount": 40, "candidatesTokenCount": 7, "toolUsePromptTokenCount": 300, "totalTokenCount": 347}
    body = {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}], "usageMetadata": usage}
    assert PARSER.parse_response(json.dumps(body).encode()).usage == Usage(input_tokens=340, output_tokens=7)
    body["usageMetadata"] = {"toolUsePromptTokenCount": 300}
    assert PARSER.parse_response(json.dumps(body).encode()).usage.input_tokens is None  # no prompt count: unknown


def test_model_version_and_response_id(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/generate_content.json"))
    assert (facts.response_model, facts.response_id) == ("gemini-2.5-flash", "mJ3KaJ2NKqG5nvgPnZDU-Ak")


def test_text_excludes_thought_parts(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/generate_content.json"))
    assert facts.output_text == "Autumn moonlight—\na worm digs silently\ninto the chestnut."


def test_finish_reason_is_gemini_s_own(load_fixture) -> None:
    assert PARSER.parse_response(load_fixture("gemini/generate_content.json")).finish_reasons == ("STOP",)
    facts = PARSER.parse_response(load_fixture("gemini/generate_content_max_tokens.json"))
    assert facts.finish_reasons == ("MAX_TOKENS",)


def test_response_shape_and_completion(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/generate_content.json"))
    assert facts.shape == ("candidates", "modelVersion", "responseId", "usageMetadata")
    assert facts.completed and facts.parsed
    assert facts.output_chunks == 0


def test_function_calls_are_counted(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/generate_content_function_call.json"))
    assert facts.tool_call_count == 2
    assert facts.output_text is None


def test_blocked_prompt_is_a_refusal_with_the_block_reason(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/prompt_blocked.json"))
    assert facts.refusal
    assert facts.finish_reasons == ("PROHIBITED_CONTENT",)
    assert facts.usage == Usage(input_tokens=41)


def test_a_non_sse_stream_read_whole_is_a_json_array(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/stream_array.json"))
    assert facts.output_text == "Hello world"
    assert facts.usage == Usage(input_tokens=3, output_tokens=2)
    assert facts.finish_reasons == ("STOP",)


# Errors


def test_error_type_is_the_status_string(load_fixture) -> None:
    facts = PARSER.parse_error(429, load_fixture("gemini/error_resource_exhausted.json"))
    assert facts.error_type == "RESOURCE_EXHAUSTED"
    assert facts.error_message is not None and facts.error_message.startswith("You exceeded your current quota")


def test_error_in_an_array_body() -> None:
    body = b'[{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}]'
    assert PARSER.parse_error(400, body).error_type == "INVALID_ARGUMENT"


# Streams


def test_stream_usage_repeats_and_the_last_wins(stream_fixture) -> None:
    facts = stream_fixture(API, "gemini/stream.sse")
    assert facts.usage == Usage(input_tokens=9, output_tokens=7 + 26, reasoning_output_tokens=26)


def test_stream_is_complete_once_a_finish_reason_arrives(stream_fixture) -> None:
    facts = stream_fixture(API, "gemini/stream.sse")
    assert facts.completed
    assert facts.finish_reasons == ("STOP",)
    assert facts.output_text == "The quick brown fox jumps."
    assert facts.output_chunks == 3
    assert facts.response_id == "sT8xaN3KEtPInvgP1uTgwQ8"


def test_stream_without_a_finish_reason_is_not_completed(stream_fixture) -> None:
    facts = stream_fixture(API, "gemini/stream_truncated.sse")
    assert not facts.completed
    assert facts.output_text == "Once upon a time"
    assert facts.usage == Usage(input_tokens=5, output_tokens=4)


def test_stream_function_call_chunk_is_output(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "gemini/stream_function_call.sse")]
    assert outputs == [True, False]
    assert parser.finish().tool_call_count == 1


def test_stream_blocked_prompt_ends_the_stream(stream_fixture) -> None:
    facts = stream_fixture(API, "gemini/stream_blocked.sse")
    assert facts.refusal and facts.completed
    assert facts.finish_reasons == ("SAFETY",)


def test_stream_error_after_200(stream_fixture) -> None:
    facts = stream_fixture(API, "gemini/stream_error_after_200.sse")
    assert facts.error_type == "UNAVAILABLE"
    assert not facts.completed
    assert facts.output_text == "Partial"
