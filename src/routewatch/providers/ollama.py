"""Ollama's native API: `/api/chat` and `/api/generate`.

Ollama streams unless the request says `"stream": false`. A stream is NDJSON: one object per line,
with text in `message.content` (chat) or `response` (generate), and a last object with
`done: true`, `done_reason`, `prompt_eval_count` (input) and `eval_count` (output). A non-streamed
body is that one last object with the whole text. Errors are `{"error": "..."}`, also mid-stream.
Ollama's `/v1` routes are OpenAI-compatible and use the OpenAI flavours.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..records import RequestFacts, ResponseFacts, new_request_facts, new_response_facts, new_usage
from ._json import (
    UNTYPED_ERROR,
    TextBuffer,
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
from .base import StreamFormat, StreamParser

__all__ = ["ChatParser", "GenerateParser"]


class OllamaStream:
    """Accumulates the NDJSON objects of one `/api/chat` or `/api/generate` response."""

    __slots__ = (
        "_chat",
        "_done",
        "_error",
        "_final",
        "_model",
        "_output_chunks",
        "_parsed",
        "_shape",
        "_text",
        "_tools",
    )

    def __init__(self, chat: bool) -> None:
        self._chat = chat
        self._done = self._parsed = False
        self._model: str | None = None
        self._final: dict[str, Any] | None = None
        self._error: str | None = None
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
            error = obj.get("error")
            if error:
                self._error = error if isinstance(error, str) else get_str(error, "message") or ""
                return False
            self._model = self._model or get_str(obj, "model")
            if obj.get("done") is True:
                self._done = True
                self._final = obj
            source = obj.get("message") if self._chat else obj
            if not isinstance(source, dict):
                return False
            output = False
            text = source.get("content" if self._chat else "response")
            if isinstance(text, str) and text:
                self._text.add(text)
                output = True
            calls = source.get("tool_calls")
            if isinstance(calls, list) and calls:
                self._tools += len(calls)
                output = True
            if output or source.get("thinking"):
                self._output_chunks += 1
                return True
            return False
        except Exception:
            return False

    @property
    def parsed(self) -> bool:
        return self._parsed

    def finish(self, streamed: bool = True) -> ResponseFacts:
        final = self._final
        reason = get_str(final, "done_reason")
        return new_response_facts(
            response_model=self._model,
            finish_reasons=(reason,) if reason else (),
            usage=new_usage(
                input_tokens=get_int(final, "prompt_eval_count"),
                output_tokens=get_int(final, "eval_count"),
            ),
            error_type=UNTYPED_ERROR if self._error is not None else None,
            error_message=self._error or None,
            completed=self._done or not streamed,
            output_chunks=self._output_chunks if streamed else 0,
            output_text=self._text.value(),
            tool_call_count=self._tools,
            shape=self._shape,
            parsed=self._parsed,
        )


class ChatParser:
    """`POST /api/chat`."""

    api: str = "ollama.chat"
    operation: str = "chat"
    stream_format: StreamFormat = "ndjson"
    _chat: bool = True

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_request_facts(stream=True)
        options = get_dict(obj, "options")
        fmt = obj.get("format")
        num_predict = get_int(options, "num_predict")
        return new_request_facts(
            model=get_str(obj, "model"),
            stream=get_bool(obj, "stream") is not False,  # Ollama streams by default
            max_tokens=num_predict if num_predict is not None and num_predict >= 0 else None,
            temperature=get_float(options, "temperature"),
            top_p=get_float(options, "top_p"),
            top_k=get_float(options, "top_k"),
            frequency_penalty=get_float(options, "frequency_penalty"),
            presence_penalty=get_float(options, "presence_penalty"),
            stop_sequences=str_tuple(options.get("stop")) if options else None,
            seed=get_int(options, "seed"),
            output_type="json" if fmt == "json" or isinstance(fmt, dict) else None,
            json_schema=fmt if isinstance(fmt, dict) else None,
            has_tools=bool(get_list(obj, "tools")),
        )

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        accumulator = OllamaStream(self._chat)
        accumulator.feed(None, body)
        if accumulator.parsed:
            return accumulator.finish(streamed=False)
        # A streamed (NDJSON) body read whole, as when the request omitted `stream`.
        for line in body.splitlines():
            accumulator.feed(None, line)
        return replace(accumulator.finish(), output_chunks=0)

    @guarded(status_error)
    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        """Ollama's error body is `{"error": "message"}`, with no type: the status is the type."""
        obj = loads_or_none(body)
        error = obj.get("error") if isinstance(obj, dict) else None
        return new_response_facts(
            error_type=str(status_code),
            error_message=error if isinstance(error, str) else get_str(error, "message"),
            shape=shape_of(obj),
            parsed=isinstance(obj, (dict, list)),
        )

    def stream_parser(self) -> StreamParser:
        return OllamaStream(self._chat)


class GenerateParser(ChatParser):
    """`POST /api/generate`: a prompt in, `response` text out."""

    api: str = "ollama.generate"
    operation: str = "text_completion"
    _chat: bool = False
