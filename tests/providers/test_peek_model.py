"""peek_model: the request model from raw bytes, or None whenever only a real parse can tell."""

import json

import pytest

from routewatch.providers.peek import peek_model

CHAT = "openai.chat_completions"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o-mini", "stream": True},
        {"model": "gpt-4o-mini", "messages": []},
    ],
)
def test_reads_a_plain_model_wherever_the_key_sits(body: dict[str, object]) -> None:
    assert peek_model(CHAT, json.dumps(body).encode(), "/v1/chat/completions") == "gpt-4o-mini"
    compact = json.dumps(body, separators=(",", ":")).encode()
    assert peek_model(CHAT, compact, "/v1/chat/completions") == "gpt-4o-mini"


def test_a_quoted_model_inside_a_prompt_is_not_a_key() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": 'say "model": "x"'}], "model": "m1"}).encode()
    assert peek_model(CHAT, body, "/v1/chat/completions") == "m1"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        json.dumps({"messages": []}).encode(),
        json.dumps({"model": "a", "metadata": {"model": "b"}}).encode(),  # twice: needs a parse
        json.dumps({"model": "caf\u00e9"}).encode(),  # escaped: needs a parse
        json.dumps({"model": 3}).encode(),
    ],
)
def test_answers_none_when_only_a_parse_can_tell(body: bytes) -> None:
    assert peek_model(CHAT, body, "/v1/chat/completions") is None


def test_gemini_models_come_from_the_path() -> None:
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert peek_model("gemini.generate_content", b"{}", path) == "gemini-2.5-flash"
