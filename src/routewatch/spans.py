"""How calls become span attributes: pure functions from facts to attribute dicts.

Attributes samplers need (operation, provider, request model, server) are given at span start;
the other request parameters and everything the response tells are set once, in one
`set_attributes` call, when the call finishes (off the app's thread).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span, SpanKind

from . import semconv as sc
from .classify import Route
from .records import CallRecord, RequestFacts

__all__ = ["is_foreign_genai_span", "request_attributes", "response_attributes", "span_name", "start_attributes"]

AttributeDict = dict[str, Any]


def span_name(route: Route, model: str | None) -> str:
    return f"{route.operation} {model}" if model else route.operation


def start_attributes(route: Route, model: str | None, host: str, port: int | None) -> AttributeDict:
    """What samplers may use, known before the request body is parsed."""
    attrs: AttributeDict = {
        sc.GEN_AI_OPERATION_NAME: route.operation,
        sc.GEN_AI_PROVIDER_NAME: route.provider,
        sc.SERVER_ADDRESS: host,
        sc.RW_API: route.api,
    }
    if port is not None:
        attrs[sc.SERVER_PORT] = port
    if model:
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    return attrs


def request_attributes(route: Route, facts: RequestFacts, start_model: str | None) -> AttributeDict:
    """What the request tells beyond `start_attributes`, which the span already has (`start_model`
    is the model it started with: the request model is set again only when the body said another)."""
    attrs: AttributeDict = {}
    if facts.model and facts.model != start_model:
        attrs[sc.GEN_AI_REQUEST_MODEL] = facts.model
    if facts.stream:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    for name, value in (
        (sc.GEN_AI_REQUEST_MAX_TOKENS, facts.max_tokens),
        (sc.GEN_AI_REQUEST_TEMPERATURE, facts.temperature),
        (sc.GEN_AI_REQUEST_TOP_P, facts.top_p),
        (sc.GEN_AI_REQUEST_TOP_K, facts.top_k),
        (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, facts.frequency_penalty),
        (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, facts.presence_penalty),
        (sc.GEN_AI_REQUEST_SEED, facts.seed),
        (sc.GEN_AI_REQUEST_CHOICE_COUNT, facts.choice_count),
        (sc.GEN_AI_OUTPUT_TYPE, facts.output_type),
    ):
        if value is not None:
            attrs[name] = value
    if facts.include_usage_injected:
        attrs[sc.RW_INCLUDE_USAGE_INJECTED] = True
    if facts.stop_sequences:
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = list(facts.stop_sequences)
    if route.api == "openai.chat_completions":
        attrs[sc.OPENAI_API_TYPE] = "chat_completions"
    elif route.api == "openai.responses":
        attrs[sc.OPENAI_API_TYPE] = "responses"
    if route.api.startswith("openai.") and facts.service_tier:
        attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = facts.service_tier
    return attrs


def response_attributes(record: CallRecord) -> AttributeDict:
    """Everything known once the call finished, for our span or for enriching a foreign one."""
    response = record.response
    usage = record.usage
    attrs: AttributeDict = {
        sc.RW_USAGE_KNOWN: usage.known,
        sc.RW_COST_PRICED: record.priced,
    }
    if record.status_code is not None:
        attrs[sc.HTTP_RESPONSE_STATUS_CODE] = record.status_code
    if record.response_id:
        attrs[sc.GEN_AI_RESPONSE_ID] = record.response_id
    if record.response_model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = record.response_model
    if record.finish_reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = list(record.finish_reasons)
    for name, value in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
        (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_input_tokens),
        (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cache_creation_input_tokens),
        (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_output_tokens),
        (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, record.time_to_first_chunk_s),
        (sc.RW_COST_USD, record.cost_usd),
        (sc.RW_OUTPUT_TOKENS_PER_S, record.output_tokens_per_s),
        (sc.HTTP_REQUEST_RESEND_COUNT, record.retry_count or None),
        (sc.ERROR_TYPE, record.error_type),
    ):
        if value is not None:
            attrs[name] = value
    if record.api.startswith("openai."):
        if response.system_fingerprint:
            attrs[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = response.system_fingerprint
        if response.service_tier:
            attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] = response.service_tier
    if record.stream:
        attrs[sc.RW_STREAM_COMPLETED] = bool(record.stream_completed)
        attrs[sc.RW_STREAM_CHUNKS] = response.output_chunks
    limits = record.rate_limits
    for name, value in (
        (sc.RW_RATELIMIT_REMAINING_REQUESTS, limits.remaining_requests),
        (sc.RW_RATELIMIT_REMAINING_TOKENS, limits.remaining_tokens),
        (sc.RW_RATELIMIT_LIMIT_REQUESTS, limits.limit_requests),
        (sc.RW_RATELIMIT_LIMIT_TOKENS, limits.limit_tokens),
        (sc.RW_RATELIMIT_RESET_REQUESTS, limits.reset_requests_s),
        (sc.RW_RATELIMIT_RESET_TOKENS, limits.reset_tokens_s),
        (sc.RW_RETRY_AFTER, limits.retry_after_s),
    ):
        if value is not None:
            attrs[name] = value
    for key, value in record.tags:
        attrs[sc.RW_TAG_PREFIX + key] = value
    return attrs


def is_foreign_genai_span(span: Span) -> bool:
    """Whether the active span is another instrumentation's GenAI call span (SDK-native tracing,
    openai-v2, OpenLLMetry): a recording CLIENT span that already names a GenAI operation."""
    if not span.is_recording():
        return False
    if getattr(span, "kind", None) is not SpanKind.CLIENT:
        return False
    attributes = getattr(span, "attributes", None)
    if not attributes:
        return False
    return (
        sc.GEN_AI_OPERATION_NAME in attributes
        or sc.GEN_AI_PROVIDER_NAME in attributes
        or sc.GEN_AI_SYSTEM_DEPRECATED in attributes
    ) and attributes.get(sc.RW_API) is None
