"""GenAI client metrics, recorded from finished `CallRecord`s on the signal-bus worker.

Instruments are created once per meter provider, with the convention's names, units and advisory
bucket boundaries. Metric attributes are bounded: provider, operation, models, server, error type
and the low-cardinality tags (tenant, task, route) under a per-key value cap. No ids, no prompts.

Each series' attribute dicts are made once. The histograms take one SDK measurement per point; the
cost and the unpriced-call count, one of which every successful call adds to, are summed here per
series and observed at collection (observable counters: the same monotonic sums a Counter exports).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

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
#: Series whose attribute dicts (and cost total) are kept; the OTel SDK's own default limit of
#: attribute sets per instrument, past which it reports an overflow series, as the cost does here.
_MAX_SERIES = 2000
_OVERFLOW: dict[str, Any] = {"otel.metric.overflow": True}


class _CardinalityGuard:
    """Caps the distinct values each tag may take on metrics; the rest collapse into `_other`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        _guards.add(self)

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


_guards: weakref.WeakSet[_CardinalityGuard] = weakref.WeakSet()


def _fresh_guard_locks() -> None:
    """After fork(): a lock the worker thread held at that moment would be held for good in the
    child (which has no such thread), and the child's first new tag value would block its worker."""
    for guard in list(_guards):
        guard._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_guard_locks)


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
        # Every successful call is either costed or unpriced: both counts are summed here per series
        # and observed at collection, the same monotonic sums a Counter exports, without an SDK
        # measurement (~100k instructions of the worker's) per call.
        meter.create_observable_counter(
            sc.METRIC_COST, [self._observe_cost], unit="USD",
            description="Cost of priced GenAI calls, from routewatch's price table.",
        )  # fmt: skip
        meter.create_observable_counter(
            sc.METRIC_UNPRICED_CALLS, [self._observe_unpriced], unit="{call}",
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
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._overflow = _Series(_OVERFLOW)  # what past `_MAX_SERIES` series add up to

    def sink(self, per_chunk: bool) -> Callable[[CallRecord], None]:
        """What the signal bus calls with each record: `record`, with every output-chunk interval
        in `time_per_output_chunk` (`per_chunk`) or each streamed call's mean interval."""
        return self._record_each_chunk if per_chunk else self._record_mean

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
        self._record(record, self.per_chunk)

    def _record_mean(self, record: CallRecord) -> None:
        self._record(record, False)

    def _record_each_chunk(self, record: CallRecord) -> None:
        self._record(record, True)

    def _record(self, record: CallRecord, per_chunk: bool) -> None:
        series = self._series_of(record)
        attrs = series.attrs if series is not None else self.attributes(record)
        scope = record.span_scope
        if scope is None or not scope.startswith(_SELF_METERED_SCOPES):
            self._record_duration_and_tokens(record, attrs, series)
            bus.pause()
        if record.time_to_first_chunk_s is not None:
            self.ttfc.record(record.time_to_first_chunk_s, attrs)
        intervals = record.chunk_intervals_s
        if intervals:
            if per_chunk:
                _record_each(self.tpoc, intervals, attrs)
            else:
                self.tpoc.record(sum(intervals) / len(intervals), attrs)
        if not record.response.parsed and record.status_code is not None:  # no response, no body to parse
            self.unparsed.add(1, {sc.GEN_AI_PROVIDER_NAME: record.provider, sc.RW_API: record.api})
        usd = record.cost_usd
        if usd is not None or record.error_type is None:
            totals = series if series is not None else self._overflow
            if usd is None:
                totals.unpriced += 1
            else:
                totals.usd = usd if totals.usd is None else totals.usd + usd

    def _series_of(self, record: CallRecord) -> _Series | None:
        """The record's series (its metric attributes, made once), or None past `_MAX_SERIES`."""
        tags = record.tags
        if tags:
            admit = self._guard.admit
            tags = tuple((key, admit(key, value)) for key, value in tags if key in _METRIC_TAGS)
        key = (
            record.operation, record.provider, record.request_model, record.response_model,
            record.server_address, record.server_port, tags,
        )  # fmt: skip
        series = self._series.get(key)
        if series is None and len(self._series) < _MAX_SERIES:
            series = self._series.setdefault(key, _Series(self.attributes(record)))
        return series

    def _record_duration_and_tokens(
        self, record: CallRecord, attrs: dict[str, str | int], series: _Series | None
    ) -> None:
        duration = record.duration_s
        if duration is None:  # a span with no usable end time: no point, rather than a 0-second one
            pass
        elif record.error_type is not None:
            self.duration.record(duration, {**attrs, sc.ERROR_TYPE: record.error_type})
        else:
            self.duration.record(duration, attrs)
        bus.pause()  # each SDK point is ~100k instructions: let a waiting app thread in between them
        usage = record.usage
        if usage.input_tokens is not None:
            self.tokens.record(usage.input_tokens, series.input if series else _with_type(attrs, "input"))
            bus.pause()
        if usage.output_tokens is not None:
            self.tokens.record(usage.output_tokens, series.output if series else _with_type(attrs, "output"))

    def _observe_cost(self, options: CallbackOptions) -> Iterable[Observation]:
        """Each series' total cost so far (cumulative, as a Counter's sum)."""
        for series in [*self._series.values(), self._overflow]:
            if series.usd is not None:
                yield Observation(series.usd, series.attrs)

    def _observe_unpriced(self, options: CallbackOptions) -> Iterable[Observation]:
        for series in [*self._series.values(), self._overflow]:
            if series.unpriced:
                yield Observation(series.unpriced, series.attrs)


class _Series:
    """One metric series' attribute dicts, made once, and its cost and unpriced-call totals."""

    __slots__ = ("attrs", "input", "output", "unpriced", "usd")

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self.input = _with_type(attrs, "input")
        self.output = _with_type(attrs, "output")
        self.usd: float | None = None  # None until a priced call (a cost of 0 is a point of 0)
        self.unpriced = 0


def _with_type(attrs: dict[str, Any], token_type: str) -> dict[str, Any]:
    return {**attrs, sc.GEN_AI_TOKEN_TYPE: token_type}


def _observe_drops(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(bus.dropped)


def _observe_internal_errors(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(internal_errors_total() + bus.completion_errors)


def _record_each(histogram: object, values: Iterable[float], attrs: dict[str, str | int]) -> None:
    record = histogram.record  # type: ignore[attr-defined]
    for value in values:
        record(value, attrs)
