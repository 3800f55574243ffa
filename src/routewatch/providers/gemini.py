"""Google Gemini, on AI Studio (`/v1beta/models/{m}:generateContent`) and Vertex AI
(`/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`).

The model and the stream flag come from the path: `:streamGenerateContent` streams (as SSE with
`alt=sse`, else as one JSON array). Every stream chunk is a whole `GenerateContentResponse` whose
`usageMetadata` repeats the running totals (the last wins), and there is no terminal marker: the
stream is complete once a candidate reports a `finishReason`. Output tokens are candidates plus
thoughts, which Gemini counts apart.
"""

from __future__ import annotations

import json
from typing import Any

from ..records import RequestFacts, ResponseFacts, new_request_facts, new_response_facts, new_usage
from ._json import (
    UNTYPED_ERROR,
    BufferedStreamParser,
    TextBuffer,
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
    sum_known,
    unparsed,
)
from .base import StreamFormat, StreamParser

__all__ = ["EmbedContentParser", "GenerateContentParser", "model_and_method"]


def model_and_method(path: str) -> tuple[str | None, str | None]:
    """The model and method at the end of a Gemini path.

    >>> model_and_method("/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    ('gemini-2.5-flash', 'streamGenerateContent')
    """
    last = path.replace("%3A", ":").replace("%3a", ":").rsplit("/", 1)[-1]
    model, colon, method = last.partition(":")
    if not colon:
        return None, None
    return model or None, method or None


def _key(obj: Any, camel: str, snake: str) -> str:
    """Which spelling the body used: the REST API accepts both camelCase and snake_case."""
    return snake if isinstance(obj, dict) and snake in obj and camel not in obj else camel


def _error(obj: Any) -> tuple[str | None, str | None]:
    if isinstance(obj, list) and obj:  # a failed non-SSE stream is an array holding the error
        obj = obj[0]
    error = get_dict(obj, "error")
    if error is None:
        return None, None
    code = get_int(error, "code")
    return get_str(error, "status") or (str(code) if code else None), get_str(error, "message")


