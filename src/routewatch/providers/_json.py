"""Small never-raising readers shared by the provider parsers.

Provider bodies are untrusted: any key may be missing, null or of the wrong type. These getters
take `Any` and return a value of the asked type or None, so a flavour reads nested fields as
`get_int(get_dict(usage, "prompt_tokens_details"), "cached_tokens")` without guards.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from ..records import RequestFacts, ResponseFacts, new_request_facts, new_response_facts

__all__ = [
    "OUTPUT_TEXT_CAP",
    "UNTYPED_ERROR",
    "BufferedStreamParser",
    "TextBuffer",
    "forces_tool",
    "get_bool",
    "get_dict",
    "get_float",
    "get_int",
    "get_list",
    "get_str",
    "guarded",
    "loads_or_none",
    "no_request",
    "plain_string_after",
    "plain_string_span",
    "shape_of",
    "status_error",
    "str_tuple",
    "sum_known",
    "unparsed",
]

#: Characters of output text kept for in-process quality checks (64 KiB).
OUTPUT_TEXT_CAP = 64 * 1024

P = ParamSpec("P")
T = TypeVar("T")

#: `error_type` for a failure the body reports without naming a type (e.g. a mid-stream error).
UNTYPED_ERROR = "error"


def guarded(fallback: Callable[..., T]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Make a parser entry point total: an unexpected exception returns `fallback(*args)`.

    The getters below already never raise; this is the backstop the contract promises.
    """

    def decorate(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return function(*args, **kwargs)
            except Exception:
                return fallback(*args, **kwargs)

        return call

    return decorate


def no_request(*_args: Any, **_kwargs: Any) -> RequestFacts:
    """Fallback of `parse_request`."""
    return new_request_facts()


def unparsed(*_args: Any, **_kwargs: Any) -> ResponseFacts:
    """Fallback of `parse_response`."""
    return new_response_facts(parsed=False)


def status_error(*args: Any, **kwargs: Any) -> ResponseFacts:
    """Fallback of `parse_error(self, status_code, body)`: the status code is the error type."""
    status_code = kwargs.get("status_code", args[1] if len(args) > 1 else None)
    return new_response_facts(error_type=str(status_code), parsed=False)


def loads_or_none(data: bytes | str) -> Any:
    """The decoded JSON value, or None when `data` is not JSON (or is JSON `null`).

    A UTF-8 object or array (what provider bodies are) goes straight to the decoder's C scanner;
    `json.loads` would first sniff the encoding and pass through two more Python frames.
    Anything else takes `json.loads`, so the answer is always the one `json.loads` gives.
    """
    try:
        if isinstance(data, bytes) and data[:1] in _OPENERS and data[1:2] != b"\x00":  # not UTF-16/32
            text = data.decode("utf-8", "surrogatepass")
            try:
                value, end = _scan(text, 0)
            except StopIteration:
                return None
            if end == len(text) or _WHITESPACE(text, end).end() == len(text):
                return value
        return json.loads(data)
    except Exception:
        return None


_OPENERS = (b"{", b"[")
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
_WHITESPACE = json.decoder.WHITESPACE.match  # type: ignore[attr-defined]  # what JSONDecoder.decode skips


def get_dict(obj: Any, key: str) -> dict[str, Any] | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else None


def get_list(obj: Any, key: str) -> list[Any] | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else None


def get_str(obj: Any, key: str) -> str | None:
    """A non-empty string value, else None."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value else None


def get_int(obj: Any, key: str) -> int | None:
    """An integer value (a float with no fraction counts; booleans do not)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def get_float(obj: Any, key: str) -> float | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def get_bool(obj: Any, key: str) -> bool | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, bool) else None


def str_tuple(value: Any) -> tuple[str, ...] | None:
    """Stop sequences from a string or a list of strings; None when there are none."""
    if isinstance(value, str):
        return (value,) if value else None
    if isinstance(value, list):
        items = tuple(item for item in value if isinstance(item, str))
        return items or None
    return None


