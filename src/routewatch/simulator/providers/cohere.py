"""Cohere v2 chat: `POST /v2/chat`, JSON and SSE (`message-start` ... `message-end` with usage)."""

from __future__ import annotations

import uuid
from typing import Any

from ..call import Call, StreamPlan, Template, json_reply, mapping, retry_headers, sse, stream_reply
from ..http import HttpResponse

__all__ = ["chat", "error"]

_HOLE = Template.HOLE
_MESSAGES = {
    400: "invalid request",
    401: "invalid api token",
    429: "You are past the per minute request limit, please wait and try again later.",
    500: "internal server error, this has been reported to our developers",
    503: "service unavailable, please try again later",
}


def error(call: Call, status: int) -> HttpResponse:
    message = _MESSAGES.get(status, "internal server error" if status >= 500 else "invalid request")
    body = {"id": str(uuid.UUID(int=call.rng.getrandbits(128), version=4)), "message": message}
    return json_reply(status, body, retry_headers(call.settings, status))


def chat(call: Call, model: str) -> HttpResponse:
    body = call.body
    tools = [t.get("function") or t for t in body.get("tools") or () if isinstance(t, dict)]
    wants_tool = tools and (body.get("tool_choice") == "REQUIRED" or call.settings.tool_calls)
    wants_tool = wants_tool and body.get("tool_choice") != "NONE"
    fmt = mapping(body.get("response_format"))
    out = call.output(
        body.get("max_tokens"),
        json_mode=fmt.get("type") == "json_object",
        schema=fmt.get("json_schema") or fmt.get("schema"),
        tool=(str(tools[0].get("name")), tools[0].get("parameters")) if wants_tool else None,
    )
    finish = "MAX_TOKENS" if out.truncated else "TOOL_CALL" if out.kind == "tool" else "COMPLETE"
    prompt = call.input_tokens
    usage = {
        "billed_units": {"input_tokens": prompt, "output_tokens": out.tokens},
        "tokens": {"input_tokens": prompt + 64, "output_tokens": out.tokens + 2},
        "cached_tokens": min(call.settings.cached_input_tokens, prompt),
    }
    response_id = str(uuid.UUID(int=call.rng.getrandbits(128), version=4))
    function = {"name": out.tool_name, "arguments": ""}
    tool_call: dict[str, Any] = {"id": call.new_id("call_", 16), "type": "function", "function": function}
    headers = [("x-request-id", response_id), ("num_tokens", str(prompt + out.tokens))]
    if not call.stream:
        message: dict[str, Any] = {"role": "assistant"}
        if out.kind == "tool":
            tool_call["function"] = {"name": out.tool_name, "arguments": out.text}
            message.update(tool_plan="I will call the tool.", tool_calls=[tool_call])
        else:
            message["content"] = [{"type": "text", "text": out.text}] if out.pieces else []
        reply = {"id": response_id, "message": message, "finish_reason": finish, "usage": usage}
        return json_reply(200, reply, headers)
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    prelude = [sse({"id": response_id, "type": "message-start", "delta": {"message": start}}, "message-start")]
    if out.kind == "tool":
        prelude.append(
            sse(
                {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": tool_call}}},
                "tool-call-start",
            )
        )
        delta: dict[str, Any] = {"message": {"tool_calls": {"function": {"arguments": _HOLE}}}}
        template = Template({"type": "tool-call-delta", "index": 0, "delta": delta}, "tool-call-delta")
        coda = [sse({"type": "tool-call-end", "index": 0}, "tool-call-end")]
    else:
        content = {"message": {"content": {"type": "text", "text": ""}}}
        prelude.append(sse({"type": "content-start", "index": 0, "delta": content}, "content-start"))
        delta = {"message": {"content": {"text": _HOLE}}}
        template = Template({"type": "content-delta", "index": 0, "delta": delta}, "content-delta")
        coda = [sse({"type": "content-end", "index": 0}, "content-end")]
    end = {"type": "message-end", "delta": {"finish_reason": finish, "usage": usage}}
    coda.append(sse(end, "message-end"))
    plan = StreamPlan([template(p) for p in out.pieces], prelude=prelude, coda=coda)
    return stream_reply(call, plan, headers)
