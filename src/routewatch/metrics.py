"""GenAI client metrics, recorded from finished `CallRecord`s on the signal-bus worker.

Instruments are created once per meter provider, with the convention's names, units and advisory
bucket boundaries. Metric attributes are bounded: provider, operation, models, server, error type
and the low-cardinality tags (tenant, task, route) under a per-key value cap. No ids, no prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter

from . import semconv as sc
from .bus import bus
from .instrumentation import internal_errors_total
from .records import CallRecord
from .version import __version__

__all__ = ["CallMetrics"]

_METRIC_TAGS = ("tenant", "task", "route")
# Instrumentations that record the convention's duration and token metrics themselves: when a call
# enriched one of their spans, routewatch leaves those two metrics to them instead of doubling them.
_SELF_METERED_SCOPES = ("opentelemetry.instrumentation.", "opentelemetry.util.genai", "openlit")
_MAX_VALUES_PER_TAG = 100
METRIC_INTERNAL_ERRORS = "routewatch.internal.errors"
_OTHER = "_other"


class _CardinalityGuard:
    """Caps the distinct values each tag may take on metrics; the rest collapse into `_other`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, value: str) -> str:
        seen = self._seen.get(key)
        if seen is not None and value in seen:
            return value
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if value in seen:
                return value
            if len(seen) >= self.limit:
                return _OTHER
            seen.add(value)
            return value


class CallMetrics:
    """The instruments, and how one `CallRecord` becomes metric points."""

    def __init__(self, meter_provider: MeterProvider | None = None, *, per_chunk: bool = False) -> None:
        """`per_chunk=True` records every output-chunk interval (the convention's exact reading, at
        several microseconds per chunk); the default records each streamed call's mean interval."""
        self.per_chunk = per_chunk
        meter = get_meter("routewatch", __version__, meter_provider, schema_url=sc.SCHEMA_URL)
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )  # fmt: skip
        self.tokens = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS),
        )  # fmt: skip
        self.ttfc = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK, unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )  # fmt: skip
        self.tpoc = meter.create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s",
            description="Time between consecutive output chunks of a streamed response.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )  # fmt: skip
        self.cost = meter.create_counter(
            sc.METRIC_COST, unit="USD", description="Cost of priced GenAI calls, from routewatch's price table."
        )
        self.unpriced = meter.create_counter(
            sc.METRIC_UNPRICED_CALLS, unit="{call}",
            description="Calls whose cost is unknown (unpriced model or unknown usage).",
        )  # fmt: skip
        self.unparsed = meter.create_counter(
            sc.METRIC_PARSE_ERRORS, unit="{call}",
            description="Provider responses routewatch could not parse (garbage, undecodable, unknown shape).",
        )  # fmt: skip
        meter.create_observable_counter(
            sc.METRIC_DROPPED_RECORDS, [_observe_drops], unit="{record}",
            description="Finished calls dropped because the signal-bus queue was full.",
        )  # fmt: skip
        meter.create_observable_counter(
            METRIC_INTERNAL_ERRORS, [_observe_internal_errors], unit="{error}",
            description="Failures inside routewatch (each logged; the app's call was unaffected).",
        )  # fmt: skip
        self._guard = _CardinalityGuard(_MAX_VALUES_PER_TAG)

    def attributes(self, record: CallRecord) -> dict[str, str | int]:
        attrs: dict[str, str | int] = {
            sc.GEN_AI_OPERATION_NAME: record.operation,
            sc.GEN_AI_PROVIDER_NAME: record.provider,
        }
        if record.request_model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = record.request_model
        if record.response_model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = record.response_model
        if record.server_address:
            attrs[sc.SERVER_ADDRESS] = record.server_address
        if record.server_port is not None:
            attrs[sc.SERVER_PORT] = record.server_port
        for key, value in record.tags:
            if key in _METRIC_TAGS:
                attrs[sc.RW_TAG_PREFIX + key] = self._guard.admit(key, value)
        return attrs

    def record(self, record: CallRecord) -> None:
        attrs = self.attributes(record)
        scope = record.span_scope
        if scope is None or not scope.startswith(_SELF_METERED_SCOPES):
            self._record_duration_and_tokens(record, attrs)
        if record.time_to_first_chunk_s is not None:
            self.ttfc.record(record.time_to_first_chunk_s, attrs)
        intervals = record.chunk_intervals_s
        if intervals:
            if self.per_chunk:
                _record_each(self.tpoc, intervals, attrs)
            else:
                self.tpoc.record(sum(intervals) / len(intervals), attrs)
        if not record.response.parsed:
            self.unparsed.add(1, {sc.GEN_AI_PROVIDER_NAME: record.provider, sc.RW_API: record.api})
        if record.cost_usd is not None:
            self.cost.add(record.cost_usd, attrs)
        elif record.error_type is None:
            self.unpriced.add(1, attrs)

    def _record_duration_and_tokens(self, record: CallRecord, attrs: dict[str, str | int]) -> None:
        if record.error_type is not None:
            self.duration.record(record.duration_s, {**attrs, sc.ERROR_TYPE: record.error_type})
        else:
            self.duration.record(record.duration_s, attrs)
        usage = record.usage
        if usage.input_tokens is not None:
            self.tokens.record(usage.input_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "input"})
        if usage.output_tokens is not None:
            self.tokens.record(usage.output_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "output"})


def _observe_drops(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(bus.dropped)


def _observe_internal_errors(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(internal_errors_total() + bus.completion_errors)


def _record_each(histogram: object, values: Iterable[float], attrs: dict[str, str | int]) -> None:
    record = histogram.record  # type: ignore[attr-defined]
    for value in values:
        record(value, attrs)