def shape_of(obj: Any) -> tuple[str, ...]:
    """Sorted top-level keys of a JSON object, the signature used to notice API shape drift."""
    return tuple(sorted(obj)) if isinstance(obj, dict) else ()


def sum_known(*values: int | None) -> int | None:
    """The sum of the values that are known, or None when none is."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def forces_tool(tool_choice: Any) -> bool:
    """Whether a tool choice obliges the model to call a tool.

    Covers OpenAI ("required", a named function, `allowed_tools` in required mode), Anthropic
    (`{"type": "any"}`, `{"type": "tool"}`) and Cohere ("REQUIRED").
    """
    if isinstance(tool_choice, str):
        return tool_choice.lower() in ("required", "any")
    if isinstance(tool_choice, dict):
        kind = tool_choice.get("type")
        if kind in ("auto", "none"):
            return False
        if kind == "allowed_tools":
            return tool_choice.get("mode") == "required"
        return True
    return False


class TextBuffer:
    """Concatenates output text up to `OUTPUT_TEXT_CAP` characters, then ignores the rest."""

    __slots__ = ("_length", "_parts")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0

    def add(self, text: str) -> None:
        room = OUTPUT_TEXT_CAP - self._length
        if room <= 0 or not text:
            return
        if len(text) > room:
            text = text[:room]
        self._parts.append(text)
        self._length += len(text)

    def extend(self, texts: list[str]) -> None:
        """`add` each of `texts`, in order."""
        total = sum(map(len, texts))
        if total <= OUTPUT_TEXT_CAP - self._length:
            self._parts.extend(texts)
            self._length += total
        else:
            for text in texts:
                self.add(text)

    def value(self) -> str | None:
        """The text so far, or None when there was none."""
        return "".join(self._parts) if self._parts else None


class BufferedStreamParser:
    """A stream parser for flavours that do not stream (embeddings): it keeps the payloads and
    hands them, joined, to the flavour's `parse_response` when the body ends."""

    __slots__ = ("_chunks", "_parse")

    def __init__(self, parse: Callable[[bytes], ResponseFacts]) -> None:
        self._parse = parse
        self._chunks: list[bytes] = []

    def feed(self, event: str | None, data: bytes) -> bool:
        self._chunks.append(data)
        return False

    def finish(self) -> ResponseFacts:
        if not self._chunks:
            return new_response_facts(completed=False, parsed=False)
        return self._parse(b"\n".join(self._chunks))


def plain_string_after(data: bytes, marker: bytes) -> str | None:
    """The JSON string value that starts right after `marker` (which ends with its opening quote),
    read without `json.loads`, or None when the fast path does not apply.

    Streaming hot path: a text delta is hundreds of bytes of JSON around a few characters. With no
    backslash anywhere in `data` the string has no escapes, so it ends at the next quote. Anything
    unusual (escapes, the marker twice) returns None and the caller parses the event properly.
    """
    return decode_span(data, plain_string_span(data, marker))


def decode_span(data: bytes, span: tuple[int, int] | None) -> str | None:
    """``data[start:end]`` as UTF-8 text, or None when there is no span or the bytes are not UTF-8."""
    if span is None:
        return None
    try:
        return data[span[0] : span[1]].decode("utf-8")
    except UnicodeDecodeError:
        return None


def plain_string_span(data: bytes, marker: bytes) -> tuple[int, int] | None:
    """Where in `data` the string `plain_string_after` reads lies, as (start, end) byte offsets.

    It is also a `StreamParser.text_span` answer: with `data[:start]` and `data[end:]` fixed, any
    middle free of quotes and backslashes passes the same checks (the marker still occurs once, in
    the prefix; the string still ends where the suffix begins), so it is that same text delta.
    """
    if b"\\" in data:
        return None
    start = data.find(marker)
    if start < 0 or data.find(marker, start + 1) >= 0:
        return None
    start += len(marker)
    end = data.find(b'"', start)
    return None if end < 0 else (start, end)
