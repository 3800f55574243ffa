"""Everything the collector puts out, wired in one place: `/metrics`, the health feed and its SSE
stream, the status page, the fleet verdict, and the Alertmanager / webhook sinks.

`Outputs(monitor)` subscribes to the drift monitor and holds the output side's state; the collector
calls `observe(call)` for every call record it accepted, and serves `routes()` (framework-neutral
handlers: a `Request` in, a `Response` out whose body may be an iterator of chunks for SSE).
`install_outputs(collector)` does both for the routewatch `Collector`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from ..drift.alarm import Alarm, StreamKey
from ..drift.monitor import DriftMonitor
from ..drift.sinks import WebhookSink
from ..records import CallRecord
from ..router.health import HealthPolicy
from .alertmanager import AlertmanagerSink
from .feed import AlarmLog, EventHub, HealthFeed
from .fleet import Fleet
from .prometheus import AlarmTally, CollectorMetrics, render
from .status_page import render_status_page

__all__ = ["Outputs", "OutputsConfig", "Request", "Response", "install_outputs"]

log = logging.getLogger("routewatch.collector")


class OutputsConfig(BaseModel):
    """The output side of the collector's configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alertmanager_urls: tuple[str, ...] = Field(default=(), description="Alertmanager base URLs (all get every alert).")
    alertmanager_resend_interval_s: float = Field(default=60.0, gt=0, description="Re-post firing alerts this often.")
    external_labels: dict[str, str] = Field(default_factory=dict, description="Added to every Alertmanager alert.")
    webhook_url: str | None = Field(default=None, description="POST every alarm as JSON here.")
    webhook_headers: dict[str, str] = Field(default_factory=dict)
    public_url: str | None = Field(default=None, description="Where people reach the status page (alert links).")
    fleet_policy: HealthPolicy | None = Field(default=None, description="Health policy of the collector's verdict.")
    recent_window: int = Field(default=200, ge=1, description="Calls per stream behind the 'current' figures.")
    max_exported_streams: int = Field(default=300, ge=1, description="Streams with per-signal series in /metrics.")
    max_feed_streams: int = Field(default=500, ge=1, description="Streams listed by /api/health.")
    sse_heartbeat_s: float = Field(default=15.0, gt=0, description="Comment line on an idle event stream.")
    max_sse_clients: int = Field(default=256, ge=1)
    sse_replay: int = Field(default=1_000, ge=1, description="Events kept for clients resuming with Last-Event-ID.")
    status_refresh_s: float = Field(default=5.0, gt=0, description="Status page refresh period.")
    public_paths: tuple[str, ...] = Field(
        default=(), description="Output routes served without the bearer token (e.g. '/', '/api/health')."
    )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names

    @classmethod
    def of(cls, method: str, target: str, headers: Mapping[str, str] | None = None) -> Request:
        path, _, query = target.partition("?")
        return cls(method.upper(), path, parse_qs(query), {k.lower(): v for k, v in (headers or {}).items()})


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes | Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        return not isinstance(self.body, bytes)


Handler = Callable[[Request], Response]


