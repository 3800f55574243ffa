"""OpenAI's Responses API: `POST /v1/responses` and `GET /v1/responses/{id}`.

The body is a Response object (`id`, `model`, `status`, `output[]` items, `usage`). A stream is
SSE events told apart by `type`: text, tool-input (function, custom tool and MCP arguments, code
interpreter code, shell commands), reasoning and refusal deltas carry output;
`response.completed`, `response.incomplete` and `response.failed` are terminal and carry the whole
Response; a bare `error` event reports a failure after the 200.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..records import RequestFacts, ResponseFacts, Usage, new_response_facts, new_usage
from ._json import (
    UNTYPED_ERROR,
    TextBuffer,
    get_dict,
    get_int,
    get_list,
    get_str,
    guarded,
    loads_or_none,
    no_request,
    shape_of,
    status_error,
    unparsed,
)
from .base import StreamFormat
from .openai import error_facts, openai_request

__all__ = ["ResponsesParser"]

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_STARTED = frozenset({"response.created", "response.in_progress", "response.queued"})
# Output items the caller must answer with a `*_output` item of the same `call_id`.
_TOOL_ITEMS = frozenset(
    {"function_call", "custom_tool_call", "computer_call", "shell_call", "local_shell_call", "apply_patch_call"}
)
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _usage(usage: Any) -> Usage:
    input_details = get_dict(usage, "input_tokens_details")
    return new_usage(
        input_tokens=get_int(usage, "input_tokens"),
        output_tokens=get_int(usage, "output_tokens"),
        cache_read_input_tokens=get_int(input_details, "cached_tokens"),
        cache_creation_input_tokens=get_int(input_details, "cache_write_tokens"),
        reasoning_output_tokens=get_int(get_dict(usage, "output_tokens_details"), "reasoning_tokens"),
    )


def _summary(response: dict[str, Any], text: TextBuffer | None) -> ResponseFacts:
    """Facts of one Response object. Message text goes to `text` when given (a streamed body
    already collected it from the deltas)."""
    tools = 0
    refusal = False
    for item in get_list(response, "output") or ():
        kind = get_str(item, "type")
        if kind in _TOOL_ITEMS:
            tools += 1
        elif kind == "message":
            for part in get_list(item, "content") or ():
                part_kind = get_str(part, "type")
                if part_kind == "refusal":
                    refusal = True
                    if text is not None:
                        text.add(get_str(part, "refusal") or "")
                elif part_kind == "output_text" and text is not None:
                    text.add(get_str(part, "text") or "")
    status = get_str(response, "status")
    reason: str | None = None
    if status == "completed":
        reason = "tool_calls" if tools else "stop"
    elif status == "incomplete":
        detail = get_str(get_dict(response, "incomplete_details"), "reason")
        reason = _INCOMPLETE_REASONS.get(detail, detail) if detail else "incomplete"
    error = get_dict(response, "error")
    error_type = None
    if status == "failed" or error:
        error_type = get_str(error, "code") or get_str(error, "type") or UNTYPED_ERROR
    return new_response_facts(
        response_id=get_str(response, "id"),
        response_model=get_str(response, "model"),
        finish_reasons=(reason,) if reason else (),
        usage=_usage(get_dict(response, "usage")),
        error_type=error_type,
        error_message=get_str(error, "message"),
        output_text=text.value() if text is not None else None,
        tool_call_count=tools,
        refusal=refusal,
        service_tier=get_str(response, "service_tier"),
        shape=shape_of(response),
    )


class ResponsesStream:
    """Accumulates the SSE events of one streamed Response."""

    __slots__ = (
        "_error",
        "_id",
        "_model",
        "_output_chunks",
        "_parsed",
        "_refusal",
        "_shape",
        "_terminal",
        "_text",
        "_tier",
        "_tools",
    )

    def __init__(self) -> None:
        self._parsed = self._refusal = False
        self._id: str | None = None
        self._model: str | None = None
        self._tier: str | None = None
        self._error: tuple[str | None, str | None] = (None, None)
        self._terminal: ResponseFacts | None = None
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
            if not isinstance(kind, str):
                return False
            if kind == "response.output_text.delta" or kind == "response.refusal.delta":
                delta = obj.get("delta")
                if isinstance(delta, str):
                    self._text.add(delta)
                if kind == "response.refusal.delta":
                    self._refusal = True
            elif not (
                kind == "response.function_call_arguments.delta"
                or kind == "response.custom_tool_call_input.delta"
                or kind == "response.mcp_call_arguments.delta"
                or kind == "response.code_interpreter_call_code.delta"
                or kind == "response.shell_call_command.delta"
                or (kind.startswith("response.reasoning") and kind.endswith(".delta"))
            ):
                self._other(kind, obj)
                return False
            self._output_chunks += 1
            return True
        except Exception:
            return False

    def _other(self, kind: str, obj: dict[str, Any]) -> None:
        response = get_dict(obj, "response")
        if kind == "response.output_item.added":
            if get_str(get_dict(obj, "item"), "type") in _TOOL_ITEMS:
                self._tools += 1
        elif kind in _STARTED and response is not None:
            self._id = self._id or get_str(response, "id")
            self._model = self._model or get_str(response, "model")
            self._tier = get_str(response, "service_tier") or self._tier
        elif kind in _TERMINAL and response is not None:
            self._terminal = _summary(response, None)
        elif kind == "error":
            source = get_dict(obj, "error") or obj
            self._error = (
                get_str(source, "code") or get_str(source, "type") or UNTYPED_ERROR,
                get_str(source, "message"),
            )

    def finish(self) -> ResponseFacts:
        end = self._terminal
        error_type, message = self._error
        if end is not None and end.error_type:
            error_type, message = end.error_type, end.error_message
        return new_response_facts(
            response_id=(end.response_id if end else None) or self._id,
            response_model=(end.response_model if end else None) or self._model,
            finish_reasons=end.finish_reasons if end else (),
            usage=end.usage if end else new_usage(),
            error_type=error_type,
            error_message=message,
            completed=end is not None,
            output_chunks=self._output_chunks,
            output_text=self._text.value(),
            tool_call_count=max(self._tools, end.tool_call_count if end else 0),
            refusal=self._refusal or (end.refusal if end else False),
            service_tier=(end.service_tier if end else None) or self._tier,
            shape=self._shape,
            parsed=self._parsed,
        )


class ResponsesParser:
    """`POST /v1/responses` and `GET /v1/responses/{id}` (which has no body to parse)."""

    api: str = "openai.responses"
    operation: str = "chat"
    stream_format: StreamFormat = "sse"

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        facts = openai_request(body)
        if not facts.stream and "stream=true" in query.lower():  # GET /v1/responses/{id}?stream=true
            return replace(facts, stream=True)
        return facts

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_response_facts(parsed=False)
        return _summary(obj, TextBuffer())

    @guarded(status_error)
    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        return error_facts(status_code, body)

    def stream_parser(self) -> ResponsesStream:
        return ResponsesStream()
