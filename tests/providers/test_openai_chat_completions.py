"""openai.chat_completions: POST /v1/chat/completions, also spoken by OpenAI-compatible servers."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import RequestFacts, Usage

API = "openai.chat_completions"
PARSER = get_parser(API)


def request(**body: object) -> RequestFacts:
    return PARSER.parse_request(json.dumps(body).encode(), "/v1/chat/completions", "")


# Requests


def test_request_reads_model_stream_and_sampling_parameters() -> None:
    facts = request(
        model="gpt-4o",
        stream=True,
        max_tokens=256,
        temperature=0.2,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        seed=7,
        service_tier="flex",
    )
    assert facts == RequestFacts(
        model="gpt-4o",
        stream=True,
        max_tokens=256,
        temperature=0.2,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        seed=7,
        service_tier="flex",
    )


def test_request_max_completion_tokens_is_the_max_tokens() -> None:
    assert request(model="o3", max_completion_tokens=1000).max_tokens == 1000


def test_request_stop_string_becomes_a_one_item_tuple() -> None:
    assert request(stop="END").stop_sequences == ("END",)
    assert request(stop=["a", "b"]).stop_sequences == ("a", "b")


def test_request_choice_count_is_set_only_when_not_one() -> None:
    assert request(n=1).choice_count is None
    assert request(n=3).choice_count == 3


def test_request_include_usage_comes_from_stream_options() -> None:
    assert request(stream=True, stream_options={"include_usage": True}).include_usage is True
    assert request(stream=True).include_usage is None


def test_request_json_schema_response_format_gives_output_type_and_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    facts = request(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert (facts.output_type, facts.json_schema) == ("json", schema)


def test_request_json_object_and_text_formats() -> None:
    assert request(response_format={"type": "json_object"}).output_type == "json"
    assert request(response_format={"type": "text"}).output_type == "text"


def test_request_tools_and_required_tool_choice() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert request(tools=tools).has_tools
    assert not request(tools=tools, tool_choice="auto").tool_choice_required
    assert request(tools=tools, tool_choice="required").tool_choice_required
    named = {"type": "function", "function": {"name": "f"}}
    assert request(tools=tools, tool_choice=named).tool_choice_required


def test_request_garbage_gives_empty_facts() -> None:
    assert PARSER.parse_request(b"not json", "/v1/chat/completions", "") == RequestFacts()
    assert PARSER.parse_request(b"", "/v1/chat/completions", "") == RequestFacts()


def test_request_wrong_types_are_ignored() -> None:
    facts = request(model=3, stream="yes", max_tokens="10", temperature=True, stop=[1, 2])
    assert facts == RequestFacts()


# Non-streamed responses


def test_response_usage_maps_cached_and_reasoning_tokens(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion.json"))
    assert facts.usage == Usage(
        input_tokens=1124, output_tokens=310, cache_read_input_tokens=1024, reasoning_output_tokens=256
    )


def test_response_id_model_fingerprint_and_tier(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion.json"))
    assert facts.response_id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert facts.response_model == "gpt-4o-2024-08-06"
    assert facts.system_fingerprint == "fp_fc9f1d7035"
    assert facts.service_tier == "default"


def test_response_text_and_finish_reason(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion.json"))
    assert facts.output_text == "The capital of France is Paris."
    assert facts.finish_reasons == ("stop",)
    assert facts.completed and facts.parsed and facts.error_type is None


def test_response_shape_is_sorted_top_level_keys(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion.json"))
    assert facts.shape == (
        "choices",
        "created",
        "id",
        "model",
        "object",
        "service_tier",
        "system_fingerprint",
        "usage",
    )


def test_response_finish_reasons_follow_choice_order(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion_n2.json"))
    assert facts.finish_reasons == ("stop", "length")


def test_response_counts_tool_calls(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion_tool_calls.json"))
    assert facts.tool_call_count == 2
    assert facts.finish_reasons == ("tool_calls",)
    assert facts.output_text is None


def test_response_refusal_sets_refusal_and_keeps_its_text(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion_refusal.json"))
    assert facts.refusal
    assert facts.output_text == "I'm sorry, I can't help with that."


def test_response_usage_null_from_a_compatible_server_is_unknown_usage(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion_vllm_usage_null.json"))
    assert facts.usage == Usage()
    assert not facts.usage.known
    assert facts.output_text == "Hello!"


def test_response_deepseek_reasoning_tokens(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/chat_completion_deepseek.json"))
    assert facts.usage == Usage(
        input_tokens=64, output_tokens=300, cache_read_input_tokens=0, reasoning_output_tokens=290
    )


def test_response_that_is_not_json_is_unparsed() -> None:
    facts = PARSER.parse_response(b"<html>502 Bad Gateway</html>")
    assert not facts.parsed


# Errors


def test_error_type_prefers_the_code(load_fixture) -> None:
    facts = PARSER.parse_error(429, load_fixture("openai/error_rate_limit.json"))
    assert facts.error_type == "rate_limit_exceeded"
    assert facts.error_message is not None and facts.error_message.startswith("Rate limit reached")


def test_error_type_falls_back_to_the_type(load_fixture) -> None:
    facts = PARSER.parse_error(400, load_fixture("openai/error_invalid_request.json"))
    assert facts.error_type == "invalid_request_error"


def test_error_top_level_error_object_of_vllm(load_fixture) -> None:
    facts = PARSER.parse_error(404, load_fixture("openai/error_vllm.json"))
    assert facts.error_type == "NotFoundError"
    assert facts.error_message == "The model `gpt-5` does not exist."


def test_error_without_a_body_is_the_status_code() -> None:
    facts = PARSER.parse_error(503, b"upstream connect error")
    assert facts.error_type == "503"
    assert not facts.parsed


# Streams


def test_stream_usage_arrives_in_the_final_empty_choices_chunk(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_usage.sse")
    assert facts.usage == Usage(input_tokens=19, output_tokens=3, cache_read_input_tokens=0, reasoning_output_tokens=0)


def test_stream_done_marker_completes_the_stream(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_usage.sse")
    assert facts.completed
    assert facts.finish_reasons == ("stop",)
    assert (facts.response_id, facts.response_model) == ("chatcmpl-B9Nx", "gpt-4o-2024-08-06")
    assert facts.system_fingerprint == "fp_fc9f1d7035"
    assert facts.service_tier == "default"


def test_stream_output_chunks_are_the_content_deltas(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "openai/chat_completion_stream_usage.sse")]
    # role chunk (empty content), 3 text deltas, finish chunk, usage chunk, [DONE]
    assert outputs == [False, True, True, True, False, False, False]
    facts = parser.finish()
    assert facts.output_chunks == 3
    assert facts.output_text == "Hello there!"


def test_stream_shape_is_the_first_chunk_keys(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_usage.sse")
    assert facts.shape == (
        "choices",
        "created",
        "id",
        "model",
        "object",
        "service_tier",
        "system_fingerprint",
        "usage",
    )


def test_stream_tool_calls_are_counted_once_each(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_tool_calls.sse")
    assert facts.tool_call_count == 2
    assert facts.output_chunks == 5
    assert facts.finish_reasons == ("tool_calls",)
    assert facts.output_text is None


def test_stream_refusal_deltas(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_refusal.sse")
    assert facts.refusal
    assert facts.output_text == "I'm sorry, I can't help with that."
    assert facts.output_chunks == 2


def test_stream_error_event_after_200(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_error_after_200.sse")
    assert facts.error_type == "server_error"
    assert facts.error_message is not None and facts.error_message.startswith("The server had an error")
    assert not facts.completed
    assert facts.output_text == "Once upon"


def test_stream_without_done_is_not_completed_and_has_no_usage(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_truncated.sse")
    assert not facts.completed
    assert not facts.usage.known
    assert facts.output_text == "The quick brown"
    assert facts.finish_reasons == ()


def test_stream_groq_usage_in_x_groq(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/chat_completion_stream_groq.sse")
    assert (facts.usage.input_tokens, facts.usage.output_tokens) == (15, 2)


def test_stream_reasoning_content_delta_is_output_but_not_text() -> None:
    parser = PARSER.stream_parser()
    chunk = {"id": "x", "choices": [{"index": 0, "delta": {"reasoning_content": "Let me think"}}]}
    assert parser.feed(None, json.dumps(chunk).encode())
    assert parser.finish().output_text is None


def test_stream_with_no_events_is_unparsed_and_incomplete() -> None:
    facts = PARSER.stream_parser().finish()
    assert not facts.parsed and not facts.completed


def test_output_text_is_capped_at_64_kib() -> None:
    parser = PARSER.stream_parser()
    chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 1000}}]}).encode()
    for _ in range(100):
        parser.feed(None, chunk)
    facts = parser.finish()
    assert facts.output_text is not None and len(facts.output_text) == 64 * 1024
    assert facts.output_chunks == 100


def test_request_legacy_functions_and_forced_function_call() -> None:
    facts = request(functions=[{"name": "f"}], function_call={"name": "f"})
    assert facts.has_tools and facts.tool_choice_required


# Mistral's /v1/fim/completions and /v1/agents/completions answer in this format (classify routes them here)


def test_a_mistral_fim_completion_reads_as_a_chat_completion(load_fixture) -> None:
    body = load_fixture("openai/mistral_fim_completion.json")
    facts = PARSER.parse_request(b'{"model":"codestral-2501","prompt":"def fib(n):","suffix":"print(fib(9))"}',
                                 "/v1/fim/completions", "")  # fmt: skip
    assert facts.model == "codestral-2501"
    response = PARSER.parse_response(body)
    assert response.output_text is not None and response.output_text.startswith("    if n < 2")
    assert response.usage == Usage(input_tokens=14, output_tokens=22)
    assert response.finish_reasons == ("stop",)


def test_a_streamed_mistral_fim_completion_is_complete_with_its_usage(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/mistral_fim_completion_stream.sse")
    assert facts.completed and facts.output_text == "    return a + b\n"
    assert facts.usage == Usage(input_tokens=11, output_tokens=5)


# Audio output (openai/types/chat/chat_completion_message.py, chat_completion_audio.py, chat_completion_chunk.py)


def test_response_audio_transcript_is_the_output_text_of_an_audio_reply() -> None:
    audio = {"id": "audio_1", "data": "UklGRg==", "expires_at": 1741571000, "transcript": "Hello there"}
    message = {"role": "assistant", "content": None, "refusal": None, "audio": audio}
    body = {"id": "chatcmpl-au1", "object": "chat.completion", "model": "gpt-audio",
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}  # fmt: skip
    assert PARSER.parse_response(json.dumps(body).encode()).output_text == "Hello there"


def test_stream_audio_transcript_and_data_deltas_are_output() -> None:
    parser = PARSER.stream_parser()
    deltas = [
        {"role": "assistant", "content": None},
        {"audio": {"id": "audio_1", "transcript": "Hel"}},
        {"audio": {"transcript": "lo"}},
        {"audio": {"data": "AAAA"}},
        {"audio": {"expires_at": 1741571000}},  # the final update carries no output
    ]
    chunks = [{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]} for d in deltas]
    assert [parser.feed(None, json.dumps(chunk).encode()) for chunk in chunks] == [False, True, True, True, False]
    facts = parser.finish()
    assert (facts.output_chunks, facts.output_text) == (3, "Hello")
