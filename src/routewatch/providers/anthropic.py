"""Anthropic's Messages API, `POST /v1/messages`.

Anthropic's `input_tokens` excludes cached tokens; the convention's input count includes them, so
input = input + cache read + cache creation. A stream opens with `message_start` (id, model, input
and cache counts), carries `content_block_delta`s, reports the stop reason and *cumulative* usage
in `message_delta`, and ends with `message_stop`; an `error` event can arrive after the 200.
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
    plain_string_after,
    plain_string_span,
    shape_of,
    status_error,
    str_tuple,
    sum_known,
    unparsed,
)
from .base import StreamFormat

__all__ = ["MessagesParser"]

_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_OUTPUT_DELTAS = frozenset({"input_json_delta", "thinking_delta"})


def _is_tool_block(kind: str | None) -> bool:
    """`tool_use`, `server_tool_use`, `mcp_tool_use`: a block in which the model calls a tool."""
    return kind is not None and kind.endswith("tool_use")


def _usage(raw: dict[str, int | None]) -> Usage:
    cache_read = raw.get("cache_read_input_tokens")
    cache_creation = raw.get("cache_creation_input_tokens")
    return new_usage(
        input_tokens=sum_known(raw.get("input_tokens"), cache_read, cache_creation),
        output_tokens=raw.get("output_tokens"),
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
        reasoning_output_tokens=raw.get("thinking_tokens"),
    )


def _merge_usage(raw: dict[str, int | None], usage: Any) -> None:
    """Overwrite the counts `usage` reports; `message_delta` counts are cumulative, not increments."""
    for key in _USAGE_KEYS:
        value = get_int(usage, key)
        if value is not None:
            raw[key] = value
    thinking = get_int(get_dict(usage, "output_tokens_details"), "thinking_tokens")
    if thinking is not None:
        raw["thinking_tokens"] = thinking


def _error(obj: Any) -> tuple[str | None, str | None]:
    error = get_dict(obj, "error")
    return get_str(error, "type"), get_str(error, "message")


class MessagesStream:
    """Accumulates the SSE events of one streamed message."""

    __slots__ = (
        "_done",
        "_error",
        "_id",
        "_model",
        "_output_chunks",
        "_parsed",
        "_reason",
        "_shape",
        "_text",
        "_tier",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._done = self._parsed = False
        self._id: str | None = None
        self._model: str | None = None
        self._reason: str | None = None
        self._tier: str | None = None
        self._error: tuple[str | None, str | None] = (None, None)
        self._usage: dict[str, int | None] = {}
        self._output_chunks = 0
        self._tools = 0
        self._text = TextBuffer()
        self._shape: tuple[str, ...] = ()

    def feed(self, event: str | None, data: bytes) -> bool:
        try:
            if event == "content_block_delta" and self._parsed:
                text = plain_string_after(data, _TEXT_DELTA)
                if text is not None:  # the common text delta, read without json.loads
                    self._text.add(text)
                    self._output_chunks += 1
                    return True
            obj = loads_or_none(data)  # invalid JSON (None) is not a dict either
            if not isinstance(obj, dict):
                return False
            if not self._parsed:
                self._parsed = True
                self._shape = shape_of(obj)
            kind = obj.get("type") or event
            if kind == "content_block_delta":
                delta = obj.get("delta")
                if not isinstance(delta, dict):
                    return False
                delta_kind = delta.get("type")
                if delta_kind == "text_delta":
                    text = delta.get("text")
                    if isinstance(text, str):
                        self._text.add(text)
                elif delta_kind not in _OUTPUT_DELTAS:
                    return False  # signature_delta, citations_delta
                self._output_chunks += 1
                return True
            if kind == "message_start":
                message = get_dict(obj, "message")
                self._id = get_str(message, "id")
                self._model = get_str(message, "model")
                usage = get_dict(message, "usage")
                _merge_usage(self._usage, usage)
                self._tier = get_str(usage, "service_tier")
            elif kind == "content_block_start":
                if _is_tool_block(get_str(get_dict(obj, "content_block"), "type")):
                    self._tools += 1
            elif kind == "message_delta":
                self._reason = get_str(get_dict(obj, "delta"), "stop_reason") or self._reason
                _merge_usage(self._usage, get_dict(obj, "usage"))
            elif kind == "message_stop":
                self._done = True
            elif kind == "error":
                error_type, error_message = _error(obj)
                self._error = (error_type or UNTYPED_ERROR, error_message)
            return False
        except Exception:
            return False

    def text_span(self, event: str | None, data: bytes) -> tuple[int, int] | None:
        return plain_string_span(data, _TEXT_DELTA) if event == "content_block_delta" and self._parsed else None

    def add_texts(self, texts: list[str]) -> None:
        self._text.extend(texts)
        self._output_chunks += len(texts)

    def finish(self) -> ResponseFacts:
        return new_response_facts(
            response_id=self._id,
            response_model=self._model,
            finish_reasons=(self._reason,) if self._reason else (),
            usage=_usage(self._usage),
            error_type=self._error[0],
            error_message=self._error[1],
            completed=self._done,
            output_chunks=self._output_chunks,
            output_text=self._text.value(),
            tool_call_count=self._tools,
            refusal=self._reason == "refusal",
            service_tier=self._tier,
            shape=self._shape,
            parsed=self._parsed,
        )


class MessagesParser:
    """`POST /v1/messages`."""

    api: str = "anthropic.messages"
    operation: str = "chat"
    stream_format: StreamFormat = "sse"

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_request_facts()
        # Structured outputs: `output_config.format` (GA) or `output_format` (beta).
        fmt = get_dict(get_dict(obj, "output_config"), "format") or get_dict(obj, "output_format")
        json_schema = get_dict(fmt, "schema") if get_str(fmt, "type") == "json_schema" else None
        tools = get_list(obj, "tools")
        return new_request_facts(
            model=get_str(obj, "model"),
            stream=get_bool(obj, "stream") is True,
            max_tokens=get_int(obj, "max_tokens"),
            temperature=get_float(obj, "temperature"),
            top_p=get_float(obj, "top_p"),
            top_k=get_float(obj, "top_k"),
            stop_sequences=str_tuple(obj.get("stop_sequences")),
            output_type="json" if json_schema is not None else None,
            json_schema=json_schema,
            tool_choice_required=forces_tool(obj.get("tool_choice")) if tools else False,
            has_tools=bool(tools),
            service_tier=get_str(obj, "service_tier"),
        )

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_response_facts(parsed=False)
        text = TextBuffer()
        tools = 0
        for block in get_list(obj, "content") or ():
            kind = get_str(block, "type")
            if kind == "text":
                text.add(get_str(block, "text") or "")
            elif _is_tool_block(kind):
                tools += 1
        usage = get_dict(obj, "usage")
        raw: dict[str, int | None] = {}
        _merge_usage(raw, usage)
        reason = get_str(obj, "stop_reason")
        error_type, message = _error(obj)
        return new_response_facts(
            response_id=get_str(obj, "id"),
            response_model=get_str(obj, "model"),
            finish_reasons=(reason,) if reason else (),
            usage=_usage(raw),
            error_type=error_type,
            error_message=message,
            output_text=text.value(),
            tool_call_count=tools,
            refusal=reason == "refusal",
            service_tier=get_str(usage, "service_tier"),
            shape=shape_of(obj),
        )

    @guarded(status_error)
    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        error_type, message = _error(obj)
        return new_response_facts(
            error_type=error_type or str(status_code),
            error_message=message,
            shape=shape_of(obj),
            parsed=isinstance(obj, (dict, list)),
        )

    def stream_parser(self) -> MessagesStream:
        return MessagesStream()


_TEXT_DELTA = b'"delta":{"type":"text_delta","text":"'
