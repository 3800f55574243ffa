"""Where alarms go: a log record, a counter, a span event, and a webhook. Each is a callable
taking an `Alarm`; none blocks or raises into the caller.

The log sink writes through Python logging (logger `routewatch.drift`), so an OpenTelemetry
`LoggingHandler` turns each alarm into an OpenTelemetry log record with its fields as attributes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.sdk.trace import SpanProcessor

from ..semconv import GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL
from ..version import __version__
from .alarm import Alarm

__all__ = ["AlarmCounter", "LogSink", "SpanEventSink", "WebhookSink", "default_sinks"]

log = logging.getLogger("routewatch.drift")

ALARM_COUNTER = "routewatch.drift.alarms"
SPAN_EVENT = "routewatch.drift.alarm"


def _flat(alarm: Alarm) -> dict[str, Any]:
    key = alarm.stream_key
    return {
        "routewatch.alarm.kind": alarm.kind,
        "gen_ai.provider.name": key["provider"],
        "gen_ai.request.model": key["model"],
        "gen_ai.operation.name": key.get("operation", "chat"),
        "routewatch.alarm.signal": alarm.signal,
        "routewatch.alarm.direction": alarm.direction,
        "routewatch.alarm.severity": alarm.severity,
        "routewatch.alarm.detector": alarm.detector,
        "routewatch.alarm.traffic_shift": alarm.traffic_shift,
        "routewatch.alarm.explanation": alarm.explanation,
    }


class LogSink:
    """One WARNING (alarms) or INFO (recoveries, changes) log record per alarm."""

    def __call__(self, alarm: Alarm) -> None:
        level = logging.WARNING if alarm.kind == "alarm" else logging.INFO
        log.log(level, "%s", alarm.explanation, extra={"routewatch_alarm": alarm.model_dump(mode="json")})


class AlarmCounter:
    """`routewatch.drift.alarms`: counts alarms by provider, model, signal, kind and severity."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter("routewatch.drift", __version__, meter_provider)
        self._counter = meter.create_counter(
            ALARM_COUNTER, unit="{alarm}", description="Drift alarms, recoveries and change events raised."
        )

    def __call__(self, alarm: Alarm) -> None:
        key = alarm.stream_key
        self._counter.add(
            1,
            {
                "gen_ai.provider.name": key["provider"],
                "gen_ai.request.model": key["model"],
                "routewatch.alarm.signal": alarm.signal,
                "routewatch.alarm.kind": alarm.kind,
                "routewatch.alarm.severity": alarm.severity,
            },
        )


