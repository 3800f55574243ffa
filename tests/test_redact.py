"""Credentials never survive into recorded text."""

from __future__ import annotations

import pytest

from routewatch.redact import scrub


@pytest.mark.parametrize(
    "text",
    [
        "GET https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=AIzaSyA-secret-123456789012345",
        "Authorization: Bearer sk-proj-abcdefghijklmnop",
        "{'x-api-key': 'sk-ant-api03-abcdefghijkl'}",
        "x-goog-api-key=AIzaSyAbcdefghijklmnopqrstuvwxyz",
        "failed with api_key=hunter2hunter2",
        "token sk-abcdefghijklmnopqrstuvwxyz leaked",
    ],
)
def test_credentials_are_redacted(text: str) -> None:
    cleaned = scrub(text)
    assert "[REDACTED]" in cleaned
    for secret in ("secret-123", "abcdefghijklmnop", "api03-abcdefghijkl", "Abcdefghij", "hunter2", "sk-abcdef"):
        assert secret not in cleaned


def test_ordinary_text_is_untouched() -> None:
    text = "Server disconnected without sending a response. (model=gpt-4o, keyboard=ok)"
    assert scrub(text) == text
