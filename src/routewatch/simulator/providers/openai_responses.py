"""OpenAI Responses: `POST /v1/responses` (JSON and typed SSE events) and `GET /v1/responses/{id}`."""

from __future__ import annotations

from typing import Any

from ..call import Call, StreamPlan, Template, dumps, json_reply, mapping, sse, stream_reply
from ..content import Output
from ..http import HttpResponse
from .openai import headers

__all__ = ["create", "retrieve"]

_HOLE = Template.HOLE
_KEEP = 256
_FAILURE = {"code": "server_error", "message": "An error occurred while processing your request."}


def _tool(body: dict[str, Any], always: bool) -> tuple[str, dict[str, Any] | None] | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
    elif choice == "required" or always:
        tool = tools[0]
    else:
        return None
    return str(tool.get("name", "tool")), tool.get("parameters")


def _usage(call: Call, out: Output) -> dict[str, Any]:
    prompt, reasoning = call.input_tokens, call.settings.reasoning_tokens
    output = out.tokens + reasoning
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": min(call.settings.cached_input_tokens, prompt)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def create(call: Call, model: str) -> HttpResponse:
    body = call.body
    fmt = mapping(mapping(body.get("text")).get("format")) or {"type": "text"}
    out = call.output(
        body.get("max_output_tokens"),
        json_mode=fmt.get("type") in ("json_object", "json_schema"),
        schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
        tool=_tool(body, call.settings.tool_calls),
    )
    status = "incomplete" if out.truncated else "completed"
    item_id = call.new_id("fc_" if out.kind == "tool" else "msg_", 48)
    call_id = call.new_id("call_")
    reasoning = [{"id": call.new_id("rs_", 48), "type": "reasoning", "summary": []}]
    prefix = reasoning if call.settings.reasoning_tokens else []

    def item(text: str, state: str) -> dict[str, Any]:
        if out.kind == "tool":
            fields = {"call_id": call_id, "name": out.tool_name, "arguments": text}
            return {"id": item_id, "type": "function_call", "status": state, **fields}
        part = {"type": "refusal", "refusal": text} if out.kind == "refusal" else _text_part(text)
        return {"id": item_id, "type": "message", "status": state, "role": "assistant", "content": [part]}

    def response(state: str, output: list[dict[str, Any]], usage: Any, error: Any = None) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": call.created,
            "status": state,
            "background": False,
            "error": error,
            "incomplete_details": {"reason": "max_output_tokens"} if state == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": call.model(model),
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": fmt},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    response_id = call.new_id("resp_", 48)
    final = response(status, [*prefix, item(out.text, status)], _usage(call, out))
    call.store[response_id] = dumps(final)
    while len(call.store) > _KEEP:
        del call.store[next(iter(call.store))]
    if not call.stream:
        return json_reply(200, final, headers(call, call.delay_s))

    index = len(prefix)
    where = {"item_id": item_id, "output_index": index}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": response("in_progress", [], None)}),
        ("response.in_progress", {"response": response("in_progress", [], None)}),
    ]
    for position, done in enumerate(prefix):
        events.append(("response.output_item.added", {"output_index": position, "item": done}))
        events.append(("response.output_item.done", {"output_index": position, "item": done}))
    events.append(("response.output_item.added", {"output_index": index, "item": item("", "in_progress")}))
    if out.kind == "tool":
        delta = "response.function_call_arguments.delta"
        closing = [("response.function_call_arguments.done", {**where, "arguments": out.text})]
    else:
        kind = "refusal" if out.kind == "refusal" else "output_text"
        delta = f"response.{kind}.delta"
        done_event, done_key = f"response.{kind}.done", "refusal" if kind == "refusal" else "text"
        empty_part = {"type": "refusal", "refusal": ""} if kind == "refusal" else _text_part("")
        full_part = item(out.text, status)["content"][0]
        events.append(("response.content_part.added", {**where, "content_index": 0, "part": empty_part}))
        extra: dict[str, Any] = {} if kind == "refusal" else {"logprobs": []}
        closing = [
            (done_event, {**where, "content_index": 0, done_key: out.text, **extra}),
            ("response.content_part.done", {**where, "content_index": 0, "part": full_part}),
        ]
    closing.append(("response.output_item.done", {"output_index": index, "item": item(out.text, status)}))
    closing.append((f"response.{status}", {"response": final}))

    def frame(number: int, event: str, data: dict[str, Any]) -> bytes:
        return sse({"type": event, "sequence_number": number, **data}, event)

    prelude = [frame(n, name, data) for n, (name, data) in enumerate(events)]
    extra_delta: dict[str, Any] = {"content_index": 0} if out.kind != "tool" else {}
    if out.kind in ("text", "json", "empty"):
        extra_delta["logprobs"] = []
    template = Template({"type": delta, "sequence_number": _HOLE, **where, **extra_delta, "delta": _HOLE}, delta)
    start = len(prelude)
    chunks = [template(start + n, piece) for n, piece in enumerate(out.pieces)]
    after = start + len(chunks)
    coda = [frame(after + n, name, data) for n, (name, data) in enumerate(closing)]
    error_at = start + min(call.settings.fault_after_chunks, len(chunks))
    if call.settings.responses_error_event == "error":
        error = frame(error_at, "error", {**_FAILURE, "param": None})
    else:
        failed = response("failed", [], None, _FAILURE)
        error = frame(error_at, "response.failed", {"response": failed})
    plan = StreamPlan(chunks, prelude=prelude, coda=coda, error=error)
    return stream_reply(call, plan, headers(call, call.settings.ttft_s))


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def retrieve(call: Call, response_id: str) -> HttpResponse:
    stored = call.store.get(response_id)
    if stored is None:
        message = f"Response with id '{response_id}' not found."
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
        return json_reply(404, body, headers(call, 0))
    return HttpResponse(200, [("content-type", "application/json"), *headers(call, call.delay_s)], stored)
