"""The parser for each provider API flavour, by its stable id."""

from __future__ import annotations

from . import anthropic, cohere, gemini, ollama, openai, openai_responses
from .base import ApiParser

__all__ = ["PARSERS", "get_parser"]

PARSERS: dict[str, ApiParser] = {
    parser.api: parser
    for parser in (
        openai.ChatCompletionsParser(),
        openai.CompletionsParser(),
        openai.EmbeddingsParser(),
        openai_responses.ResponsesParser(),
        anthropic.MessagesParser(),
        gemini.GenerateContentParser(),
        gemini.EmbedContentParser(),
        cohere.ChatParser(),
        ollama.ChatParser(),
        ollama.GenerateParser(),
    )
}


def get_parser(api: str) -> ApiParser:
    """The parser for `api` (e.g. "openai.chat_completions"); `KeyError` names the known ids."""
    try:
        return PARSERS[api]
    except KeyError:
        raise KeyError(f"unknown provider API {api!r}; known: {', '.join(sorted(PARSERS))}") from None
