"""Anthropic Messages: `POST /v1/messages`, JSON and SSE, with cache usage and mid-stream errors."""

from __future__ import annotations

import json
from typing import Any

from ..call import Call, StreamPlan, Template, json_reply, mapping, retry_headers, sse, stream_reply
from ..content import Output
from ..http import HttpResponse
from ..limits import rfc3339

__all__ = ["error", "messages"]

_HOLE = Template.HOLE
_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}


def _headers(call: Call) -> list[tuple[str, str]]:
    lim = call.limits
    reset = rfc3339(lim.reset_s)
    return [
        ("request-id", call.new_id("req_", 24)),
        ("anthropic-ratelimit-requests-limit", str(lim.limit_requests)),
        ("anthropic-ratelimit-requests-remaining", str(lim.remaining_requests)),
        ("anthropic-ratelimit-requests-reset", reset),
        ("anthropic-ratelimit-tokens-limit", str(lim.limit_tokens)),
        ("anthropic-ratelimit-tokens-remaining", str(lim.remaining_tokens)),
        ("anthropic-ratelimit-tokens-reset", reset),
    ]


def _error_body(call: Call, status: int) -> dict[str, Any]:
    kind, message = _ERRORS.get(status, ("api_error", "Internal server error"))
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": call.new_id("req_", 24)}


def error(call: Call, status: int) -> HttpResponse:
    return json_reply(status, _error_body(call, status), _headers(call) + retry_headers(call.settings, status))


def _usage(call: Call, output_tokens: int) -> dict[str, Any]:
    total, settings = call.input_tokens, call.settings
    read = min(settings.cached_input_tokens, total)
    written = min(settings.cache_creation_input_tokens, total - read)
    usage: dict[str, Any] = {
        "input_tokens": total - read - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    if settings.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": settings.reasoning_tokens}
    return usage


def _plan(call: Call) -> Output:
    body = call.body
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and "name" in t]
    choice = mapping(body.get("tool_choice"))
    tool = None
    if tools and choice.get("type") != "none":
        if choice.get("type") == "tool":
            chosen = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
            tool = (str(chosen["name"]), chosen.get("input_schema"))
        elif choice.get("type") == "any" or call.settings.tool_calls:
            tool = (str(tools[0]["name"]), tools[0].get("input_schema"))
    fmt = mapping(body.get("output_format") or mapping(body.get("output_config")).get("format"))
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    return call.output(body.get("max_tokens"), schema=schema, tool=tool)


def messages(call: Call, model: str) -> HttpResponse:
    out = _plan(call)
    stop = {"tool": "tool_use", "refusal": "refusal"}.get(out.kind, "end_turn")
    stop = "max_tokens" if out.truncated else stop
    output_tokens = out.tokens + call.settings.reasoning_tokens
    tool_id = call.new_id("toolu_01", 22)
    message: dict[str, Any] = {
        "id": call.new_id("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "model": call.model(model),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(call, 1),
    }
    if out.kind == "tool":
        block: dict[str, Any] = {"type": "tool_use", "id": tool_id, "name": out.tool_name, "input": {}}
    else:
        block = {"type": "text", "text": ""}
    if not call.stream:
        if out.kind == "tool":
            block["input"] = json.loads(out.text) if not out.truncated else {}
        else:
            block["text"] = out.text
        content = [] if out.kind == "empty" else [block]
        reply = {**message, "content": content, "stop_reason": stop, "usage": _usage(call, output_tokens)}
        return json_reply(200, reply, _headers(call))
    delta = (
        {"type": "input_json_delta", "partial_json": _HOLE}
        if out.kind == "tool"
        else {"type": "text_delta", "text": _HOLE}
    )
    template = Template({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
    prelude = [sse({"type": "message_start", "message": message}, "message_start")]
    coda = []
    if out.kind != "empty":
        prelude.append(sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"))
        coda.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    prelude.append(sse({"type": "ping"}, "ping"))
    usage = _usage(call, output_tokens)
    usage.pop("cache_creation")
    usage.pop("service_tier")
    final_delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}
    coda.append(sse(final_delta, "message_delta"))
    coda.append(sse({"type": "message_stop"}, "message_stop"))
    failure = _error_body(call, 529)
    plan = StreamPlan(
        [template(piece) for piece in out.pieces],
        prelude=prelude,
        coda=coda,
        error=sse(failure, "error"),
        garbage=b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type\n\n',
    )
    return stream_reply(call, plan, _headers(call))
