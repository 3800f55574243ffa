"""GenAI spans to `CallRecord`s: the collector's and `routewatch replay`'s way in.

One builder reads a small dict of the attributes it knows; three front ends fill that dict from an
OTLP protobuf `Span`, an OTLP JSON span object, or an SDK `ReadableSpan`. The record is the one the
in-process path builds, as far as a span can tell: routewatch's own spans carry everything the
detectors read; spans of other instrumentations (the official openai-v2 / util-genai ones, the
anthropic SDK's native spans, OpenLLMetry, OpenInference) are read with their own and older
attribute names (`gen_ai.system`, `gen_ai.usage.prompt_tokens`, `llm.request.type`, ...) and priced
with a `PriceBook` when they carry no cost.

What a span cannot tell stays unknown: usage nobody reported is `None`, there is no response body
shape, no output text unless content capture put `gen_ai.output.messages` on the span, and of a
stream's chunk intervals only their mean survives (kept as a one-element `chunk_intervals_s`, which
is what the `tpot` signal reads). Spans that are not GenAI inference calls (HTTP spans, tool and
agent spans) give `None`, after looking at attribute keys only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from .. import semconv as sc
from ..pricing import PriceBook
from ..records import CallRecord, RateLimits, RequestFacts, ResponseFacts, Usage

__all__ = [
    "DEFAULT_PRICES",
    "Batch",
    "is_genai_span",
    "record_from_json_span",
    "record_from_proto_span",
    "record_from_readable_span",
    "records_from_json_request",
    "records_from_request",
]

log = logging.getLogger("routewatch.otlp")

# Older and third-party names, read only here (semconv.py pins what routewatch writes).
_SYSTEM = sc.GEN_AI_SYSTEM_DEPRECATED
_LLM_REQUEST_TYPE = "llm.request.type"  # OpenLLMetry: chat | completion | embedding | rerank
_LLM_PROVIDER = "llm.provider"  # OpenInference
_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
_LLM_PROMPT_TOKENS = "llm.usage.prompt_tokens"
_LLM_COMPLETION_TOKENS = "llm.usage.completion_tokens"
_CACHE_READ_OLD = "gen_ai.usage.cache_read_input_tokens"
_CACHE_CREATION_OLD = "gen_ai.usage.cache_creation_input_tokens"
_CACHE_WRITE_NEW = "gen_ai.usage.cache_write.input_tokens"  # genai main (and the anthropic SDK)
_REASONING_OLD = "gen_ai.usage.reasoning_tokens"
_LLM_REASONING = "llm.usage.reasoning_tokens"
_FINISH_REASON_ONE = "gen_ai.response.finish_reason"
_LLM_FINISH_REASON = "llm.response.finish_reason"
_ANTHROPIC_STOP_REASON = "anthropic.message.stop_reason"
_STOP_REASON = "gen_ai.response.stop_reason"
_LLM_STOP_REASON = "llm.response.stop_reason"
_IS_STREAMING = "llm.is_streaming"
_GEN_AI_IS_STREAMING = "gen_ai.is_streaming"
_HTTP_STATUS_OLD = "http.status_code"
_REQUEST_N = "gen_ai.request.n"
_LLM_TOP_K = "llm.top_k"
_LLM_FREQUENCY_PENALTY = "llm.frequency_penalty"
_LLM_PRESENCE_PENALTY = "llm.presence_penalty"
_LLM_STOP_SEQUENCES = "llm.chat.stop_sequences"
_OPENAI_SERVICE_TIER_OLD = "gen_ai.openai.request.service_tier"
_OPENAI_FINGERPRINT_OLD = "gen_ai.openai.system_fingerprint"
_OPENAI_FINGERPRINT_LLMETRY = "gen_ai.openai.response.system_fingerprint"
_OPENAI_API_BASE = "gen_ai.openai.api_base"  # OpenLLMetry: the client's base URL (no server.* attributes)
_ANTHROPIC_REQUEST_TIER = "anthropic.request.service_tier"
_ANTHROPIC_RESPONSE_TIER = "anthropic.response.service_tier"

#: Attribute keys whose presence marks a span as GenAI (checked before anything is built).
GENAI_MARKERS: frozenset[str] = frozenset(
    {sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, _SYSTEM, _LLM_REQUEST_TYPE}
)

_INFERENCE_OPERATIONS = frozenset(
    {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS, sc.OP_FETCH_RESPONSE}
)
_LLM_REQUEST_TYPES = {"chat": sc.OP_CHAT, "completion": sc.OP_TEXT_COMPLETION, "embedding": sc.OP_EMBEDDINGS}
_PROVIDER_ALIASES = {
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

_WANTED: frozenset[str] = frozenset(
    {
        sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, _SYSTEM, _LLM_REQUEST_TYPE, _LLM_PROVIDER,
        sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_REQUEST_STREAM, _IS_STREAMING, _GEN_AI_IS_STREAMING,
        sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_TEMPERATURE, sc.GEN_AI_REQUEST_TOP_P,
        sc.GEN_AI_REQUEST_TOP_K, _LLM_TOP_K, sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, _LLM_FREQUENCY_PENALTY,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY, _LLM_PRESENCE_PENALTY, sc.GEN_AI_REQUEST_STOP_SEQUENCES,
        _LLM_STOP_SEQUENCES, sc.GEN_AI_REQUEST_SEED, sc.GEN_AI_REQUEST_CHOICE_COUNT, _REQUEST_N,
        sc.GEN_AI_OUTPUT_TYPE, sc.GEN_AI_RESPONSE_ID, sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_RESPONSE_FINISH_REASONS,
        _FINISH_REASON_ONE, _LLM_FINISH_REASON, _ANTHROPIC_STOP_REASON, _STOP_REASON, _LLM_STOP_REASON,
        sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        _PROMPT_TOKENS, _COMPLETION_TOKENS, _LLM_PROMPT_TOKENS, _LLM_COMPLETION_TOKENS,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, _CACHE_READ_OLD, sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        _CACHE_WRITE_NEW, _CACHE_CREATION_OLD, sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, _REASONING_OLD,
        _LLM_REASONING, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.OPENAI_API_TYPE, sc.OPENAI_REQUEST_SERVICE_TIER, _OPENAI_SERVICE_TIER_OLD, _ANTHROPIC_REQUEST_TIER,
        sc.OPENAI_RESPONSE_SERVICE_TIER, _ANTHROPIC_RESPONSE_TIER, sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
        _OPENAI_FINGERPRINT_OLD, _OPENAI_FINGERPRINT_LLMETRY, _OPENAI_API_BASE,
        sc.SERVER_ADDRESS, sc.SERVER_PORT, sc.ERROR_TYPE, sc.HTTP_RESPONSE_STATUS_CODE,
        _HTTP_STATUS_OLD, sc.HTTP_REQUEST_RESEND_COUNT, sc.RW_COST_USD, sc.RW_COST_PRICED,
        sc.RW_OUTPUT_TOKENS_PER_S, sc.RW_STREAM_COMPLETED, sc.RW_STREAM_CHUNKS, sc.RW_API,
        sc.RW_INCLUDE_USAGE_INJECTED, sc.RW_RATELIMIT_REMAINING_REQUESTS, sc.RW_RATELIMIT_REMAINING_TOKENS,
        sc.RW_RATELIMIT_LIMIT_REQUESTS, sc.RW_RATELIMIT_LIMIT_TOKENS, sc.RW_RATELIMIT_RESET_REQUESTS,
        sc.RW_RATELIMIT_RESET_TOKENS, sc.RW_RETRY_AFTER,
    }
)  # fmt: skip
# Older or third-party spellings -> the name the builder reads. The current name always wins; among
# aliases the first one present does.
_ALIASES: dict[str, str] = {
    _SYSTEM: sc.GEN_AI_PROVIDER_NAME,
    _LLM_PROVIDER: sc.GEN_AI_PROVIDER_NAME,
    _IS_STREAMING: sc.GEN_AI_REQUEST_STREAM,
    _GEN_AI_IS_STREAMING: sc.GEN_AI_REQUEST_STREAM,
    _LLM_TOP_K: sc.GEN_AI_REQUEST_TOP_K,
    _LLM_FREQUENCY_PENALTY: sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    _LLM_PRESENCE_PENALTY: sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    _LLM_STOP_SEQUENCES: sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    _REQUEST_N: sc.GEN_AI_REQUEST_CHOICE_COUNT,
    _FINISH_REASON_ONE: sc.GEN_AI_RESPONSE_FINISH_REASONS,
    _LLM_FINISH_REASON: sc.GEN_AI_RESPONSE_FINISH_REASONS,
    _ANTHROPIC_STOP_REASON: sc.GEN_AI_RESPONSE_FINISH_REASONS,
    _STOP_REASON: sc.GEN_AI_RESPONSE_FINISH_REASONS,
    _LLM_STOP_REASON: sc.GEN_AI_RESPONSE_FINISH_REASONS,
    _PROMPT_TOKENS: sc.GEN_AI_USAGE_INPUT_TOKENS,
    _LLM_PROMPT_TOKENS: sc.GEN_AI_USAGE_INPUT_TOKENS,
    _COMPLETION_TOKENS: sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    _LLM_COMPLETION_TOKENS: sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    _CACHE_READ_OLD: sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    _CACHE_WRITE_NEW: sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    _CACHE_CREATION_OLD: sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    _REASONING_OLD: sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    _LLM_REASONING: sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    _HTTP_STATUS_OLD: sc.HTTP_RESPONSE_STATUS_CODE,
    _OPENAI_SERVICE_TIER_OLD: sc.OPENAI_REQUEST_SERVICE_TIER,
    _ANTHROPIC_REQUEST_TIER: sc.OPENAI_REQUEST_SERVICE_TIER,
    _ANTHROPIC_RESPONSE_TIER: sc.OPENAI_RESPONSE_SERVICE_TIER,
    _OPENAI_FINGERPRINT_LLMETRY: sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
    _OPENAI_FINGERPRINT_OLD: sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
}
# attribute key -> (name the builder reads, whether it is the current spelling)
_SLOTS: dict[str, tuple[str, bool]] = {
    **{key: (key, True) for key in _WANTED if key not in _ALIASES},
    **{key: (name, False) for key, name in _ALIASES.items()},
}
_TAG_PREFIX = sc.RW_TAG_PREFIX
_TAG_PREFIX_LEN = len(_TAG_PREFIX)
_OWN_SCOPE = "routewatch"
_STATUS_ERROR = 2  # OTLP Status.code and the SDK's StatusCode.ERROR
_OTHER_ERROR = "_OTHER"  # error.type's convention for "an error of no known type"


class _DefaultPrices:
    """Sentinel: price with one shared `PriceBook` made on first use."""


DEFAULT_PRICES: Any = _DefaultPrices()


@lru_cache(maxsize=1)
def _shared_price_book() -> PriceBook:
    return PriceBook.from_env()


def _resolve_prices(prices: Any) -> PriceBook | None:
    if isinstance(prices, _DefaultPrices):
        return _shared_price_book()
    return prices  # type: ignore[no-any-return]


# --- front ends ---------------------------------------------------------------------------------------
def is_genai_span(attribute_keys: Iterable[str]) -> bool:
    """Whether any key marks a GenAI span (`gen_ai.operation.name`, `gen_ai.provider.name`,
    deprecated `gen_ai.system`, OpenLLMetry's `llm.request.type`)."""
    markers = GENAI_MARKERS
    return any(key in markers for key in attribute_keys)


def record_from_proto_span(span: Any, scope_name: str = "", *, prices: Any = DEFAULT_PRICES) -> CallRecord | None:
    """An OTLP protobuf `Span` (opentelemetry.proto.trace.v1) as a `CallRecord`; None if it is not
    a GenAI inference call. `scope_name` is its `InstrumentationScope.name`."""
    attributes = span.attributes
    markers = GENAI_MARKERS
    for kv in attributes:
        if kv.key in markers:
            break
    else:
        return None
    picked, tags = _pick_proto(attributes)
    status = span.status
    return _build(
        picked, tags, span.name, span.start_time_unix_nano, span.end_time_unix_nano, status.code, status.message,
        _id(span.trace_id), _id(span.span_id), scope_name, _resolve_prices(prices),
    )  # fmt: skip


def record_from_readable_span(span: Any, *, prices: Any = DEFAULT_PRICES) -> CallRecord | None:
    """An SDK `ReadableSpan` as a `CallRecord` (in-process use, span exporters, tests)."""
    attributes: Mapping[str, Any] | None = span.attributes
    if not attributes or not is_genai_span(attributes):
        return None
    picked: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    slots = _SLOTS
    for key, value in attributes.items():
        slot = slots.get(key)
        if slot is not None:
            if slot[1] or slot[0] not in picked:
                picked[slot[0]] = value
        elif key.startswith(_TAG_PREFIX):
            tags.append((key[_TAG_PREFIX_LEN:], str(value)))
    ctx = span.context
    status = span.status
    scope = span.instrumentation_scope
    return _build(
        picked, tuple(tags), span.name, span.start_time or 0, span.end_time or span.start_time or 0,
        int(status.status_code.value), status.description or "",
        (ctx.trace_id or None) if ctx is not None else None, (ctx.span_id or None) if ctx is not None else None,
        scope.name if scope is not None else "", _resolve_prices(prices),
    )  # fmt: skip


def record_from_json_span(
    span: Mapping[str, Any], scope_name: str = "", *, prices: Any = DEFAULT_PRICES
) -> CallRecord | None:
    """A span object of OTLP JSON (lowerCamelCase keys, hex ids, int64 as strings or numbers)."""
    attributes = span.get("attributes") or ()
    markers = GENAI_MARKERS
    if not any(isinstance(kv, Mapping) and kv.get("key") in markers for kv in attributes):
        return None
    picked: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    for kv in attributes:
        key = kv.get("key")
        if not isinstance(key, str):
            continue
        slot = _SLOTS.get(key)
        if slot is not None:
            if slot[1] or slot[0] not in picked:
                picked[slot[0]] = _json_value(kv.get("value"))
        elif key.startswith(_TAG_PREFIX):
            tags.append((key[_TAG_PREFIX_LEN:], str(_json_value(kv.get("value")))))
    status = span.get("status") or {}
    start = _int(span.get("startTimeUnixNano")) or 0
    end = _int(span.get("endTimeUnixNano")) or start
    return _build(
        picked, tuple(tags), str(span.get("name", "")), start, end, _int(status.get("code")) or 0,
        str(status.get("message") or ""), _hex_id(span.get("traceId")), _hex_id(span.get("spanId")), scope_name,
        _resolve_prices(prices),
    )  # fmt: skip


@dataclass(slots=True)
class Batch:
    """What one export request held: its GenAI records and the count of every other outcome."""

    records: list[CallRecord] = field(default_factory=list)
    spans: int = 0  # every span in the request
    skipped: int = 0  # not GenAI inference calls
    errors: int = 0  # GenAI-marked spans that could not be converted


def records_from_request(request: Any, *, prices: Any = DEFAULT_PRICES) -> Batch:
    """Every span of an `ExportTraceServiceRequest`, converted; one bad span never spoils the rest."""
    book = _resolve_prices(prices)
    batch = Batch()
    records = batch.records
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            spans = scope_spans.spans
            batch.spans += len(spans)
            for span in spans:
                try:
                    record = record_from_proto_span(span, scope_name, prices=book)
                except Exception:
                    batch.errors += 1
                    log.debug("routewatch: a GenAI span did not convert", exc_info=True)
                    continue
                if record is None:
                    batch.skipped += 1
                else:
                    records.append(record)
    return batch


def records_from_json_request(data: Mapping[str, Any], *, prices: Any = DEFAULT_PRICES) -> Batch:
    """Every span of an OTLP JSON `ExportTraceServiceRequest` object (`{"resourceSpans": [...]}`)."""
    book = _resolve_prices(prices)
    batch = Batch()
    for resource_spans in data.get("resourceSpans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            scope_name = str((scope_spans.get("scope") or {}).get("name") or "")
            spans = scope_spans.get("spans") or ()
            batch.spans += len(spans)
            for span in spans:
                try:
                    record = record_from_json_span(span, scope_name, prices=book)
                except Exception:
                    batch.errors += 1
                    log.debug("routewatch: a GenAI span did not convert", exc_info=True)
                    continue
                if record is None:
                    batch.skipped += 1
                else:
                    batch.records.append(record)
    return batch


# --- attribute values ---------------------------------------------------------------------------------
def _pick_proto(attributes: Any) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    """The attributes the builder reads (one pass; values decoded only for those), and the tags."""
    picked: dict[str, Any] = {}
    tags: list[tuple[str, str]] = []
    slots = _SLOTS
    for kv in attributes:
        key = kv.key
        slot = slots.get(key)
        if slot is None:
            if key.startswith(_TAG_PREFIX):
                tags.append((key[_TAG_PREFIX_LEN:], str(_proto_value(kv.value))))
            continue
        name, current = slot
        if not current and name in picked:
            continue
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            picked[name] = value.string_value
        elif which == "int_value":
            picked[name] = value.int_value
        elif which == "double_value":
            picked[name] = value.double_value
        elif which == "bool_value":
            picked[name] = value.bool_value
        else:
            picked[name] = _proto_value(value)
    return picked, tuple(tags)


def _proto_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return tuple(_proto_value(v) for v in value.array_value.values)
    return None  # kvlist and bytes values: nothing routewatch reads


def _json_value(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return _int(value["intValue"])
    if "doubleValue" in value:
        return _float(value["doubleValue"])
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return tuple(_json_value(v) for v in (value["arrayValue"] or {}).get("values") or ())
    return None


def _id(raw: bytes) -> int | None:
    return int.from_bytes(raw, "big") or None if raw else None


def _hex_id(raw: Any) -> int | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return int(raw, 16) or None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    if type(value) is float:
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # OTLP JSON writes NaN and infinities as strings
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    return None


def _bool(value: Any) -> bool | None:
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (tuple, list)):
        return tuple(str(v) for v in value if v is not None)
    return ()


# --- the builder --------------------------------------------------------------------------------------
def _operation(a: dict[str, Any]) -> str | None:
    op = a.get(sc.GEN_AI_OPERATION_NAME)
    if isinstance(op, str):
        return op if op in _INFERENCE_OPERATIONS else None
    kind = a.get(_LLM_REQUEST_TYPE)
    if isinstance(kind, str):
        return _LLM_REQUEST_TYPES.get(kind.lower())
    return None


def _provider(a: dict[str, Any]) -> str:
    name = _str(a.get(sc.GEN_AI_PROVIDER_NAME))
    if name is None:
        return "unknown"
    lowered = name.lower()
    return _PROVIDER_ALIASES.get(lowered, lowered)


def _api(a: dict[str, Any], provider: str, operation: str) -> str:
    api = _str(a.get(sc.RW_API))
    if api is not None:
        return api
    api_type = _str(a.get(sc.OPENAI_API_TYPE))
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


_REQUEST_KEYS = (
    sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_TEMPERATURE, sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_TOP_K,
    sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, sc.GEN_AI_REQUEST_PRESENCE_PENALTY, sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    sc.GEN_AI_REQUEST_SEED, sc.GEN_AI_REQUEST_CHOICE_COUNT, sc.GEN_AI_OUTPUT_TYPE, sc.RW_INCLUDE_USAGE_INJECTED,
    sc.OPENAI_REQUEST_SERVICE_TIER,
)  # fmt: skip
_MAX_CACHED_REQUESTS = 4096
# Calls of one stream mostly ask the same thing: their (immutable) RequestFacts are shared.
_request_cache: dict[tuple[Any, ...], RequestFacts] = {}


def _request_facts(a: dict[str, Any], model: str | None, stream: bool) -> RequestFacts:
    content = a.get(sc.GEN_AI_INPUT_MESSAGES) is not None or a.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS) is not None
    key = (model, stream, *[a.get(k) for k in _REQUEST_KEYS])
    if not content:
        try:
            cached = _request_cache.get(key)
        except TypeError:  # an unhashable value (a list from a hand-made mapping): build it each time
            cached = None
            content = True
        if cached is not None:
            return cached
    facts = RequestFacts(
        model=model,
        stream=stream,
        max_tokens=_int(a.get(sc.GEN_AI_REQUEST_MAX_TOKENS)),
        temperature=_float(a.get(sc.GEN_AI_REQUEST_TEMPERATURE)),
        top_p=_float(a.get(sc.GEN_AI_REQUEST_TOP_P)),
        top_k=_float(a.get(sc.GEN_AI_REQUEST_TOP_K)),
        frequency_penalty=_float(a.get(sc.GEN_AI_REQUEST_FREQUENCY_PENALTY)),
        presence_penalty=_float(a.get(sc.GEN_AI_REQUEST_PRESENCE_PENALTY)),
        stop_sequences=_strs(a.get(sc.GEN_AI_REQUEST_STOP_SEQUENCES)) or None,
        seed=_int(a.get(sc.GEN_AI_REQUEST_SEED)),
        choice_count=_int(a.get(sc.GEN_AI_REQUEST_CHOICE_COUNT)),
        output_type=_str(a.get(sc.GEN_AI_OUTPUT_TYPE)),
        include_usage_injected=bool(_bool(a.get(sc.RW_INCLUDE_USAGE_INJECTED))),
        service_tier=_str(a.get(sc.OPENAI_REQUEST_SERVICE_TIER)),
        input_messages=_str(a.get(sc.GEN_AI_INPUT_MESSAGES)),
        system_instructions=_str(a.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS)),
    )
    if not content:
        if len(_request_cache) >= _MAX_CACHED_REQUESTS:
            _request_cache.clear()
        _request_cache[key] = facts
    return facts


