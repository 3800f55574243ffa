"""`/metrics`: the collector's state in Prometheus' exposition format, computed at scrape time.

Nothing here runs per span. A custom prometheus-client collector reads the ingest counters, the
drift monitor's `state()`, the fleet's recent figures and verdicts, and an alarm tally when
Prometheus scrapes, on a private registry (no process-global state, several collectors per test
process). Names are the ones agreed with the dashboards and alert rules (plan/INTERFACES.md).

Cardinality is bounded: at most `max_streams` streams are exported (those with open alarms
first, then the most recently seen), streams split by extra dimensions (tenant, ...) are summed
into their provider/model/operation for counters and left out of the per-signal gauges, and the
alarm tally folds new label sets into `_other` past its cap.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..drift.alarm import Alarm, StreamKey
from ..drift.monitor import DriftMonitor
from ..router.health import TargetState
from .feed import AlarmLog, alarm_kind, baseline_of
from .fleet import Fleet, is_rate

__all__ = ["AlarmTally", "CollectorMetrics", "IngestCounters", "is_rate", "render"]

_STATS = ("mean", "p50", "p95")
_OTHER = "_other"


@dataclass
class IngestCounters:
    """What the ingest side counted, as the collector's /metrics shows it (all monotonic except the queue)."""

    spans_received: dict[str, int] = field(default_factory=dict)  # protocol -> spans
    spans_accepted: int = 0
    spans_skipped: int = 0
    spans_dropped: dict[str, int] = field(default_factory=dict)  # reason -> spans
    requests_rejected: dict[tuple[str, str], int] = field(default_factory=dict)  # (protocol, reason) -> requests
    queue_depth: int = 0
    queue_capacity: int = 0
    spans_without_duration: int = 0  # accepted, but no usable end time: no latency


AlarmLabels = tuple[str, str, str, str, str, str, str]  # provider, model, operation, signal, direction, kind, severity


class AlarmTally:
    """Counts alarms by their labels; subscribe it to the monitor. Bounded: past `max_series` label
    sets, a new one is counted under provider/model `_other`."""

    def __init__(self, max_series: int = 5_000) -> None:
        self.max_series = max_series
        self._counts: dict[AlarmLabels, int] = {}
        self._lock = threading.Lock()

    def __call__(self, alarm: Alarm) -> None:
        key = alarm.key
        labels: AlarmLabels = (key.provider, key.model, key.operation, alarm.signal, alarm.direction,
                               alarm_kind(alarm), alarm.severity)  # fmt: skip
        with self._lock:
            if labels not in self._counts and len(self._counts) >= self.max_series:
                labels = (_OTHER, _OTHER, *labels[2:])
            self._counts[labels] = self._counts.get(labels, 0) + 1

    def counts(self) -> dict[AlarmLabels, int]:
        with self._lock:
            return dict(self._counts)


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


