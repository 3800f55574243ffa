"""Gemini (AI Studio and Vertex paths): generateContent, streamGenerateContent (SSE with usage on every
chunk, counts cumulative, finishReason on the last), embedContent, batchEmbedContents, predict and
countTokens."""

from __future__ import annotations

import json
from typing import Any

from ..call import Call, StreamPlan, Template, json_reply, mapping, retry_headers, sse, stream_reply
from ..content import Output, estimate_tokens
from ..http import HttpResponse
from .openai import unit_vector

__all__ = ["count_tokens", "embed", "error", "generate"]

_HOLE = Template.HOLE
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    503: "The model is overloaded. Please try again later.",
}


def _error_body(status: int, retry_after_s: float) -> dict[str, Any]:
    message = _MESSAGES.get(
        status, "Internal error encountered." if status >= 500 else "Request contains an invalid argument."
    )
    body: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if status == 429:
        info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after_s:g}s"}
        body["details"] = [info]
    return {"error": body}


def error(call: Call, status: int) -> HttpResponse:
    body = _error_body(status, call.settings.retry_after_s)
    return json_reply(status, body, retry_headers(call.settings, status))


def _plan(call: Call) -> Output:
    body = call.body
    config = mapping(body.get("generationConfig") or body.get("generation_config"))
    declarations = [
        d for tool in body.get("tools") or () if isinstance(tool, dict) for d in tool.get("functionDeclarations") or ()
    ]
    calling = mapping(mapping(body.get("toolConfig")).get("functionCallingConfig"))
    tool = None
    if declarations and (calling.get("mode") == "ANY" or (call.settings.tool_calls and calling.get("mode") != "NONE")):
        allowed = calling.get("allowedFunctionNames") or [declarations[0].get("name")]
        chosen = next((d for d in declarations if d.get("name") in allowed), declarations[0])
        tool = (str(chosen.get("name")), chosen.get("parametersJsonSchema") or chosen.get("parameters"))
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    json_mode = config.get("responseMimeType") == "application/json"
    return call.output(config.get("maxOutputTokens"), json_mode=json_mode, schema=schema, tool=tool)


def generate(call: Call, model: str, stream: bool) -> HttpResponse:
    out = _plan(call)
    prompt, thoughts = call.input_tokens, call.settings.reasoning_tokens
    cached = min(call.settings.cached_input_tokens, prompt)
    finish = "MAX_TOKENS" if out.truncated else "SAFETY" if out.kind == "refusal" else "STOP"
    shown = () if out.kind == "refusal" else out.pieces

    def usage(candidates: int | str) -> dict[str, Any]:
        meta: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
        meta["totalTokenCount"] = prompt + thoughts + candidates if isinstance(candidates, int) else _HOLE
        if cached:
            meta["cachedContentTokenCount"] = cached
        if thoughts:
            meta["thoughtsTokenCount"] = thoughts
        meta["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        return meta

    tail = {"modelVersion": call.model(model), "responseId": call.new_id("", 22)}

    def response(parts: list[dict[str, Any]] | None, count: int, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}} if parts is not None else {}
        if last:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {"candidates": [candidate], "usageMetadata": usage(count), **tail}

    def parts(pieces: tuple[str, ...]) -> list[dict[str, Any]] | None:
        if out.kind == "refusal":
            return None
        if out.kind == "tool":
            args = json.loads(out.text) if not out.truncated else {}
            return [{"functionCall": {"name": out.tool_name, "args": args}}]
        return [{"text": "".join(pieces)}]

    if not stream:
        return json_reply(200, response(parts(shown), out.tokens, True))
    if out.kind == "tool" or len(shown) <= 1:
        chunks = [sse(response(parts(shown), out.tokens, True))]
    else:
        template = Template(
            {
                "candidates": [{"content": {"parts": [{"text": _HOLE}], "role": "model"}, "index": 0}],
                "usageMetadata": usage(_HOLE),
                **tail,
            }
        )
        chunks = [template(piece, n + 1, prompt + thoughts + n + 1) for n, piece in enumerate(shown[:-1])]
        chunks.append(sse(response([{"text": shown[-1]}], out.tokens, True)))
    failure = sse(_error_body(500, 0))
    garbage = b'data: {"candidates":[{"content":{"parts":[{"text":tru\n\n'
    return stream_reply(call, StreamPlan(chunks, error=failure, garbage=garbage), [])


def embed(call: Call, model: str, method: str) -> HttpResponse:
    body = call.body
    size = body.get("outputDimensionality") or call.settings.embedding_dimensions
    if method == "batchEmbedContents":
        requests = body.get("requests") or []
        vectors = [{"values": unit_vector(call.seed + n, size)} for n in range(len(requests))]
        return json_reply(200, {"embeddings": vectors})
    if method == "predict":
        instances = body.get("instances") or []
        size = (body.get("parameters") or {}).get("outputDimensionality") or size
        tokens = estimate_tokens(call.request.body)
        predictions = [
            {"embeddings": {"values": unit_vector(call.seed + n, size), "statistics": {"token_count": tokens}}}
            for n in range(len(instances))
        ]
        return json_reply(200, {"predictions": predictions, "metadata": {"billableCharacterCount": tokens * 4}})
    return json_reply(200, {"embedding": {"values": unit_vector(call.seed, size)}})


def count_tokens(call: Call) -> HttpResponse:
    return json_reply(200, {"totalTokens": call.input_tokens})