class SpanEventSink(SpanProcessor):
    """Adds each alarm as a `routewatch.drift.alarm` event to the span of a call of its stream.

    Where the alarm is raised on a thread with a recording span (a monitor fed inline), that span
    gets it. Alarms raised from records the signal-bus worker processes come after the call's span
    has ended, so they are parked per (provider, model, operation) and added to the *next* span
    started for that stream, with `routewatch.alarm.deferred` true and the detection time, when this
    sink is registered as a span processor (`tracer_provider.add_span_processor(sink)`, or
    `DriftMonitor.attach_spans()`). Parked alarms are bounded (`max_keys` streams, `max_pending`
    each, newest kept) and expire after `max_age_s`; `deferred_dropped` counts those lost.
    """

    def __init__(self, *, max_keys: int = 1_000, max_pending: int = 8, max_age_s: float = 3_600.0) -> None:
        if max_keys < 1 or max_pending < 1 or max_age_s <= 0:
            raise ValueError("max_keys >= 1, max_pending >= 1 and max_age_s > 0 are required")
        self.max_keys, self.max_pending, self.max_age_s = max_keys, max_pending, max_age_s
        self._pending: OrderedDict[tuple[str, str, str], list[tuple[float, dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()
        self.deferred = self.deferred_delivered = self.deferred_dropped = 0

    def __call__(self, alarm: Alarm) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(SPAN_EVENT, _flat(alarm))
            return
        key = alarm.stream_key
        slot = (str(key["provider"]), str(key["model"]), str(key.get("operation", "chat")))
        attrs = {
            **_flat(alarm),
            "routewatch.alarm.deferred": True,
            "routewatch.alarm.detected_at": alarm.detected_at.isoformat(),
        }
        with self._lock:
            parked = self._pending.get(slot)
            if parked is None:
                parked = self._pending[slot] = []
                if len(self._pending) > self.max_keys:
                    _, lost = self._pending.popitem(last=False)
                    self.deferred_dropped += len(lost)
            else:
                self._pending.move_to_end(slot)
            parked.append((time.monotonic(), attrs))
            if len(parked) > self.max_pending:
                del parked[0]
                self.deferred_dropped += 1
            self.deferred += 1

    # --- span processor: deliver parked alarms to the next span of their stream --------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if not self._pending:  # the common case: one attribute read, no lock
            return
        try:
            self._deliver(span)
        except Exception:  # runs inside the app's span creation: never raise there
            log.debug("routewatch: could not add parked alarms to a span", exc_info=True)

    def _deliver(self, span: Any) -> None:
        attributes = getattr(span, "attributes", None) or {}
        provider = attributes.get(GEN_AI_PROVIDER_NAME)
        model = attributes.get(GEN_AI_REQUEST_MODEL)
        if provider is None or model is None:
            return
        slot = (str(provider), str(model), str(attributes.get(GEN_AI_OPERATION_NAME, "chat")))
        with self._lock:
            parked = self._pending.pop(slot, None)
        if not parked:
            return
        oldest = time.monotonic() - self.max_age_s
        for at, attrs in parked:
            if at < oldest:
                self.deferred_dropped += 1
                continue
            span.add_event(SPAN_EVENT, attrs)
            self.deferred_delivered += 1


class WebhookSink:
    """POSTs each alarm as JSON to `url` from its own thread, with retries and a bounded queue.

    A full queue drops the alarm and counts it (`dropped`); a delivery that fails after `retries`
    attempts is counted in `failed` and logged with the url's scheme and host only. Uses urllib, not
    httpx, so routewatch never traces its own posts.
    """

    def __init__(
        self, url: str, *, headers: dict[str, str] | None = None, timeout_s: float = 5.0, retries: int = 3,
        backoff_s: float = 0.5, max_queue: int = 1_000,
    ) -> None:  # fmt: skip
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s), got {url!r}")
        if retries < 0 or max_queue < 1 or timeout_s <= 0:
            raise ValueError("retries >= 0, max_queue >= 1 and timeout_s > 0 are required")
        self.url = url
        # what a log line may name: chat webhooks (Slack, Discord, Teams) carry their secret in the path
        parts = urllib.parse.urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._queue: queue.Queue[bytes | None] = queue.Queue(max_queue)
        self.sent = self.dropped = self.failed = 0
        self._thread = threading.Thread(target=self._run, name="routewatch-webhook", daemon=True)
        self._thread.start()

    def __call__(self, alarm: Alarm) -> None:
        try:
            self._queue.put_nowait(alarm.model_dump_json().encode())
        except queue.Full:
            self.dropped += 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (bounded by `timeout_s`), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            for attempt in range(self.retries + 1):
                try:
                    request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
                    with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                        if response.status < 300:
                            self.sent += 1
                            break
                except Exception as exc:
                    if attempt == self.retries:
                        self.failed += 1
                        log.warning("routewatch: webhook %s failed after %d attempts: %s",
                                    self._where, attempt + 1, type(exc).__name__)  # fmt: skip
                        break
                time.sleep(self.backoff_s * (2**attempt))


def default_sinks(meter_provider: MeterProvider | None = None) -> list[Any]:
    """Log record, alarm counter and span event: what every monitor does unless told otherwise."""
    return [LogSink(), AlarmCounter(meter_provider), SpanEventSink()]
