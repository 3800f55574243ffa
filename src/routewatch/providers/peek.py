"""The request model, read from the raw bytes without parsing the body.

A span's name and its sampler attributes need the model before the request is sent, but parsing a
whole request body (long prompts, tool schemas) on the app's thread costs far more than finding one
key. `peek_model` finds the model when the body names it exactly once, as a plain string; in any
other case it answers None and the caller parses the body the ordinary way.
"""

from __future__ import annotations

import re

from .gemini import model_and_method

__all__ = ["peek_model"]

_KEY = b'"model"'
_VALUE = re.compile(rb'"model"[ \t\r\n]*:[ \t\r\n]*"([^"\\]{1,256})"')


def peek_model(api: str, body: bytes, path: str) -> str | None:
    """The model of a request, or None when it cannot be told without parsing the body.

    Inside a JSON string a quote is escaped, so the bytes `"model"` are a key or a whole string
    value; when they occur once and are followed by `: "..."`, they are the request's model key.
    """
    if api.startswith("gemini."):
        return model_and_method(path)[0]
    at = body.find(_KEY)
    if at < 0 or body.find(_KEY, at + len(_KEY)) >= 0:
        return None
    match = _VALUE.match(body, at)
    if match is None:
        return None
    try:
        return match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None
