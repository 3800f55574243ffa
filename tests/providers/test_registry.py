"""The registry maps each flavour id to one parser that meets the `ApiParser` contract."""

from __future__ import annotations

import pytest

import routewatch.providers as providers
from routewatch.providers import PARSERS, get_parser

IDS = {
    "openai.chat_completions": "chat",
    "openai.completions": "text_completion",
    "openai.embeddings": "embeddings",
    "openai.responses": "chat",
    "anthropic.messages": "chat",
    "gemini.generate_content": "generate_content",
    "gemini.embed_content": "embeddings",
    "cohere.chat": "chat",
    "ollama.chat": "chat",
    "ollama.generate": "text_completion",
}


def test_every_flavour_is_registered_under_its_own_api_id() -> None:
    assert set(PARSERS) == set(IDS)
    for api, parser in PARSERS.items():
        assert parser.api == api


@pytest.mark.parametrize(("api", "operation"), sorted(IDS.items()))
def test_operation_names(api: str, operation: str) -> None:
    assert get_parser(api).operation == operation


def test_get_parser_returns_the_singleton() -> None:
    assert get_parser("anthropic.messages") is PARSERS["anthropic.messages"]


def test_unknown_api_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"openai\.chat_completions"):
        get_parser("mistral.chat")


def test_stream_parsers_are_fresh_each_time() -> None:
    parser = get_parser("openai.chat_completions")
    assert parser.stream_parser() is not parser.stream_parser()


def test_package_exports_a_sorted_all() -> None:
    # Ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert providers.__all__ == sorted(providers.__all__, key=isort_key)
    assert set(providers.__all__) == {"PARSERS", "ApiParser", "StreamParser", "get_parser"}
