"""gemini.embed_content: `:embedContent` and `:batchEmbedContents`."""

from __future__ import annotations

from routewatch.providers import get_parser

API = "gemini.embed_content"
PARSER = get_parser(API)


def test_operation_is_embeddings() -> None:
    assert PARSER.operation == "embeddings"


def test_request_model_comes_from_the_path() -> None:
    facts = PARSER.parse_request(
        b'{"content": {"parts": [{"text": "hi"}]}}', "/v1beta/models/gemini-embedding-001:embedContent", ""
    )
    assert facts.model == "gemini-embedding-001"
    assert not facts.stream


def test_batch_request_model_comes_from_the_path() -> None:
    facts = PARSER.parse_request(b'{"requests": []}', "/v1beta/models/text-embedding-004:batchEmbedContents", "")
    assert facts.model == "text-embedding-004"


def test_response_has_a_shape_and_no_usage(load_fixture) -> None:
    facts = PARSER.parse_response(load_fixture("gemini/embed_content.json"))
    assert facts.shape == ("embedding",)
    assert not facts.usage.known
    assert PARSER.parse_response(load_fixture("gemini/batch_embed_contents.json")).shape == ("embeddings",)


def test_error_type_is_the_status_string(load_fixture) -> None:
    assert (
        PARSER.parse_error(429, load_fixture("gemini/error_resource_exhausted.json")).error_type == "RESOURCE_EXHAUSTED"
    )