_USAGE_KEYS = (
    sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
)  # fmt: skip
_RATE_LIMIT_KEYS = (
    sc.RW_RATELIMIT_REMAINING_REQUESTS, sc.RW_RATELIMIT_REMAINING_TOKENS, sc.RW_RATELIMIT_LIMIT_REQUESTS,
    sc.RW_RATELIMIT_LIMIT_TOKENS, sc.RW_RATELIMIT_RESET_REQUESTS, sc.RW_RATELIMIT_RESET_TOKENS, sc.RW_RETRY_AFTER,
)  # fmt: skip
# Token counts repeat a lot: equal counts share one (immutable) Usage.
_usage_cache: dict[tuple[Any, ...], Usage] = {}


def _usage(a: dict[str, Any]) -> Usage:
    key = tuple([a.get(k) for k in _USAGE_KEYS])
    try:
        cached = _usage_cache.get(key)
    except TypeError:  # unhashable values from a hand-made mapping
        cached, key = None, ()
    if cached is not None:
        return cached
    usage = Usage(*[_int(v) for v in key]) if key else Usage(*[_int(a.get(k)) for k in _USAGE_KEYS])
    if key:
        if len(_usage_cache) >= _MAX_CACHED_REQUESTS:
            _usage_cache.clear()
        _usage_cache[key] = usage
    return usage


