"""OpenAI's choices-based APIs: chat completions, legacy completions and embeddings.

The same flavours serve OpenAI-compatible servers (vLLM, Ollama `/v1`, Mistral, Groq, DeepSeek),
so every field is optional and `usage: null` is normal. Streams are SSE chunks ending with
`data: [DONE]`; usage arrives only in a last `choices: []` chunk when the request set
`stream_options.include_usage`. The Responses API lives in `openai_responses.py`.
"""

from __future__ import annotations

from typing import Any

from ..records import RequestFacts, ResponseFacts, Usage, new_request_facts, new_response_facts, new_usage
from ._json import (
    UNTYPED_ERROR,
    BufferedStreamParser,
    TextBuffer,
    decode_span,
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
from .base import StreamFormat, StreamParser

__all__ = [
    "ChatCompletionsParser",
    "CompletionsParser",
    "EmbeddingsParser",
    "error_facts",
    "openai_error",
    "openai_request",
]


#: The request keys `openai_request` reads; the getters run only for those a body has.
_REQUEST_KEYS = frozenset(
    (
        "n", "response_format", "text", "tools", "functions", "model", "stream", "max_completion_tokens",
        "max_tokens", "max_output_tokens", "temperature", "top_p", "top_k", "frequency_penalty",
        "presence_penalty", "stop", "seed", "stream_options", "service_tier",
    )
)  # fmt: skip


def openai_request(body: bytes) -> RequestFacts:
    """Request facts for any OpenAI flavour: the field names do not collide across them."""
    obj = loads_or_none(body)
    if not isinstance(obj, dict):
        return new_request_facts()
    sent = obj.keys() & _REQUEST_KEYS  # a body names a few of them: skip the getters of the others
    choices = get_int(obj, "n") if "n" in sent else None
    fmt = None
    if "response_format" in sent or "text" in sent:
        fmt = get_dict(obj, "response_format") or get_dict(get_dict(obj, "text"), "format")
    kind = get_str(fmt, "type")
    schema = None
    if kind == "json_schema":
        schema = get_dict(fmt, "schema") or get_dict(get_dict(fmt, "json_schema"), "schema")
    tools = (get_list(obj, "tools") or get_list(obj, "functions")) if "tools" in sent or "functions" in sent else None
    max_tokens = None
    if "max_completion_tokens" in sent or "max_tokens" in sent or "max_output_tokens" in sent:
        max_tokens = (
            get_int(obj, "max_completion_tokens") or get_int(obj, "max_tokens") or get_int(obj, "max_output_tokens")
        )
    return new_request_facts(
        model=get_str(obj, "model"),
        stream=obj.get("stream") is True,
        max_tokens=max_tokens,
        temperature=get_float(obj, "temperature") if "temperature" in sent else None,
        top_p=get_float(obj, "top_p") if "top_p" in sent else None,
        top_k=get_float(obj, "top_k") if "top_k" in sent else None,
        frequency_penalty=get_float(obj, "frequency_penalty") if "frequency_penalty" in sent else None,
        presence_penalty=get_float(obj, "presence_penalty") if "presence_penalty" in sent else None,
        stop_sequences=str_tuple(obj["stop"]) if "stop" in sent else None,
        seed=get_int(obj, "seed") if "seed" in sent else None,
        choice_count=choices if choices is not None and choices != 1 else None,
        output_type="text" if kind == "text" else "json" if kind in ("json_object", "json_schema") else None,
        json_schema=schema,
        tool_choice_required=forces_tool(obj.get("tool_choice", obj.get("function_call"))) if tools else False,
        has_tools=bool(tools),
        include_usage=get_bool(get_dict(obj, "stream_options"), "include_usage") if "stream_options" in sent else None,
        service_tier=get_str(obj, "service_tier") if "service_tier" in sent else None,
    )


def openai_error(obj: Any) -> tuple[str | None, str | None]:
    """(error type, message) from `{"error": {...}}` or a top-level `{"object": "error", ...}`.

    The `code` is preferred to the `type`: for a 429, OpenAI's type is "requests" or "tokens"
    while the code says "rate_limit_exceeded".
    """
    if not isinstance(obj, dict):
        return None, None
    error = obj.get("error")
    if isinstance(error, str):
        return None, error
    source = error if isinstance(error, dict) else obj if obj.get("object") == "error" else None
    if source is None:
        return None, None
    return get_str(source, "code") or get_str(source, "type"), get_str(source, "message")


def error_facts(status_code: int, body: bytes) -> ResponseFacts:
    obj = loads_or_none(body)
    error_type, message = openai_error(obj)
    return new_response_facts(
        error_type=error_type or str(status_code),
        error_message=message,
        shape=shape_of(obj),
        parsed=isinstance(obj, (dict, list)),
    )


def _usage(usage: Any) -> Usage:
    prompt_details = get_dict(usage, "prompt_tokens_details")
    cached = get_int(prompt_details, "cached_tokens")
    if cached is None:  # DeepSeek reports its cache hits at the top level.
        cached = get_int(usage, "prompt_cache_hit_tokens")
    return new_usage(
        input_tokens=get_int(usage, "prompt_tokens"),
        output_tokens=get_int(usage, "completion_tokens"),
        cache_read_input_tokens=cached,
        cache_creation_input_tokens=get_int(prompt_details, "cache_write_tokens"),
        reasoning_output_tokens=get_int(get_dict(usage, "completion_tokens_details"), "reasoning_tokens"),
    )


def _message_text(content: Any) -> str | None:
    """Message content as text: a string, or (some compatible servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(get_str(part, "text") or "" for part in content)
    return None


def _parse_choices(body: bytes, chat: bool) -> ResponseFacts:
    obj = loads_or_none(body)
    if not isinstance(obj, dict):
        return new_response_facts(parsed=False)
    error_type, message = openai_error(obj)
    text = TextBuffer()
    reasons: list[str] = []
    tools = 0
    refusal = False
    for choice in get_list(obj, "choices") or ():
        reason = get_str(choice, "finish_reason")
        if reason:
            reasons.append(reason)
        if not chat:
            text.add(get_str(choice, "text") or "")
            continue
        msg = get_dict(choice, "message")
        text.add(_message_text(msg.get("content") if msg else None) or "")
        text.add(get_str(get_dict(msg, "audio"), "transcript") or "")  # an audio reply has no content
        refused = get_str(msg, "refusal")
        if refused:
            refusal = True
            text.add(refused)
        tools += len(get_list(msg, "tool_calls") or ()) + (1 if get_dict(msg, "function_call") else 0)
    return new_response_facts(
        response_id=get_str(obj, "id"),
        response_model=get_str(obj, "model"),
        finish_reasons=tuple(reasons),
        usage=_usage(get_dict(obj, "usage")),
        error_type=error_type or (UNTYPED_ERROR if message else None),
        error_message=message,
        output_text=text.value(),
        tool_call_count=tools,
        refusal=refusal,
        system_fingerprint=get_str(obj, "system_fingerprint"),
        service_tier=get_str(obj, "service_tier"),
        shape=shape_of(obj),
    )


class ChoicesStream:
    """Accumulates an SSE stream of chat or completion chunks."""

    __slots__ = (
        "_chat",
        "_done",
        "_error",
        "_fingerprint",
        "_id",
        "_model",
        "_output_chunks",
        "_parsed",
        "_reasons",
        "_refusal",
        "_shape",
        "_text",
        "_tier",
        "_tools",
        "_usage",
    )

    def __init__(self, chat: bool) -> None:
        self._chat = chat
        self._done = self._parsed = self._refusal = False
        self._error: tuple[str | None, str | None] = (None, None)
        self._id: str | None = None
        self._model: str | None = None
        self._fingerprint: str | None = None
        self._tier: str | None = None
        self._usage: Any = None
        self._output_chunks = 0
        self._reasons: dict[int, str] = {}
        self._tools: set[tuple[int, Any]] = set()
        self._text = TextBuffer()
        self._shape: tuple[str, ...] = ()

    def feed(self, event: str | None, data: bytes) -> bool:
        try:
            if data.startswith(b"[DONE]"):
                self._done = self._parsed = True
                return False
            if self._parsed and self._chat:
                text = _plain_content_delta(data)
                if text is not None:  # the common middle chunk, read without json.loads
                    if not text:
                        return False
                    self._text.add(text)
                    self._output_chunks += 1
                    return True
            obj = loads_or_none(data)  # invalid JSON (None) is not a dict either
            if not isinstance(obj, dict):
                return False
            if not self._parsed:
                self._parsed = True
                self._shape = shape_of(obj)
            if obj.get("error") or obj.get("object") == "error":
                error_type, message = openai_error(obj)
                self._error = (error_type or UNTYPED_ERROR, message)
                return False
            self._id = self._id or get_str(obj, "id")
            self._model = self._model or get_str(obj, "model")
            self._fingerprint = get_str(obj, "system_fingerprint") or self._fingerprint
            self._tier = get_str(obj, "service_tier") or self._tier
            usage = obj.get("usage") or get_dict(get_dict(obj, "x_groq"), "usage")  # Groq
            if isinstance(usage, dict):
                self._usage = usage
            output = False
            for position, choice in enumerate(get_list(obj, "choices") or ()):
                if isinstance(choice, dict) and self._choice(choice, position):
                    output = True
            if output:
                self._output_chunks += 1
            return output
        except Exception:
            return False

    def text_span(self, event: str | None, data: bytes) -> tuple[int, int] | None:
        return _plain_content_span(data) if self._parsed and self._chat else None

    def add_texts(self, texts: list[str]) -> None:
        self._text.extend(texts)
        self._output_chunks += len(texts)

    def _choice(self, choice: dict[str, Any], position: int) -> bool:
        index = choice.get("index")
        index = index if isinstance(index, int) else position
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._reasons[index] = reason
        if not self._chat:
            text = choice.get("text")
            if isinstance(text, str) and text:
                self._text.add(text)
                return True
            return False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return False
        output = False
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text.add(content)
            output = True
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refusal = True
            self._text.add(refusal)
            output = True
        audio = delta.get("audio")
        if isinstance(audio, dict):
            transcript = audio.get("transcript")
            if isinstance(transcript, str) and transcript:
                self._text.add(transcript)
                output = True
            if audio.get("data"):
                output = True
        calls = delta.get("tool_calls")
        if isinstance(calls, list) and calls:
            for call in calls:
                key = get_int(call, "index")
                self._tools.add((index, key if key is not None else get_str(call, "id")))
            output = True
        if isinstance(delta.get("function_call"), dict):
            self._tools.add((index, "function_call"))
            output = True
        # Reasoning deltas of compatible servers (DeepSeek, vLLM, Ollama).
        return output or bool(delta.get("reasoning_content") or delta.get("reasoning"))

    def finish(self) -> ResponseFacts:
        return new_response_facts(
            response_id=self._id,
            response_model=self._model,
            finish_reasons=tuple(self._reasons[index] for index in sorted(self._reasons)),
            usage=_usage(self._usage),
            error_type=self._error[0],
            error_message=self._error[1],
            completed=self._done,
            output_chunks=self._output_chunks,
            output_text=self._text.value(),
            tool_call_count=sum(1 for _, key in self._tools if key is not None),
            refusal=self._refusal,
            system_fingerprint=self._fingerprint,
            service_tier=self._tier,
            shape=self._shape,
            parsed=self._parsed,
        )


class ChatCompletionsParser:
    """`POST /v1/chat/completions`."""

    api: str = "openai.chat_completions"
    operation: str = "chat"
    stream_format: StreamFormat = "sse"

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        return openai_request(body)

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        return _parse_choices(body, chat=True)

    @guarded(status_error)
    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        return error_facts(status_code, body)

    def stream_parser(self) -> StreamParser:
        return ChoicesStream(chat=True)


class CompletionsParser(ChatCompletionsParser):
    """Legacy `POST /v1/completions`: like chat, with `choices[].text` instead of messages."""

    api: str = "openai.completions"
    operation: str = "text_completion"

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        return _parse_choices(body, chat=False)

    def stream_parser(self) -> StreamParser:
        return ChoicesStream(chat=False)


class EmbeddingsParser(ChatCompletionsParser):
    """`POST /v1/embeddings`: usage is prompt tokens only; there is no output and no stream."""

    api: str = "openai.embeddings"
    operation: str = "embeddings"

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_response_facts(parsed=False)
        return new_response_facts(
            response_id=get_str(obj, "id"),
            response_model=get_str(obj, "model"),
            usage=new_usage(input_tokens=get_int(get_dict(obj, "usage"), "prompt_tokens")),
            shape=shape_of(obj),
        )

    def stream_parser(self) -> StreamParser:
        return BufferedStreamParser(self.parse_response)


# The common middle chunk, `..."choices":[{"index":0,"delta":{"content":"<text>"},..."finish_reason":null}]...`,
# recognised by its exact bytes around the text; any other shape (tool calls, finish, usage, escapes,
# reasoning fields, other spacing) takes the full json.loads path.
_CONTENT_HEAD = b'"choices":[{"index":0,"delta":{"content":"'
_CONTENT_TAILS = (
    b'"},"logprobs":null,"finish_reason":null}]',
    b'"},"finish_reason":null}]',
    b'"},"finish_reason":null,"logprobs":null}]',
)


def _plain_content_span(data: bytes) -> tuple[int, int] | None:
    """Where the text of a plain content-delta chunk for choice 0 lies in `data`, or None when the
    chunk needs json.loads. With the bytes around it kept, any text free of quotes and backslashes
    passes the same checks, so this is also `text_span`'s answer."""
    start = data.find(_CONTENT_HEAD)
    if start < 0 or b"\\" in data:
        return None
    start += len(_CONTENT_HEAD)
    end = data.find(b'"', start)
    if end < 0 or not data.startswith(_CONTENT_TAILS, end) or data.find(b'"usage":{', end) >= 0:
        return None
    return start, end


def _plain_content_delta(data: bytes) -> str | None:
    """The text of a plain content-delta chunk for choice 0, or None when the chunk needs json.loads."""
    return decode_span(data, _plain_content_span(data))