class CollectorMetrics(Collector):
    """The prometheus-client collector behind `/metrics`."""

    def __init__(
        self, monitor: DriftMonitor, fleet: Fleet, alarms: AlarmLog, tally: AlarmTally,
        ingest: Callable[[], Any] | None = None, *, max_streams: int = 300, sinks: Iterable[Any] = (),
        hub: Any = None,
    ) -> None:  # fmt: skip
        self.monitor = monitor
        self.fleet = fleet
        self.alarms = alarms
        self.tally = tally
        self.ingest = ingest
        self.max_streams = max_streams
        self.sinks = list(sinks)
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        yield from self._ingest()
        yield from self._alarms()
        yield from self._streams()
        yield from self._fleet()
        yield from self._delivery()

    # --- families -----------------------------------------------------------------------------------
    def _ingest(self) -> Iterator[Metric]:
        """`ingest()` returns an `IngestCounters` or anything with its fields (the collector's IngestStats)."""
        counters = self.ingest() if self.ingest is not None else None
        if counters is None:
            return
        received = CounterMetricFamily("routewatch_collector_spans_received", "Spans in accepted OTLP requests.",
                                       labels=["protocol"])  # fmt: skip
        for protocol, n in sorted(counters.spans_received.items()):
            received.add_metric([protocol], n)
        yield received
        yield CounterMetricFamily("routewatch_collector_spans_accepted", "GenAI spans turned into call records.",
                                  value=counters.spans_accepted)  # fmt: skip
        yield CounterMetricFamily("routewatch_collector_spans_skipped", "Spans that are not GenAI calls.",
                                  value=counters.spans_skipped)  # fmt: skip
        yield CounterMetricFamily("routewatch_collector_spans_without_duration",
                                  "GenAI spans accepted with no usable end time (no latency recorded).",
                                  value=getattr(counters, "spans_without_duration", 0))  # fmt: skip
        dropped = CounterMetricFamily("routewatch_collector_spans_dropped", "GenAI spans lost before the monitor.",
                                      labels=["reason"])  # fmt: skip
        for reason in sorted({"queue_full", "convert_error", *counters.spans_dropped}):
            dropped.add_metric([reason], counters.spans_dropped.get(reason, 0))
        yield dropped
        rejected = CounterMetricFamily("routewatch_collector_requests_rejected", "OTLP requests refused.",
                                       labels=["protocol", "reason"])  # fmt: skip
        for (protocol, reason), n in sorted(counters.requests_rejected.items()):
            rejected.add_metric([protocol, reason], n)
        yield rejected
        yield GaugeMetricFamily("routewatch_collector_queue_depth", "Call records waiting for the monitor.",
                                value=counters.queue_depth)  # fmt: skip
        yield GaugeMetricFamily("routewatch_collector_queue_capacity", "Size of the ingest queue.",
                                value=counters.queue_capacity)  # fmt: skip

    def _alarms(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "routewatch_drift_alarms",
            "Drift alarms, recoveries, improvements and change events raised.",
            labels=["provider", "model", "operation", "signal", "direction", "kind", "severity"],
        )
        for labels, n in sorted(self.tally.counts().items()):
            total.add_metric(list(labels), n)
        yield total
        active = GaugeMetricFamily(
            "routewatch_drift_alarm_active",
            "1 while a drift alarm is open on this stream and signal, else 0.",
            labels=["provider", "model", "operation", "signal", "severity"],
        )
        open_now = {(k.provider, k.model, k.operation, signal) for (k, signal) in self.alarms.open()}
        series: dict[tuple[str, str, str, str, str], float] = {}
        for (key, signal), severity in self.alarms.severities().items():
            five = (key.provider, key.model, key.operation, signal, severity)
            value = 1.0 if (key.provider, key.model, key.operation, signal) in open_now else 0.0
            series[five] = max(series.get(five, 0.0), value)
        for five, value in sorted(series.items()):
            active.add_metric(list(five), value)
        yield active

    def _streams(self) -> Iterator[Metric]:
        state = self.monitor.state()
        counts = self.fleet.counts()
        calls = CounterMetricFamily("routewatch_stream_calls", "Calls the collector saw per stream.",
                                    labels=["provider", "model", "operation"])  # fmt: skip
        errors = CounterMetricFamily("routewatch_stream_errors", "Failed calls the collector saw per stream.",
                                     labels=["provider", "model", "operation"])  # fmt: skip
        summed: dict[tuple[str, str, str], tuple[int, int]] = {}
        for key, (n, e) in counts.items():
            base = (key.provider, key.model, key.operation)
            old = summed.get(base, (0, 0))
            summed[base] = (old[0] + n, old[1] + e)
        chosen = self._chosen(state)
        for base in sorted(summed):
            if base in chosen or len(summed) <= self.max_streams:
                calls.add_metric(list(base), summed[base][0])
                errors.add_metric(list(base), summed[base][1])
        yield calls
        yield errors
        baseline = GaugeMetricFamily(
            "routewatch_stream_baseline",
            "Detector baseline per stream and signal (seconds, rates 0-1, units).",
            labels=["provider", "model", "operation", "signal", "stat"],
        )
        current = GaugeMetricFamily(
            "routewatch_stream_current",
            "Recent calls per stream and signal (the collector's last-N window).",
            labels=["provider", "model", "operation", "signal", "stat"],
        )
        references = self.alarms.references()
        for key, entry in self._plain_streams(state):
            base = (key.provider, key.model, key.operation)
            if base not in chosen:
                continue
            for signal, det in sorted(entry["signals"].items()):
                for stat, number in _baseline_values(baseline_of(det, references.get((key, signal)))):
                    baseline.add_metric([*base, signal, stat], number)
            for signal, recent in sorted(self.fleet.recent(key).items()):
                for stat in ("mean",) if is_rate(signal) else _STATS:
                    value = _finite(getattr(recent, stat))
                    if value is not None:
                        current.add_metric([*base, signal, stat], value)
        yield baseline
        yield current
        truncated = GaugeMetricFamily("routewatch_collector_streams_not_exported",
                                      "Streams left out of the per-stream metrics by the cardinality cap.",
                                      value=max(0, len(summed) - len(chosen)))  # fmt: skip
        yield truncated

    def _fleet(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "routewatch_fleet_target_state",
            "The collector's verdict per provider/model: 1 for the current state.",
            labels=["provider", "model", "state"],
        )
        status = self.fleet.status()
        for _, health in sorted(status.items())[: self.max_streams]:
            for state in TargetState:
                family.add_metric([health.provider, health.model, state.value], 1.0 if health.state == state else 0.0)
        yield family

    def _delivery(self) -> Iterator[Metric]:
        """Whether alarms reach people: sink deliveries, and the health feed's live subscribers."""
        family = CounterMetricFamily("routewatch_collector_alert_deliveries",
                                     "Alarm deliveries by sink and result (ok, failed after retries, dropped).",
                                     labels=["sink", "result"])  # fmt: skip
        for sink in self.sinks:
            name = "alertmanager" if hasattr(sink, "failed_posts") else "webhook"
            ok = getattr(sink, "posts", getattr(sink, "sent", 0))
            failed = getattr(sink, "failed_posts", getattr(sink, "failed", 0))
            for result, n in (("ok", ok), ("failed", failed), ("dropped", getattr(sink, "dropped", 0))):
                family.add_metric([name, result], n)
        yield family
        if self.hub is not None:
            yield GaugeMetricFamily("routewatch_collector_feed_subscribers", "Open /api/health/stream connections.",
                                    value=self.hub.subscriber_count)  # fmt: skip

    # --- helpers ------------------------------------------------------------------------------------
    def _chosen(self, state: dict[str, Any]) -> set[tuple[str, str, str]]:
        """The provider/model/operation triples exported: open alarms first, then most recently seen."""
        ordered: list[tuple[str, str, str]] = []
        alarmed: list[tuple[str, str, str]] = []
        for entry in reversed(list(state.values())):  # the monitor keeps streams in LRU order
            k = entry["key"]
            base = (k["provider"], k["model"], k.get("operation", "chat"))
            (alarmed if entry.get("open_alarms") else ordered).append(base)
        for key in reversed(self.fleet.streams()):
            ordered.append((key.provider, key.model, key.operation))
        chosen: set[tuple[str, str, str]] = set()
        for base in [*alarmed, *ordered]:
            if len(chosen) >= self.max_streams:
                break
            chosen.add(base)
        return chosen

    @staticmethod
    def _plain_streams(state: dict[str, Any]) -> Iterable[tuple[StreamKey, dict[str, Any]]]:
        for entry in state.values():
            k = entry["key"]
            if k.get("extra"):
                continue  # split by a dimension: no per-signal series without a label for it
            yield StreamKey(k["provider"], k["model"], k.get("operation", "chat")), entry


def _baseline_values(base: dict[str, Any] | None) -> Iterator[tuple[str, float]]:
    if base is None:
        return  # still warming up: no baseline yet, so no series (absent, not 0)
    for stat in _STATS:
        value = _finite(base.get(stat))
        if value is not None:
            yield stat, value


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """(body, content type) for a scrape, in the format the scraper's Accept header asks for."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
