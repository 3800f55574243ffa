"""Attribute names routewatch reads from GenAI spans (its own and other instrumentations'), and
the one-pass pickers and value coercers the span front ends share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import semconv as sc

__all__ = ["GENAI_MARKERS"]

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
_OPENAI_RESPONSE_TIER_OLD = "gen_ai.openai.response.service_tier"  # openai-v2 2.x, beside the request's
_OPENAI_FINGERPRINT_OLD = "gen_ai.openai.system_fingerprint"
_OPENAI_FINGERPRINT_LLMETRY = "gen_ai.openai.response.system_fingerprint"
_OPENAI_API_BASE = "gen_ai.openai.api_base"  # OpenLLMetry: the client's base URL (no server.* attributes)
_ANTHROPIC_REQUEST_TIER = "anthropic.request.service_tier"
_ANTHROPIC_RESPONSE_TIER = "anthropic.response.service_tier"

#: Attribute keys whose presence marks a span as GenAI (checked before anything is built).
GENAI_MARKERS: frozenset[str] = frozenset(
    {sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, _SYSTEM, _LLM_REQUEST_TYPE}
)

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
        sc.OPENAI_RESPONSE_SERVICE_TIER, _OPENAI_RESPONSE_TIER_OLD, _ANTHROPIC_RESPONSE_TIER,
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, _OPENAI_FINGERPRINT_OLD, _OPENAI_FINGERPRINT_LLMETRY, _OPENAI_API_BASE,
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
    _OPENAI_RESPONSE_TIER_OLD: sc.OPENAI_RESPONSE_SERVICE_TIER,
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
    if type(value) is tuple:  # the usual array of strings (finish reasons) is its own answer: no copy
        for v in value:
            if type(v) is not str:
                break
        else:
            return value
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (tuple, list)):
        return tuple(str(v) for v in value if v is not None)
    return ()
