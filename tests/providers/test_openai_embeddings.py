"""openai.embeddings: POST /v1/embeddings; usage is input only."""

from __future__ import annotations

import json

from routewatch.providers import get_parser
from routewatch.records import Usage

API = "openai.embeddings"
PARSER = get_parser(API)


def test_operation_is_embeddings() -> None:
    assert PARSER.operation == "embeddings"


def test_request_reads_the_model() -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256}
    facts = PARSER.parse_request(json.dumps(body).encode(), "/v1/embeddings", "")
    assert facts.model == "text-embedding-3-small"
    assert not facts.stream


def test_response_usage_has_input_tokens_and_no_output_tokens(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/embeddings.json"))
    assert facts.usage == Usage(input_tokens=8, output_tokens=None)


def test_response_model_and_shape(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("openai/embeddings.json"))
    assert facts.response_model == "text-embedding-3-small"
    assert facts.shape == ("data", "model", "object", "usage")
    assert facts.output_text is None


def test_a_body_fed_as_a_stream_is_parsed_whole(load_fixture) -> None:
    parser = PARSER.stream_parser()
    assert not parser.feed(None, load_fixture("openai/embeddings.json"))
    assert parser.finish().usage.input_tokens == 8


def test_error_body(load_fixture) -> None:
    facts = PARSER.parse_error(400, load_fixture("openai/error_invalid_request.json"))
    assert facts.error_type == "invalid_request_error"
