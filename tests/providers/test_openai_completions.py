"""openai.completions: the legacy POST /v1/completions, with `choices[].text`."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import Usage

API = "openai.completions"
PARSER = get_parser(API)


def test_operation_is_text_completion() -> None:
    assert PARSER.operation == "text_completion"


def test_request_reads_max_tokens_stop_and_n() -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say", "max_tokens": 7, "stop": "\n", "n": 2}
    facts = PARSER.parse_request(json.dumps(body).encode(), "/v1/completions", "")
    assert (facts.model, facts.max_tokens, facts.stop_sequences, facts.choice_count) == (
        "gpt-3.5-turbo-instruct",
        7,
        ("\n",),
        2,
    )


def test_response_text_usage_and_finish_reason(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/completion.json"))
    assert facts.output_text == "\n\nThis is indeed a test"
    assert facts.usage == Usage(input_tokens=5, output_tokens=7)
    assert facts.finish_reasons == ("length",)
    assert facts.response_id == "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7"
    assert facts.system_fingerprint == "fp_44709d6fcb"


def test_stream_text_deltas_are_output(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "openai/completion_stream.sse")]
    assert outputs == [True, True, True, False, False, False]
    facts = parser.finish()
    assert facts.output_text == "\n\nThis is a test."
    assert facts.output_chunks == 3


def test_stream_usage_and_completion(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/completion_stream.sse")
    assert facts.usage == Usage(input_tokens=5, output_tokens=5)
    assert facts.completed
    assert facts.finish_reasons == ("stop",)
    assert facts.response_model == "gpt-3.5-turbo-instruct"


def test_truncated_stream_is_not_completed(stream_fixture) -> None:
    facts = stream_fixture(API, "openai/completion_stream_truncated.sse")
    assert not facts.completed
    assert facts.output_text == "Once upon"


def test_error_body_reads_like_chat(load_fixture) -> None:
    assert PARSER.parse_error(429, load_fixture("openai/error_rate_limit.json")).error_type == "rate_limit_exceeded"
