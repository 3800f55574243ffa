"""ollama.generate: POST /api/generate, with the text in `response`."""

from __future__ import annotations

from routewatch.providers import get_parser
from routewatch.records import Usage

API = "ollama.generate"
PARSER = get_parser(API)


def test_operation_is_text_completion() -> None:
    assert PARSER.operation == "text_completion"


def test_request_streams_by_default() -> None:
    assert PARSER.parse_request(b'{"model": "llama3.2", "prompt": "hi"}', "/api/generate", "").stream


def test_response_text_usage_and_done_reason(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("ollama/generate.json"))
    assert facts.output_text == "The sky is blue because of Rayleigh scattering."
    assert facts.usage == Usage(input_tokens=26, output_tokens=259)
    assert facts.finish_reasons == ("length",)


def test_stream_response_deltas_are_output(stream_events) -> None:
    parser = PARSER.stream_parser()
    outputs = [parser.feed(name, data) for name, data in stream_events(API, "ollama/generate_stream.ndjson")]
    assert outputs == [True, True, True, False]
    facts = parser.finish()
    assert facts.output_text == "The sky is blue."
    assert facts.completed
    assert facts.usage == Usage(input_tokens=26, output_tokens=3)


def test_stream_without_done_is_not_completed(stream_fixture) -> None:
    facts = stream_fixture(API, "ollama/generate_stream_truncated.ndjson")
    assert not facts.completed
    assert facts.output_text == "The"
