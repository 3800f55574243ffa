"""OpenAI chat completions, legacy completions and embeddings (also served for Azure deployments and
OpenAI-compatible prefixes)."""

from __future__ import annotations

import base64
import math
import random
import struct
from typing import Any

from ..call import Call, StreamPlan, Template, json_reply, mapping, retry_headers, sse, stream_reply
from ..content import Output, estimate_tokens
from ..http import HttpResponse
from ..limits import go_duration

__all__ = ["chat_completions", "completions", "embeddings", "error", "headers", "usage"]

_HOLE = Template.HOLE
_DONE = b"data: [DONE]\n\n"
_MESSAGES: dict[int, tuple[str, str, str | None]] = {
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
# A failure after the 200 is an SSE `event: error` whose data holds the usual error object.
_STREAM_ERROR = sse(
    {"error": {"message": _MESSAGES[500][0], "type": "server_error", "param": None, "code": None}}, "error"
)


def headers(call: Call, processing_s: float) -> list[tuple[str, str]]:
    """The request id, processing time and rate-limit headers OpenAI sends on every response."""
    lim = call.limits
    used_requests = lim.limit_requests - lim.remaining_requests
    used_tokens = lim.limit_tokens - lim.remaining_tokens
    return [
        ("x-request-id", call.new_id("req_", 32)),
        ("openai-processing-ms", str(round(processing_s * 1000))),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", str(lim.limit_requests)),
        ("x-ratelimit-limit-tokens", str(lim.limit_tokens)),
        ("x-ratelimit-remaining-requests", str(lim.remaining_requests)),
        ("x-ratelimit-remaining-tokens", str(lim.remaining_tokens)),
        ("x-ratelimit-reset-requests", go_duration(60 * used_requests / lim.limit_requests)),
        ("x-ratelimit-reset-tokens", go_duration(60 * used_tokens / lim.limit_tokens)),
    ]


def error(call: Call, status: int) -> HttpResponse:
    message, kind, code = _MESSAGES.get(status, ("The request failed.", "invalid_request_error", None))
    if status >= 500 and status not in _MESSAGES:
        message, kind = "The server is temporarily unavailable.", "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json_reply(status, body, headers(call, 0) + retry_headers(call.settings, status))


def usage(call: Call, out: Output) -> dict[str, Any]:
    prompt = call.input_tokens
    reasoning = call.settings.reasoning_tokens
    completion = out.tokens + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(call.settings.cached_input_tokens, prompt), "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chosen_tool(body: dict[str, Any], always: bool) -> tuple[str, dict[str, Any] | None] | None:
    tools = [t.get("function") or t for t in body.get("tools") or () if isinstance(t, dict)]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or choice).get("name")
        tool = next((t for t in tools if t.get("name") == wanted), tools[0])
    elif choice == "required" or always:
        tool = tools[0]
    else:
        return None
    return str(tool.get("name", "tool")), tool.get("parameters")


def chat_completions(call: Call, model: str) -> HttpResponse:
    body = call.body
    fmt = mapping(body.get("response_format"))
    schema = mapping(fmt.get("json_schema")).get("schema") if fmt.get("type") == "json_schema" else None
    out = call.output(
        body.get("max_completion_tokens", body.get("max_tokens")),
        json_mode=fmt.get("type") in ("json_object", "json_schema"),
        schema=schema,
        tool=_chosen_tool(body, call.settings.tool_calls),
    )
    finish = "length" if out.truncated else "tool_calls" if out.kind == "tool" else "stop"
    base = {
        "id": call.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": call.created,
        "model": call.model(model),
        "service_tier": "default",
        "system_fingerprint": call.settings.fingerprint,
    }
    call_id = call.new_id("call_")
    if not call.stream:
        message: dict[str, Any] = {"role": "assistant", "content": out.text, "refusal": None, "annotations": []}
        if out.kind == "refusal":
            message.update(content=None, refusal=out.text)
        elif out.kind == "tool":
            function = {"name": out.tool_name, "arguments": out.text}
            message.update(content=None, tool_calls=[{"id": call_id, "type": "function", "function": function}])
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        reply = {**base, "choices": [choice], "usage": usage(call, out)}
        return json_reply(200, reply, headers(call, call.delay_s))
    include_usage = bool(mapping(body.get("stream_options")).get("include_usage"))
    base["object"] = "chat.completion.chunk"
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    if out.kind == "tool":
        tool_call = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": out.tool_name, "arguments": ""},
        }
        first = {"role": "assistant", "content": None, "tool_calls": [tool_call], "refusal": None}
        piece = Template(chunk({"tool_calls": [{"index": 0, "function": {"arguments": _HOLE}}]}))
    elif out.kind == "refusal":
        first = {"role": "assistant", "content": None, "refusal": ""}
        piece = Template(chunk({"refusal": _HOLE}))
    else:
        first = {"role": "assistant", "content": "", "refusal": None}
        piece = Template(chunk({"content": _HOLE}))
    coda = [sse(chunk({}, finish))]
    if include_usage:
        coda.append(sse({**base, "choices": [], "usage": usage(call, out)}))
    coda.append(_DONE)
    plan = StreamPlan(
        [piece(p) for p in out.pieces],
        prelude=[sse(chunk(first))],
        coda=coda,
        error=_STREAM_ERROR,
        prelude_at_first_token=True,
    )
    return stream_reply(call, plan, headers(call, call.settings.ttft_s))


def completions(call: Call, model: str) -> HttpResponse:
    body = call.body
    out = call.output(body.get("max_tokens", 16))
    finish = "length" if out.truncated else "stop"
    base = {
        "id": call.new_id("cmpl-"),
        "object": "text_completion",
        "created": call.created,
        "model": call.model(model),
        "system_fingerprint": call.settings.fingerprint,
    }
    if not call.stream:
        choice = {"text": out.text, "index": 0, "logprobs": None, "finish_reason": finish}
        reply = {**base, "choices": [choice], "usage": usage(call, out)}
        return json_reply(200, reply, headers(call, call.delay_s))
    include_usage = bool(mapping(body.get("stream_options")).get("include_usage"))
    if include_usage:
        base["usage"] = None

    def chunk(text: str, finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    coda = [sse(chunk("", finish))]
    if include_usage:
        coda.append(sse({**base, "choices": [], "usage": usage(call, out)}))
    coda.append(_DONE)
    piece = Template(chunk(_HOLE))
    plan = StreamPlan([piece(p) for p in out.pieces], coda=coda, error=_STREAM_ERROR)
    return stream_reply(call, plan, headers(call, call.settings.ttft_s))


def embeddings(call: Call, model: str) -> HttpResponse:
    body = call.body
    raw = body.get("input")
    inputs = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
    dimensions = body.get("dimensions")
    size = dimensions if isinstance(dimensions, int) and dimensions > 0 else call.settings.embedding_dimensions
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for index, item in enumerate(inputs):
        vector = unit_vector(call.seed + index, size)
        tokens += len(item) if isinstance(item, list) else estimate_tokens(str(item).encode())
        value: Any = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    reply = {
        "object": "list",
        "data": data,
        "model": call.model(model),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json_reply(200, reply, headers(call, call.delay_s))


def unit_vector(seed: int, size: int) -> list[float]:
    """A deterministic unit-length vector (embeddings of the same input are identical)."""
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
