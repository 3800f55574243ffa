"""The facts routewatch extracts from one provider call, as plain frozen values.

Parsers produce `RequestFacts` and `ResponseFacts` from bytes; the call tracker joins them with
timings into a `CallRecord`, the one object every consumer (spans, metrics, listeners, the drift
engine, the collector) reads. Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "CallRecord",
    "RateLimits",
    "RequestFacts",
    "ResponseFacts",
    "Usage",
    "fast_new",
    "new_call_record",
    "new_rate_limits",
    "new_request_facts",
    "new_response_facts",
    "new_usage",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts in the GenAI convention's sense; `None` means the provider did not say.

    `input_tokens` includes cached tokens (cache read and cache creation are subsets of it), and
    `output_tokens` includes reasoning tokens, whatever the provider's own accounting.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    @property
    def known(self) -> bool:
        """Whether the provider reported usage at all (input or output)."""
        return self.input_tokens is not None or self.output_tokens is not None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What a request body says about the call, parsed before it is sent."""

    model: str | None = None
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop_sequences: tuple[str, ...] | None = None
    seed: int | None = None
    choice_count: int | None = None
    # "json" when the request asked for JSON or a JSON schema, "text" when it asked for text,
    # else None. Mirrors gen_ai.output.type.
    output_type: str | None = None
    # The JSON schema the output must satisfy, when the request gave one (kept in process only).
    json_schema: dict[str, Any] | None = None
    tool_choice_required: bool = False
    has_tools: bool = False
    include_usage: bool | None = None
    # routewatch added `stream_options.include_usage` to this request (opt-in `include_usage`).
    include_usage_injected: bool = False
    service_tier: str | None = None
    # Opt-in content capture: the messages as the convention's JSON, else None.
    input_messages: str | None = None
    system_instructions: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """What a response body (JSON or a finished or cut stream) says about the call."""

    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)
    # Set when the body reports a failure: an error body, or an error event after a 200.
    error_type: str | None = None
    error_message: str | None = None
    # Streams: whether the terminal event arrived (OpenAI `[DONE]`, Anthropic `message_stop`, ...).
    completed: bool = True
    # Count of events that carried output (content, tool-call or reasoning deltas).
    output_chunks: int = 0
    # Output text for in-process quality checks; never exported unless content capture is on.
    output_text: str | None = None
    tool_call_count: int = 0
    refusal: bool = False
    system_fingerprint: str | None = None
    service_tier: str | None = None
    # Top-level JSON keys of the response object (or the first/terminal stream event), for
    # detecting silent shape drift. Sorted.
    shape: tuple[str, ...] = ()
    # False when the body could not be parsed at all (garbage, undecodable).
    parsed: bool = True


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Rate-limit headroom the provider announced in response headers; `None` when not sent."""

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    limit_requests: int | None = None
    limit_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None
    retry_after_s: float | None = None


# Error types that name a rate limit or a server-side failure whatever the status: OpenAI's and
# Anthropic's `type`s, and Google's canonical status strings (RESOURCE_EXHAUSTED is Gemini's 429;
# INTERNAL, UNAVAILABLE and DEADLINE_EXCEEDED its 500, 503 and 504), which a Gemini stream sends
# in its error chunk after a 200.
_RATE_LIMIT_TYPES = frozenset({"rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED"})
_SERVER_ERROR_TYPES = frozenset(
    {"overloaded_error", "api_error", "server_error", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"}
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished provider attempt: the unit the drift engine and every sink consume.

    Times are seconds. `start_time_unix_nano` anchors the call on the wall clock; durations come
    from a monotonic clock. `cost_usd` is None when the model is unpriced or usage is unknown.
    `duration_s` is None only for a call read from a span with no usable end time (none, or one
    before its start): unknown, never a 0-second call (calls made in-process always have one).
    """

    provider: str
    operation: str
    api: str
    request_model: str | None
    response_model: str | None
    server_address: str | None
    server_port: int | None
    start_time_unix_nano: int
    duration_s: float | None
    status_code: int | None
    error_type: str | None
    stream: bool
    stream_completed: bool | None
    time_to_first_chunk_s: float | None
    chunk_intervals_s: tuple[float, ...]
    usage: Usage
    cost_usd: float | None
    priced: bool
    output_tokens_per_s: float | None
    finish_reasons: tuple[str, ...]
    response_id: str | None
    retry_count: int | None
    rate_limits: RateLimits
    tags: tuple[tuple[str, str], ...]
    request: RequestFacts
    response: ResponseFacts
    trace_id: int | None = None
    span_id: int | None = None
    # Instrumentation scope of the span this call enriched, when it was another's (SDK-native
    # tracing, openai-v2, OpenLLMetry); None when routewatch made its own span.
    span_scope: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def rate_limited(self) -> bool:
        return self.status_code == 429 or (self.error_type or "") in _RATE_LIMIT_TYPES

    @property
    def server_error(self) -> bool:
        """5xx, Anthropic 529 overloaded, or a server-side failure named in the body: the error
        event of a stream that began with a 200 carries no status of its own."""
        if self.status_code is not None and self.status_code >= 500:
            return True
        return (self.error_type or "") in _SERVER_ERROR_TYPES

    def tag(self, name: str) -> str | None:
        for key, value in self.tags:
            if key == name:
                return value
        return None


def fast_new(cls: type[T]) -> type[T]:
    """What `cls(...)` builds, for a frozen slotted dataclass, without its per-field `object.__setattr__`.

    A frozen dataclass's `__init__` stores each field with `object.__setattr__`, ~150 ns a field, and
    the records on a call's path have 5 to 30 fields and are made for every call (a `CallRecord`
    costs ~5 us). The function returned takes the same arguments, stores them on a twin class with
    the very same slots (plain attribute stores), then makes the object a `cls` (`__class__`
    assignment, allowed between classes of one layout): the same value, frozen, ~6x faster.
    It is typed as `cls` so that calls are checked against the fields; use it only to call.
    """
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass without __post_init__")
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": cls.__dict__["__slots__"]})
    scope: dict[str, Any] = {"_twin": twin, "_cls": cls, "_none": object()}
    params, stores = [], []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            scope[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_none")
            stores.append(f"    if {f.name} is _none:\n        {f.name} = _f_{f.name}()\n")
        else:
            params.append(f.name)
        stores.append(f"    o.{f.name} = {f.name}\n")
    source = f"def new({', '.join(params)}):\n    o = _twin()\n{''.join(stores)}    o.__class__ = _cls\n    return o\n"
    exec(source, scope)  # as dataclasses itself makes __init__
    new = scope["new"]
    new.__qualname__ = new.__name__ = f"new_{cls.__name__}"
    new.__doc__ = f"`{cls.__name__}(...)`, built faster (see `fast_new`)."
    return new  # type: ignore[no-any-return]


new_usage = fast_new(Usage)
new_request_facts = fast_new(RequestFacts)
new_response_facts = fast_new(ResponseFacts)
new_rate_limits = fast_new(RateLimits)
new_call_record = fast_new(CallRecord)
