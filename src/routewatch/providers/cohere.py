"""Cohere's v2 chat API, `POST /v2/chat`.

Usage comes twice: `tokens` (what the model processed) and `billed_units` (what was charged);
`tokens` is preferred. A stream is SSE whose data carries a `type`: `message-start` (the id),
`content-delta` and `tool-call-*` / `tool-plan-delta` (output), and the terminal `message-end`
holding the finish reason and usage. Responses do not name the model.
"""

from __future__ import annotations

from typing import Any

from ..records import RequestFacts, ResponseFacts, Usage, new_request_facts, new_response_facts, new_usage
from ._json import (
    UNTYPED_ERROR,
    TextBuffer,
    forces_tool,
    get_bool,
    get_dict,
    get_float,
    get_int,
    get_list,
    get_str,
    guarded,
    loads_or_none,
    no_request,
    shape_of,
    status_error,
    str_tuple,
    unparsed,
)
from .base import StreamFormat

__all__ = ["ChatParser"]

_OUTPUT_EVENTS = frozenset({"tool-plan-delta", "tool-call-start", "tool-call-delta"})


def _usage(usage: Any) -> Usage:
    """Billed units first: they are what Cohere charges for (`tokens` also counts its prompt template),
    so usage and cost agree; `tokens` is the fallback when billed units are absent."""
    tokens = get_dict(usage, "tokens")
    billed = get_dict(usage, "billed_units")
    input_tokens = get_int(billed, "input_tokens")
    output_tokens = get_int(billed, "output_tokens")
    return new_usage(
        input_tokens=input_tokens if input_tokens is not None else get_int(tokens, "input_tokens"),
        output_tokens=output_tokens if output_tokens is not None else get_int(tokens, "output_tokens"),
        cache_read_input_tokens=get_int(usage, "cached_tokens"),
    )


class ChatStream:
    """Accumulates the SSE events of one streamed chat."""

    __slots__ = (
        "_done",
        "_error",
        "_id",
        "_output_chunks",
        "_parsed",
        "_reason",
        "_shape",
        "_text",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._done = self._parsed = False
        self._id: str | None = None
        self._reason: str | None = None
        self._error: tuple[str | None, str | None] = (None, None)
        self._usage: Any = None
        self._output_chunks = 0
        self._tools = 0
        self._text = TextBuffer()
        self._shape: tuple[str, ...] = ()

    def feed(self, event: str | None, data: bytes) -> bool:
        try:
            obj = loads_or_none(data)  # invalid JSON (None) is not a dict either
            if not isinstance(obj, dict):
                return False
            if not self._parsed:
                self._parsed = True
                self._shape = shape_of(obj)
            kind = obj.get("type") or event
            if kind == "content-delta":
                content = get_dict(get_dict(get_dict(obj, "delta"), "message"), "content")
                text = get_str(content, "text")
                if text:
                    self._text.add(text)
                elif not get_str(content, "thinking"):
                    return False
            elif kind in _OUTPUT_EVENTS:
                if kind == "tool-call-start":
                    self._tools += 1
            else:
                if kind == "message-start":
                    self._id = get_str(obj, "id")
                elif kind == "message-end":
                    self._done = True
                    delta = get_dict(obj, "delta")
                    self._reason = get_str(delta, "finish_reason")
                    self._usage = get_dict(delta, "usage")
                    error = get_str(delta, "error")
                    if error:
                        self._error = (UNTYPED_ERROR, error)
                return False
            self._output_chunks += 1
            return True
        except Exception:
            return False

    def finish(self) -> ResponseFacts:
        return new_response_facts(
            response_id=self._id,
            finish_reasons=(self._reason,) if self._reason else (),
            usage=_usage(self._usage),
            error_type=self._error[0],
            error_message=self._error[1],
            completed=self._done,
            output_chunks=self._output_chunks,
            output_text=self._text.value(),
            tool_call_count=self._tools,
            shape=self._shape,
            parsed=self._parsed,
        )


class ChatParser:
    """`POST /v2/chat`."""

    api: str = "cohere.chat"
    operation: str = "chat"
    stream_format: StreamFormat = "sse"

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_request_facts()
        fmt = get_dict(obj, "response_format")
        kind = get_str(fmt, "type")
        schema = get_dict(fmt, "json_schema")
        tools = get_list(obj, "tools")
        return new_request_facts(
            model=get_str(obj, "model"),
            stream=get_bool(obj, "stream") is True,
            max_tokens=get_int(obj, "max_tokens"),
            temperature=get_float(obj, "temperature"),
            top_p=get_float(obj, "p"),
            top_k=get_float(obj, "k"),
            frequency_penalty=get_float(obj, "frequency_penalty"),
            presence_penalty=get_float(obj, "presence_penalty"),
            stop_sequences=str_tuple(obj.get("stop_sequences")),
            seed=get_int(obj, "seed"),
            output_type="json" if kind == "json_object" else "text" if kind == "text" else None,
            json_schema=schema if kind == "json_object" else None,
            tool_choice_required=forces_tool(obj.get("tool_choice")) if tools else False,
            has_tools=bool(tools),
        )

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_response_facts(parsed=False)
        message = get_dict(obj, "message")
        text = TextBuffer()
        for part in get_list(message, "content") or ():
            if get_str(part, "type") == "text":
                text.add(get_str(part, "text") or "")
        reason = get_str(obj, "finish_reason")
        return new_response_facts(
            response_id=get_str(obj, "id"),
            finish_reasons=(reason,) if reason else (),
            usage=_usage(get_dict(obj, "usage")),
            output_text=text.value(),
            tool_call_count=len(get_list(message, "tool_calls") or ()),
            shape=shape_of(obj),
        )

    @guarded(status_error)
    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        """Cohere's error body is `{"id": ..., "message": ...}`, with no type: the status is the type."""
        obj = loads_or_none(body)
        return new_response_facts(
            error_type=str(status_code),
            error_message=get_str(obj, "message"),
            shape=shape_of(obj),
            parsed=isinstance(obj, (dict, list)),
        )

    def stream_parser(self) -> ChatStream:
        return ChatStream()