class Outputs:
    """The collector's output side, over one drift monitor."""

    def __init__(
        self, monitor: DriftMonitor, config: OutputsConfig | None = None, *,
        ingest: Callable[[], Any] | None = None, clock: Callable[[], float] = time.time,
        meter_provider: Any = None,
    ) -> None:  # fmt: skip
        self.config = cfg = config or OutputsConfig()
        self.monitor = monitor
        self.fleet = Fleet(policy=cfg.fleet_policy, window=cfg.recent_window, max_streams=monitor.config.max_streams,
                           clock=clock, meter_provider=meter_provider, signals=monitor.config.signals)  # fmt: skip
        self.alarms = AlarmLog()
        self.hub = EventHub(replay=cfg.sse_replay, max_subscribers=cfg.max_sse_clients)
        self.feed = HealthFeed(monitor, self.fleet, alarms=self.alarms, hub=self.hub, max_streams=cfg.max_feed_streams,
                               heartbeat_s=cfg.sse_heartbeat_s, clock=clock, ingest=ingest)  # fmt: skip
        self.tally = AlarmTally()
        self.sinks: list[Callable[[Alarm], Any]] = []
        if cfg.alertmanager_urls:
            self.sinks.append(AlertmanagerSink(
                cfg.alertmanager_urls, resend_interval_s=cfg.alertmanager_resend_interval_s,
                external_labels=cfg.external_labels, generator_url=cfg.public_url,
            ))  # fmt: skip
        if cfg.webhook_url:
            self.sinks.append(WebhookSink(cfg.webhook_url, headers=dict(cfg.webhook_headers)))
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CollectorMetrics(monitor, self.fleet, self.alarms, self.tally, ingest,
                                                max_streams=cfg.max_exported_streams, sinks=self.sinks,
                                                hub=self.hub))  # fmt: skip
        self.fleet.subscribe(self.feed.on_transition)
        monitor.subscribe(self.on_alarm)
        self.errors = 0
        # the monitor's watched values are the fleet's signals: no need to filter them again
        watched = None if monitor.config.signals is None else frozenset(monitor.config.signals)
        self._prefiltered = self.fleet.signals == watched

    # --- inputs -------------------------------------------------------------------------------------
    def on_alarm(self, alarm: Alarm) -> None:
        """Every output learns of the alarm; one failing does not stop the others."""
        steps: list[Callable[[Alarm], Any]] = [self.tally, self.feed.on_alarm, self.fleet.on_alarm, *self.sinks]
        for step in steps:
            try:
                step(alarm)
            except Exception:
                self.errors += 1
                log.warning("routewatch collector: alarm output %r failed", step, exc_info=True)

    def observe(self, call: CallRecord, key: StreamKey | None = None) -> None:
        """One accepted call (after the monitor saw it): recent figures and the fleet verdict."""
        try:
            seen_key, values = self.monitor.seen(call)
            self.fleet.observe(call, key or seen_key, values, watched=self._prefiltered)
        except Exception:
            self.errors += 1
            log.warning("routewatch collector: fleet update failed", exc_info=True)

    def snapshot(self) -> dict[str, Any]:
        """What the output side keeps across a collector restart: open and recent alarms."""
        return {"version": 1, "alarms": self.alarms.snapshot()}

    def restore(self, data: dict[str, Any]) -> None:
        """After a restart: the alarms still open are open again in the feed, the fleet verdict and
        Alertmanager (which resolves alerts it stops hearing about)."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported outputs snapshot version {data.get('version')!r}")
        for alarm in self.alarms.restore(data.get("alarms", {})):
            steps: list[Callable[[Alarm], Any]] = [self.fleet.on_alarm]
            steps += [sink for sink in self.sinks if isinstance(sink, AlertmanagerSink)]
            for step in steps:
                try:
                    step(alarm)
                except Exception:
                    self.errors += 1
                    log.warning("routewatch collector: restoring an alarm into %r failed", step, exc_info=True)

    def close(self, timeout_s: float = 5.0) -> None:
        """Ends event streams, flushes the sinks, and unsubscribes."""
        self.monitor.unsubscribe(self.on_alarm)
        self.hub.close()
        for sink in self.sinks:
            closer = getattr(sink, "close", None)
            if callable(closer):
                closer(timeout_s)

    # --- HTTP ---------------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Handler]:
        """(method, path) -> handler, for the collector's HTTP server."""
        return {
            ("GET", "/metrics"): self._metrics,
            ("GET", "/api/health"): self._health,
            ("GET", "/api/alarms"): self._alarms,
            ("GET", "/api/health/stream"): self._stream,
            ("GET", "/"): self._status_page,
        }

    def handle(self, request: Request) -> Response | None:
        """Dispatch one request; None when the path is not ours."""
        handler = self.routes().get((request.method, request.path))
        if handler is None and request.method == "HEAD":
            handler = self.routes().get(("GET", request.path))
        return handler(request) if handler is not None else None

    def _metrics(self, request: Request) -> Response:
        body, content_type = render(self.registry, request.headers.get("accept"))
        return Response(200, content_type, body)

    def _health(self, request: Request) -> Response:
        return _json(self.feed.health())

    def _alarms(self, request: Request) -> Response:
        try:
            limit = int(request.query.get("limit", ["100"])[0])
        except ValueError:
            return _json({"error": "limit must be an integer"}, status=400)
        return _json(self.feed.recent_alarms(limit))

    def _stream(self, request: Request) -> Response:
        last = request.headers.get("last-event-id") or next(iter(request.query.get("last_event_id", [])), None)
        if self.hub.subscriber_count >= self.hub.max_subscribers:
            busy = _json({"error": "too many event-stream clients"}, status=503)
            busy.headers["retry-after"] = "5"
            return busy
        stop = getattr(request, "stop", None)  # the collector's server sets it when shutting down
        body = self.feed.stream(last, stop=stop if isinstance(stop, threading.Event) else None)
        return Response(200, "text/event-stream; charset=utf-8", body, headers={
            "cache-control": "no-cache", "x-accel-buffering": "no",
        })  # fmt: skip

    def _status_page(self, request: Request) -> Response:
        html = render_status_page(self.feed.health(), refresh_s=self.config.status_refresh_s)
        return Response(200, "text/html; charset=utf-8", html.encode(), headers={
            "cache-control": "no-store",
            "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                       "style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            "x-content-type-options": "nosniff",
        })  # fmt: skip


def _json(data: Any, status: int = 200) -> Response:
    import json

    return Response(status, "application/json", json.dumps(data, separators=(",", ":")).encode(),
                    headers={"cache-control": "no-store"})  # fmt: skip


def install_outputs(collector: Any, config: OutputsConfig | None = None) -> Outputs:
    """Wire the output side into a routewatch `Collector`: subscribe to its monitor, listen to the
    records its ingest worker processed, read its ingest counters at scrape time, register the
    routes in its HTTP route table, and close with it. `config` defaults to the collector config's
    `outputs` section."""
    if config is None:
        section = getattr(getattr(collector, "config", None), "outputs", None) or {}
        config = section if isinstance(section, OutputsConfig) else OutputsConfig.model_validate(section)
    stats = getattr(collector, "ingest_stats", None)
    outputs = Outputs(collector.monitor, config, ingest=stats if callable(stats) else None,
                      meter_provider=getattr(collector, "meter_provider", None))  # fmt: skip
    add_listener = getattr(collector, "add_record_listener", None)
    if callable(add_listener):
        add_listener(outputs.observe)
    else:
        log.warning("routewatch collector: no record listener hook; /metrics and /api/health show no current figures")
    for (method, path), handler in outputs.routes().items():
        collector.routes.add(method, path, handler, public=path in config.public_paths)
    snapshots = getattr(collector, "snapshots", None)
    if snapshots is not None:
        snapshots.add_part("outputs", outputs.snapshot, outputs.restore)
    add_closer = getattr(collector, "add_closer", None)
    if callable(add_closer):
        add_closer(outputs.close)
    return outputs
