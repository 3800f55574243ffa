"""The builder: a dict of picked span attributes (see `attributes.py`) plus the span's times, ids,
status and scope, to a `CallRecord`. Shared by every front end (protobuf, wire bytes, JSON, SDK spans)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from .. import semconv as sc
from ..pricing import PriceBook
from ..records import (
    CallRecord,
    RateLimits,
    RequestFacts,
    Usage,
    new_call_record,
    new_rate_limits,
    new_request_facts,
    new_response_facts,
    new_usage,
)
from .attributes import _LLM_REQUEST_TYPE, _OPENAI_API_BASE, _bool, _float, _int, _str, _strs

__all__ = ["PROVIDER_ALIASES", "build_record", "provider_name"]

_INFERENCE_OPERATIONS: frozenset[str] = frozenset(
    {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS, sc.OP_FETCH_RESPONSE}
)
_LLM_REQUEST_TYPES = {"chat": sc.OP_CHAT, "completion": sc.OP_TEXT_COMPLETION, "embedding": sc.OP_EMBEDDINGS}
#: Provider names other instrumentations (and older conventions) use -> the current convention's name.
PROVIDER_ALIASES: dict[str, str] = {
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "xai": "x_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "bedrock": "aws.bedrock",
    "watsonx": "ibm.watsonx.ai",
}
_OPENAI_SHAPED_OPERATIONS = {
    sc.OP_CHAT: "openai.chat_completions",
    sc.OP_TEXT_COMPLETION: "openai.completions",
    sc.OP_EMBEDDINGS: "openai.embeddings",
    sc.OP_FETCH_RESPONSE: "openai.responses",
}
_NOT_OPENAI_SHAPED = frozenset({"aws.bedrock", "ibm.watsonx.ai", "azure.ai.inference"})

_OWN_SCOPE = "routewatch"
_STATUS_ERROR = 2  # OTLP Status.code and the SDK's StatusCode.ERROR
_OTHER_ERROR = "_OTHER"  # error.type's convention for "an error of no known type"


def provider_name(raw: Any) -> str:
    """The provider a span names (`gen_ai.provider.name` or an older spelling's value), as the
    current convention spells it: lower-cased, aliases mapped; "unknown" when there is none."""
    name = _str(raw)
    if name is None:
        return "unknown"
    lowered = name.lower()
    return PROVIDER_ALIASES.get(lowered, lowered)


def _operation(op: Any, kind: Any) -> str | None:
    if isinstance(op, str):
        return op if op in _INFERENCE_OPERATIONS else None
    if isinstance(kind, str):
        return _LLM_REQUEST_TYPES.get(kind.lower())
    return None


def _api(api: str | None, api_type: str | None, provider: str, operation: str) -> str:
    if api is not None:
        return api
    if api_type in ("chat_completions", "responses"):
        return f"openai.{api_type}"
    if provider == "anthropic":
        return "anthropic.messages"
    if provider.startswith("gcp."):
        return "gemini.embed_content" if operation == sc.OP_EMBEDDINGS else "gemini.generate_content"
    if provider == "cohere":
        return "cohere.chat"
    if provider == "ollama":
        return "ollama.generate" if operation == sc.OP_TEXT_COMPLETION else "ollama.chat"
    if provider not in _NOT_OPENAI_SHAPED and operation in _OPENAI_SHAPED_OPERATIONS:
        return _OPENAI_SHAPED_OPERATIONS[operation]
    return f"{provider}.{operation}"


def _output_content(raw: Any) -> tuple[str | None, int]:
    """Text and tool-call count from `gen_ai.output.messages` (present only with content capture)."""
    if not isinstance(raw, str):
        return None, 0
    try:
        messages = json.loads(raw)
    except ValueError:
        return None, 0
    texts: list[str] = []
    tool_calls = 0
    for message in messages if isinstance(messages, list) else ():
        for part in (message.get("parts") or ()) if isinstance(message, dict) else ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("content"), str):
                texts.append(part["content"])
            elif part.get("type") == "tool_call":
                tool_calls += 1
    return "".join(texts), tool_calls


def _host_port(url: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, None
    if port is None and parts.scheme in ("http", "https"):
        port = 443 if parts.scheme == "https" else 80
    return parts.hostname, port


# --- caches: what repeats from call to call of a stream is worked out once -------------------------------
_MAX_CACHED = 4096
_T = tuple[Any, ...]

# The attributes that say which stream a call belongs to and where it went. Their values give the
# operation, provider, api, models and server, the same for every call of the stream.
_STREAM_KEYS = (
    sc.GEN_AI_OPERATION_NAME, _LLM_REQUEST_TYPE, sc.GEN_AI_PROVIDER_NAME, sc.RW_API, sc.OPENAI_API_TYPE,
    sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL, sc.SERVER_ADDRESS, sc.SERVER_PORT, _OPENAI_API_BASE,
)  # fmt: skip
_stream_cache: dict[_T, _T | None] = {}


def _stream_facts(values: _T) -> _T | None:
    """(operation, provider, api, request model, response model, server address, server port), or
    None when the span is no inference call; `values` are the `_STREAM_KEYS` attributes' values."""
    op, kind, raw_provider, api_attr, api_type, request_model, response_model, address, port, base = values
    operation = _operation(op, kind)
    if operation is None:
        return None
    provider = provider_name(raw_provider)
    api = _api(_str(api_attr), _str(api_type), provider, operation)
    server_address, server_port = _str(address), _int(port)
    if server_address is None and isinstance(base, str):
        server_address, server_port = _host_port(base)
    return operation, provider, api, _str(request_model), _str(response_model), server_address, server_port


def _cached(cache: dict[_T, Any], values: _T, make: Any) -> Any:
    """`make(values)`, remembered. The key holds the values' types too: True == 1, but a port of True is
    no port while a port of 1 is one."""
    key = (values, tuple(map(type, values)))
    try:
        found = cache.get(key, cache)
    except TypeError:  # an unhashable value (a list from a hand-made mapping): no caching
        return make(values)
    if found is cache:
        found = make(values)
        if len(cache) >= _MAX_CACHED:
            cache.clear()
        cache[key] = found
    return found


_REQUEST_KEYS = (
    sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_TEMPERATURE, sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_TOP_K,
    sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, sc.GEN_AI_REQUEST_PRESENCE_PENALTY, sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    sc.GEN_AI_REQUEST_SEED, sc.GEN_AI_REQUEST_CHOICE_COUNT, sc.GEN_AI_OUTPUT_TYPE, sc.RW_INCLUDE_USAGE_INJECTED,
    sc.OPENAI_REQUEST_SERVICE_TIER,
)  # fmt: skip
_CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)
_REQUEST_OR_CONTENT: frozenset[str] = frozenset(_REQUEST_KEYS + _CONTENT_KEYS)
# Calls of one stream mostly ask the same thing: their (immutable) RequestFacts are shared.
_request_cache: dict[_T, RequestFacts] = {}