def _build(
    a: dict[str, Any], tags: tuple[tuple[str, str], ...], name: str, start_ns: int, end_ns: int,
    status_code: int, status_message: str, trace_id: int | None, span_id: int | None, scope_name: str,
    prices: PriceBook | None,
) -> CallRecord | None:  # fmt: skip
    operation = _operation(a)
    if operation is None:
        return None
    provider = _provider(a)
    api = _api(a, provider, operation)
    request_model = _str(a.get(sc.GEN_AI_REQUEST_MODEL))
    response_model = _str(a.get(sc.GEN_AI_RESPONSE_MODEL))
    duration_s = max(0, end_ns - start_ns) / 1e9

    usage = Usage() if operation == sc.OP_FETCH_RESPONSE else _usage(a)  # a read-back is no new generation

    http_status = _int(a.get(sc.HTTP_RESPONSE_STATUS_CODE))
    error_type = _str(a.get(sc.ERROR_TYPE))
    if error_type is None:
        if http_status is not None and http_status >= 400:
            error_type = str(http_status)
        elif status_code == _STATUS_ERROR:
            error_type = _OTHER_ERROR

    completed_attr = _bool(a.get(sc.RW_STREAM_COMPLETED))
    stream = bool(_bool(a.get(sc.GEN_AI_REQUEST_STREAM)) or completed_attr is not None)
    ttfc = _float(a.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)) if stream else None
    chunks = _int(a.get(sc.RW_STREAM_CHUNKS)) or 0
    intervals: tuple[float, ...] = ()
    if ttfc is not None and chunks >= 2 and duration_s > ttfc:
        intervals = ((duration_s - ttfc) / (chunks - 1),)

    if sc.RW_COST_PRICED in a:
        cost = _float(a.get(sc.RW_COST_USD))
        priced = bool(_bool(a.get(sc.RW_COST_PRICED)))
    elif prices is not None:
        price = prices.cost(provider, response_model or request_model, usage)
        cost, priced = price.usd, price.priced
    else:
        cost, priced = None, False

    tokens_per_s = _float(a.get(sc.RW_OUTPUT_TOKENS_PER_S))
    if tokens_per_s is None and usage.output_tokens:
        generating = duration_s - (ttfc or 0.0)
        tokens_per_s = usage.output_tokens / generating if generating > 0 else None

    finish_reasons = _strs(a.get(sc.GEN_AI_RESPONSE_FINISH_REASONS))
    response_id = _str(a.get(sc.GEN_AI_RESPONSE_ID))
    is_openai = api.startswith("openai.")
    request = _request_facts(a, request_model, stream)
    output_text, tool_calls = _output_content(a.get(sc.GEN_AI_OUTPUT_MESSAGES))
    response = ResponseFacts(
        response_id=response_id,
        response_model=response_model,
        finish_reasons=finish_reasons,
        usage=usage,
        error_type=error_type,
        error_message=(status_message or None) if error_type is not None else None,
        completed=completed_attr if completed_attr is not None else True,
        output_chunks=chunks,
        output_text=output_text,
        tool_call_count=tool_calls,
        system_fingerprint=_str(a.get(sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT))
        if is_openai or sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT in a
        else None,
        service_tier=_str(a.get(sc.OPENAI_RESPONSE_SERVICE_TIER)),
    )
    server_address = _str(a.get(sc.SERVER_ADDRESS))
    server_port = _int(a.get(sc.SERVER_PORT))
    if server_address is None and isinstance(a.get(_OPENAI_API_BASE), str):
        server_address, server_port = _host_port(a[_OPENAI_API_BASE])
    rate_limits = (
        RateLimits(
            remaining_requests=_int(a.get(sc.RW_RATELIMIT_REMAINING_REQUESTS)),
            remaining_tokens=_int(a.get(sc.RW_RATELIMIT_REMAINING_TOKENS)),
            limit_requests=_int(a.get(sc.RW_RATELIMIT_LIMIT_REQUESTS)),
            limit_tokens=_int(a.get(sc.RW_RATELIMIT_LIMIT_TOKENS)),
            reset_requests_s=_float(a.get(sc.RW_RATELIMIT_RESET_REQUESTS)),
            reset_tokens_s=_float(a.get(sc.RW_RATELIMIT_RESET_TOKENS)),
            retry_after_s=_float(a.get(sc.RW_RETRY_AFTER)),
        )
        if sc.RW_API in a and any(key in a for key in _RATE_LIMIT_KEYS)
        else _NO_RATE_LIMITS
    )
    return CallRecord(
        provider=provider,
        operation=operation,
        api=api,
        request_model=request_model,
        response_model=response_model,
        server_address=server_address,
        server_port=server_port,
        start_time_unix_nano=start_ns,
        duration_s=duration_s,
        status_code=http_status,
        error_type=error_type,
        stream=stream,
        stream_completed=completed_attr if stream else None,
        time_to_first_chunk_s=ttfc,
        chunk_intervals_s=intervals,
        usage=usage,
        cost_usd=cost,
        priced=priced,
        output_tokens_per_s=tokens_per_s,
        finish_reasons=finish_reasons,
        response_id=response_id,
        retry_count=_int(a.get(sc.HTTP_REQUEST_RESEND_COUNT)),
        rate_limits=rate_limits,
        tags=tags,
        request=request,
        response=response,
        trace_id=trace_id,
        span_id=span_id,
        span_scope=None if scope_name == _OWN_SCOPE else (scope_name or "unknown"),
    )


_NO_RATE_LIMITS = RateLimits()
