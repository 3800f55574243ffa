"""Ollama native API: `POST /api/chat` and `/api/generate`, NDJSON streams (the default) ending with a
`done: true` object that carries counts and durations in nanoseconds."""

from __future__ import annotations

import json
import time
from typing import Any

from ..call import Call, StreamPlan, Template, json_reply, mapping, ndjson, retry_headers, stream_reply
from ..http import HttpResponse

__all__ = ["error", "generate"]

_HOLE = Template.HOLE
_NS = 1_000_000_000


def error(call: Call, status: int) -> HttpResponse:
    message = (
        "server busy, please try again.  maximum pending requests exceeded"
        if status in (429, 503)
        else ("an error was encountered while running the model")
    )
    return json_reply(status, {"error": message}, retry_headers(call.settings, status))


def generate(call: Call, model: str, chat: bool) -> HttpResponse:
    """`chat` selects `/api/chat` (a `message`) over `/api/generate` (a `response` string)."""
    body = call.body
    options = mapping(body.get("options"))
    fmt = body.get("format")
    tools = [t.get("function") or t for t in body.get("tools") or () if isinstance(t, dict)] if chat else []
    tool = (str(tools[0].get("name")), tools[0].get("parameters")) if tools and call.settings.tool_calls else None
    out = call.output(
        options.get("num_predict"), json_mode=fmt == "json", schema=fmt if isinstance(fmt, dict) else None, tool=tool
    )
    settings = call.settings
    streamed = body.get("stream") is not False
    prompt = call.input_tokens
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(call.created))
    base = {"model": call.model(model), "created_at": created}
    prompt_ns = round(settings.ttft_s * _NS)
    eval_ns = round((settings.per_token_s * out.tokens if streamed else settings.latency_s) * _NS)
    final: dict[str, Any] = {
        "done": True,
        "done_reason": "length" if out.truncated else "stop",
        "total_duration": prompt_ns + eval_ns + 1_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": prompt_ns,
        "eval_count": out.tokens,
        "eval_duration": eval_ns,
    }
    if not chat:
        final["context"] = [1, 2, 3]

    def content(text: str) -> dict[str, Any]:
        if not chat:
            return {"response": text}
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if out.kind == "tool" and text:
            message["content"] = ""
            message["tool_calls"] = [{"function": {"name": out.tool_name, "arguments": json.loads(text)}}]
        return {"message": message}

    if not streamed:
        return json_reply(200, {**base, **content(out.text), **final})
    if out.kind == "tool":
        chunks = [ndjson({**base, **content(out.text), "done": False})] if not out.truncated else []
    else:
        template = Template({**base, **content(_HOLE), "done": False}, framing="ndjson")
        chunks = [template(piece) for piece in out.pieces]
    plan = StreamPlan(
        chunks,
        coda=[ndjson({**base, **content(""), **final})],
        error=ndjson({"error": "an error was encountered while running the model: unexpected EOF"}),
        garbage=b'{"model":"' + model.encode() + b'","message":{"role":"assistant","content":tru\n',
    )
    return stream_reply(call, plan, [], "application/x-ndjson")