def _new_request(key: _T) -> RequestFacts:
    model, stream, max_tokens, temperature, top_p, top_k, frequency, presence, stops, seed, n, output_type, \
        injected, tier, messages, instructions = key  # fmt: skip
    return new_request_facts(
        model=model,
        stream=stream,
        max_tokens=_int(max_tokens),
        temperature=_float(temperature),
        top_p=_float(top_p),
        top_k=_float(top_k),
        frequency_penalty=_float(frequency),
        presence_penalty=_float(presence),
        stop_sequences=_strs(stops) or None,
        seed=_int(seed),
        choice_count=_int(n),
        output_type=_str(output_type),
        include_usage_injected=bool(_bool(injected)),
        service_tier=_str(tier),
        input_messages=_str(messages),
        system_instructions=_str(instructions),
    )


_NO_REQUEST_ATTRIBUTES = (None,) * len(_REQUEST_KEYS + _CONTENT_KEYS)


# The common case, a span with no request attribute but the model and stream flag: (model, stream) ->
# its RequestFacts. Both are coerced already (a str or None, a bool), so they key it without their types.
_plain_requests: dict[tuple[str | None, bool], RequestFacts] = {}


def _request_facts(a: dict[str, Any], model: str | None, stream: bool) -> RequestFacts:
    if _REQUEST_OR_CONTENT.isdisjoint(a):
        found = _plain_requests.get((model, stream))
        if found is None:
            if len(_plain_requests) >= _MAX_CACHED:
                _plain_requests.clear()
            found = _plain_requests[model, stream] = _new_request((model, stream, *_NO_REQUEST_ATTRIBUTES))
        return found
    key = (model, stream, *map(a.get, _REQUEST_KEYS), *map(a.get, _CONTENT_KEYS))
    if a.get(sc.GEN_AI_INPUT_MESSAGES) is not None or a.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS) is not None:
        return _new_request(key)  # content is unique to each call: not cached
    return _cached(_request_cache, key, _new_request)  # type: ignore[no-any-return]