class GenerateContentStream:
    """Accumulates `GenerateContentResponse` chunks (SSE events, or the items of a JSON array)."""

    __slots__ = (
        "_blocked",
        "_done",
        "_error",
        "_id",
        "_model",
        "_output_chunks",
        "_parsed",
        "_reasons",
        "_shape",
        "_text",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._done = self._parsed = False
        self._blocked: str | None = None
        self._id: str | None = None
        self._model: str | None = None
        self._error: tuple[str | None, str | None] = (None, None)
        self._usage: Any = None
        self._reasons: dict[int, str] = {}
        self._output_chunks = 0
        self._tools = 0
        self._text = TextBuffer()
        self._shape: tuple[str, ...] = ()

    def feed(self, event: str | None, data: bytes) -> bool:
        try:
            obj = json.loads(data)
            chunks = obj if isinstance(obj, list) else (obj,)
            output = False
            for chunk in chunks:
                if isinstance(chunk, dict) and self._absorb(chunk):
                    output = True
            if output:
                self._output_chunks += 1
            return output
        except Exception:
            return False

    def _absorb(self, chunk: dict[str, Any]) -> bool:
        if not self._parsed:
            self._parsed = True
            self._shape = shape_of(chunk)
        if chunk.get("error"):
            error_type, message = _error(chunk)
            self._error = (error_type or UNTYPED_ERROR, message)
            return False
        self._id = self._id or get_str(chunk, "responseId")
        self._model = self._model or get_str(chunk, "modelVersion")
        usage = chunk.get("usageMetadata")
        if isinstance(usage, dict):
            self._usage = usage
        blocked = get_str(get_dict(chunk, "promptFeedback"), "blockReason")
        if blocked:
            self._blocked = blocked
            self._done = True
        output = False
        for position, candidate in enumerate(get_list(chunk, "candidates") or ()):
            if not isinstance(candidate, dict):
                continue
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason:
                index = candidate.get("index")
                self._reasons[index if isinstance(index, int) else position] = reason
                self._done = True
            for part in get_list(get_dict(candidate, "content"), "parts") or ():
                if not isinstance(part, dict):
                    continue
                text = part.get("text")
                if isinstance(text, str) and text:
                    output = True
                    if part.get("thought") is not True:
                        self._text.add(text)
                elif "functionCall" in part:
                    self._tools += 1
                    output = True
                elif "inlineData" in part or "executableCode" in part:
                    output = True
        return output

    def finish(self, streamed: bool = True) -> ResponseFacts:
        usage = self._usage
        candidates = get_int(usage, "candidatesTokenCount")
        thoughts = get_int(usage, "thoughtsTokenCount")
        reasons = tuple(self._reasons[index] for index in sorted(self._reasons))
        return new_response_facts(
            response_id=self._id,
            response_model=self._model,
            finish_reasons=reasons or ((self._blocked,) if self._blocked else ()),
            usage=new_usage(
                input_tokens=_input_tokens(usage),
                output_tokens=sum_known(candidates, thoughts),
                cache_read_input_tokens=get_int(usage, "cachedContentTokenCount"),
                reasoning_output_tokens=thoughts,
            ),
            error_type=self._error[0],
            error_message=self._error[1],
            completed=self._done or not streamed,
            output_chunks=self._output_chunks if streamed else 0,
            output_text=self._text.value(),
            tool_call_count=self._tools,
            refusal=self._blocked is not None,
            shape=self._shape,
            parsed=self._parsed,
        )


class GenerateContentParser:
    """`:generateContent` and `:streamGenerateContent`."""

    api: str = "gemini.generate_content"
    operation: str = "generate_content"
    stream_format: StreamFormat = "sse"

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        model, method = model_and_method(path)
        stream = method == "streamGenerateContent"
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_request_facts(model=model, stream=stream)
        config = get_dict(obj, _key(obj, "generationConfig", "generation_config"))
        schema = get_dict(config, _key(config, "responseJsonSchema", "response_json_schema")) or get_dict(
            config, _key(config, "responseSchema", "response_schema")
        )
        mime = get_str(config, _key(config, "responseMimeType", "response_mime_type"))
        output_type = "json" if schema is not None or mime == "application/json" else None
        candidates = get_int(config, _key(config, "candidateCount", "candidate_count"))
        tool_config = get_dict(obj, _key(obj, "toolConfig", "tool_config"))
        calling = get_dict(tool_config, _key(tool_config, "functionCallingConfig", "function_calling_config"))
        if model is None:
            body_model = get_str(obj, "model")
            model = body_model.rsplit("/", 1)[-1] if body_model else None
        return new_request_facts(
            model=model,
            stream=stream,
            max_tokens=get_int(config, _key(config, "maxOutputTokens", "max_output_tokens")),
            temperature=get_float(config, "temperature"),
            top_p=get_float(config, _key(config, "topP", "top_p")),
            top_k=get_float(config, _key(config, "topK", "top_k")),
            frequency_penalty=get_float(config, _key(config, "frequencyPenalty", "frequency_penalty")),
            presence_penalty=get_float(config, _key(config, "presencePenalty", "presence_penalty")),
            stop_sequences=str_tuple(config.get(_key(config, "stopSequences", "stop_sequences"))) if config else None,
            seed=get_int(config, "seed"),
            choice_count=candidates if candidates is not None and candidates != 1 else None,
            output_type="text" if output_type is None and mime == "text/plain" else output_type,
            json_schema=schema,
            tool_choice_required=get_str(calling, "mode") == "ANY",
            has_tools=bool(get_list(obj, "tools")),
        )

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        accumulator = GenerateContentStream()
        accumulator.feed(None, body)
        return accumulator.finish(streamed=False)

    @guarded(status_error)
    def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        error_type, message = _error(obj)
        return new_response_facts(
            error_type=error_type or str(status_code),
            error_message=message,
            shape=shape_of(obj[0] if isinstance(obj, list) and obj else obj),
            parsed=isinstance(obj, (dict, list)),
        )

    def stream_parser(self) -> StreamParser:
        return GenerateContentStream()


class EmbedContentParser(GenerateContentParser):
    """`:embedContent` and `:batchEmbedContents`; embeddings never stream."""

    api: str = "gemini.embed_content"
    operation: str = "embeddings"

    @guarded(no_request)
    def parse_request(self, body: bytes, path: str, query: str) -> RequestFacts:
        model, _ = model_and_method(path)
        return new_request_facts(model=model)

    @guarded(unparsed)
    def parse_response(self, body: bytes) -> ResponseFacts:
        obj = loads_or_none(body)
        if not isinstance(obj, dict):
            return new_response_facts(parsed=False)
        usage = get_dict(obj, "usageMetadata")
        return new_response_facts(
            usage=new_usage(input_tokens=get_int(usage, "promptTokenCount")),
            shape=shape_of(obj),
        )

    def stream_parser(self) -> StreamParser:
        return BufferedStreamParser(self.parse_response)


def _input_tokens(usage: Any) -> int | None:
    """The prompt plus the tool-use prompt (code execution, search results fed back): billed as input,
    but outside promptTokenCount (totalTokenCount adds the two). No prompt count, no known input."""
    prompt = get_int(usage, "promptTokenCount")
    tools = get_int(usage, "toolUsePromptTokenCount")
    return prompt if prompt is None or tools is None else prompt + tools