_USAGE_KEYS = (
    sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
)  # fmt: skip
# Token counts repeat a lot: equal counts share one (immutable) Usage.
_usage_cache: dict[_T, Usage] = {}


def _new_usage(key: _T) -> Usage:
    input_tokens, output_tokens, cache_read, cache_creation, reasoning = map(_int, key)
    return new_usage(
        input_tokens=input_tokens, output_tokens=output_tokens, cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation, reasoning_output_tokens=reasoning,
    )  # fmt: skip


_RATE_LIMIT_KEYS = (
    sc.RW_RATELIMIT_REMAINING_REQUESTS, sc.RW_RATELIMIT_REMAINING_TOKENS, sc.RW_RATELIMIT_LIMIT_REQUESTS,
    sc.RW_RATELIMIT_LIMIT_TOKENS, sc.RW_RATELIMIT_RESET_REQUESTS, sc.RW_RATELIMIT_RESET_TOKENS, sc.RW_RETRY_AFTER,
)  # fmt: skip
_RATE_LIMIT_SET: frozenset[str] = frozenset(_RATE_LIMIT_KEYS)
_NO_RATE_LIMITS = RateLimits()
_NO_USAGE = Usage()


def _rate_limits(a: dict[str, Any]) -> RateLimits:
    """Only routewatch's own spans carry rate-limit headroom (others' same-named keys mean other things)."""
    if sc.RW_API not in a or _RATE_LIMIT_SET.isdisjoint(a):
        return _NO_RATE_LIMITS
    return new_rate_limits(
        remaining_requests=_int(a.get(sc.RW_RATELIMIT_REMAINING_REQUESTS)),
        remaining_tokens=_int(a.get(sc.RW_RATELIMIT_REMAINING_TOKENS)),
        limit_requests=_int(a.get(sc.RW_RATELIMIT_LIMIT_REQUESTS)),
        limit_tokens=_int(a.get(sc.RW_RATELIMIT_LIMIT_TOKENS)),
        reset_requests_s=_float(a.get(sc.RW_RATELIMIT_RESET_REQUESTS)),
        reset_tokens_s=_float(a.get(sc.RW_RATELIMIT_RESET_TOKENS)),
        retry_after_s=_float(a.get(sc.RW_RETRY_AFTER)),
    )


# --- the builder --------------------------------------------------------------------------------------
def build_record(
    a: dict[str, Any], tags: tuple[tuple[str, str], ...], name: str, start_ns: int, end_ns: int,
    status_code: int, status_message: str, trace_id: int | None, span_id: int | None, scope_name: str,
    prices: PriceBook | None,
) -> CallRecord | None:  # fmt: skip
    """The record of one span from its picked attributes; None when it is no inference call.
    `end_ns` 0 (or not after `start_ns`) gives a record of unknown duration (`duration_s` None)."""
    get = a.get
    facts = _cached(_stream_cache, tuple(map(get, _STREAM_KEYS)), _stream_facts)
    if facts is None:
        return None
    operation, provider, api, request_model, response_model, server_address, server_port = facts
    # No end time (0), or none after the start: how long the call took is unknown, not 0 s.
    duration_s = (end_ns - start_ns) / 1e9 if start_ns and end_ns > start_ns else None

    if operation == sc.OP_FETCH_RESPONSE:  # a read-back is no new generation
        usage = _NO_USAGE
    else:
        usage = _cached(_usage_cache, tuple(map(get, _USAGE_KEYS)), _new_usage)

    http_status = _int(get(sc.HTTP_RESPONSE_STATUS_CODE))
    error_type = _str(get(sc.ERROR_TYPE))
    if error_type is None:
        if http_status is not None and http_status >= 400:
            error_type = str(http_status)
        elif status_code == _STATUS_ERROR:
            error_type = _OTHER_ERROR

    completed_attr = _bool(get(sc.RW_STREAM_COMPLETED))
    stream = bool(_bool(get(sc.GEN_AI_REQUEST_STREAM)) or completed_attr is not None)
    ttfc = _float(get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)) if stream else None
    chunks = _int(get(sc.RW_STREAM_CHUNKS)) or 0
    intervals: tuple[float, ...] = ()
    if ttfc is not None and chunks >= 2 and duration_s is not None and duration_s > ttfc:
        intervals = ((duration_s - ttfc) / (chunks - 1),)

    if sc.RW_COST_PRICED in a:
        cost = _float(get(sc.RW_COST_USD))
        priced = bool(_bool(get(sc.RW_COST_PRICED)))
    elif prices is not None:
        price = prices.cost(provider, response_model or request_model, usage)
        cost, priced = price.usd, price.priced
    else:
        cost, priced = None, False

    tokens_per_s = _float(get(sc.RW_OUTPUT_TOKENS_PER_S))
    if tokens_per_s is None and usage.output_tokens and duration_s is not None:
        generating = duration_s - (ttfc or 0.0)
        tokens_per_s = usage.output_tokens / generating if generating > 0 else None

    finish_reasons = _strs(get(sc.GEN_AI_RESPONSE_FINISH_REASONS))
    response_id = _str(get(sc.GEN_AI_RESPONSE_ID))
    output = get(sc.GEN_AI_OUTPUT_MESSAGES)
    output_text, tool_calls = _output_content(output) if output is not None else (None, 0)
    response = new_response_facts(  # positional, as the record below
        response_id,
        response_model,
        finish_reasons,
        usage,
        error_type,
        (status_message or None) if error_type is not None else None,  # error_message
        completed_attr if completed_attr is not None else True,  # completed
        chunks,  # output_chunks
        output_text,
        tool_calls,  # tool_call_count
        False,  # refusal (a span does not say)
        _str(get(sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT)),  # system_fingerprint
        _str(get(sc.OPENAI_RESPONSE_SERVICE_TIER)),  # service_tier
    )  # fmt: skip
    # Positional, in field order (commented where a value's name is not its field's): a Python callee
    # matches keyword arguments name by name, and 29 of them were a quarter of this function's
    # instructions (callgrind). mypy checks each value's type against its field's.
    return new_call_record(
        provider,
        operation,
        api,
        request_model,
        response_model,
        server_address,
        server_port,
        start_ns,  # start_time_unix_nano
        duration_s,
        http_status,  # status_code
        error_type,
        stream,
        completed_attr if stream else None,  # stream_completed
        ttfc,  # time_to_first_chunk_s
        intervals,  # chunk_intervals_s
        usage,
        cost,  # cost_usd
        priced,
        tokens_per_s,  # output_tokens_per_s
        finish_reasons,
        response_id,
        _int(get(sc.HTTP_REQUEST_RESEND_COUNT)),  # retry_count
        _rate_limits(a),  # rate_limits
        tags,
        _request_facts(a, request_model, stream),  # request
        response,
        trace_id,
        span_id,
        None if scope_name == _OWN_SCOPE else (scope_name or "unknown"),  # span_scope
    )  # fmt: skip
