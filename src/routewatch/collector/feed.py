"""The health feed: what the collector knows, as JSON and as a stream of server-sent events.

    GET /api/health         streams with their state, baseline vs current figures, open alarms
    GET /api/alarms         the most recent alarms and recoveries (newest first)
    GET /api/health/stream  SSE: `snapshot` on connect, then `alarm` and `state` events, heartbeats

Every event has an id from one sequence. A client reconnecting with `Last-Event-ID` first gets the
events it missed (when they are still in the replay buffer), then a fresh `snapshot`, so a consumer
that applies events in order always ends up with the collector's current view. Each subscriber has
a bounded queue: one that falls behind is disconnected (and resyncs on reconnect) rather than
holding memory or slowing the collector.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..drift.alarm import Alarm, SignalStats, StreamKey
from ..drift.monitor import DriftMonitor
from ..router.health import TargetHealth, Transition
from .fleet import Fleet, closes_alarm, target_name

__all__ = ["AlarmLog", "Event", "EventHub", "HealthFeed", "alarm_kind", "baseline_of", "sse_event"]

log = logging.getLogger("routewatch.collector")

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_STATE_ORDER = {"ejected": 0, "probing": 1, "degraded": 2, "ramping": 3, "healthy": 4}


def alarm_kind(alarm: Alarm) -> str:
    """alarm | recovered (closes an open alarm) | improved (better than baseline) | change."""
    if alarm.kind == "recovered" and not closes_alarm(alarm):
        return "improved"
    return alarm.kind


def _finite(value: Any) -> Any:
    """JSON has no NaN: unknown figures are null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    data: dict[str, Any] = alarm.model_dump(mode="json")
    data["label"] = alarm.key.label()
    data["event"] = alarm_kind(alarm)
    return _finite(data)  # type: ignore[no-any-return]


# --- the alarm record -------------------------------------------------------------------------------
class AlarmLog:
    """Recent alarms (bounded) and the alarms open right now, per (stream, signal)."""

    def __init__(self, max_recent: int = 500, max_open: int = 10_000) -> None:
        self._recent: deque[Alarm] = deque(maxlen=max_recent)
        self._open: dict[tuple[StreamKey, str], Alarm] = {}
        self._reference: dict[tuple[StreamKey, str], SignalStats] = {}  # baseline before the first open alarm
        self._last_severity: dict[tuple[StreamKey, str], str] = {}
        self._max_open = max_open
        self._lock = threading.Lock()

    def add(self, alarm: Alarm) -> None:
        slot = (alarm.key, alarm.signal)
        with self._lock:
            self._recent.append(alarm)
            if alarm.kind == "alarm":
                current = self._open.get(slot)
                if current is not None:
                    # Already open: the detector re-learned its baseline and fired again. The alarm
                    # that opened it says what changed from the real baseline; keep it unless the
                    # new one is more severe.
                    if _SEVERITY_ORDER.get(alarm.severity, 3) < _SEVERITY_ORDER.get(current.severity, 3):
                        self._open[slot] = alarm
                        self._last_severity[slot] = alarm.severity
                elif len(self._open) < self._max_open:
                    if alarm.before is not None:
                        self._reference[slot] = alarm.before
                    self._open[slot] = alarm
                    self._last_severity[slot] = alarm.severity
                    if len(self._last_severity) > 2 * self._max_open:
                        for stale in [s for s in self._last_severity if s not in self._open]:
                            del self._last_severity[stale]
            elif closes_alarm(alarm):
                self._open.pop(slot, None)
                self._reference.pop(slot, None)

    def snapshot(self, recent: int = 100) -> dict[str, Any]:
        """JSON-able: the open alarms (with their pre-change baselines) and the latest alarms."""
        with self._lock:
            return {
                "open": [
                    {"alarm": a.model_dump(mode="json"),
                     "reference": r.model_dump(mode="json") if (r := self._reference.get(slot)) else None}
                    for slot, a in self._open.items()
                ],
                "recent": [a.model_dump(mode="json") for a in list(self._recent)[-recent:]],
            }  # fmt: skip

    def restore(self, data: dict[str, Any]) -> list[Alarm]:
        """Load a `snapshot()`; returns the open alarms (for the outputs that track them too)."""
        opened: list[Alarm] = []
        recent = [Alarm.model_validate(item) for item in data.get("recent", [])]
        with self._lock:
            self._recent.extend(recent)
            for item in data.get("open", []):
                alarm = Alarm.model_validate(item["alarm"])
                slot = (alarm.key, alarm.signal)
                self._open[slot] = alarm
                self._last_severity[slot] = alarm.severity
                if item.get("reference") is not None:
                    self._reference[slot] = SignalStats.model_validate(item["reference"])
                opened.append(alarm)
        return opened

    def recent(self, limit: int = 100) -> list[Alarm]:
        """Newest first."""
        with self._lock:
            items = list(self._recent)
        return items[::-1][: max(0, limit)]

    def open(self) -> dict[tuple[StreamKey, str], Alarm]:
        with self._lock:
            return dict(self._open)

    def references(self) -> dict[tuple[StreamKey, str], SignalStats]:
        """Per open (stream, signal): the baseline before it first alarmed (later alarms while open
        are measured against the detector's re-learned baseline)."""
        with self._lock:
            return dict(self._reference)

    def severities(self) -> dict[tuple[StreamKey, str], str]:
        """Last severity of every (stream, signal) that has alarmed (open or not): the alarm_active series."""
        with self._lock:
            return dict(self._last_severity)


# --- server-sent events -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Event:
    id: int
    name: str
    data: str  # JSON text


def sse_event(name: str, data: str, event_id: int | None = None) -> bytes:
    """One event in the text/event-stream format (data split over lines as the spec requires)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {name}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class _Subscriber:
    __slots__ = ("closed", "queue")

    def __init__(self, size: int) -> None:
        self.queue: queue.Queue[Event | None] = queue.Queue(size)
        self.closed = False


class EventHub:
    """Numbered events fanned out to subscribers, with a replay buffer for reconnecting clients."""

    def __init__(self, replay: int = 1_000, subscriber_queue: int = 256, max_subscribers: int = 256) -> None:
        self._replay: deque[Event] = deque(maxlen=replay)
        self._subscribers: list[_Subscriber] = []
        self._subscriber_queue = subscriber_queue
        self.max_subscribers = max_subscribers
        self._seq = 0
        self._lock = threading.Lock()
        self.lagging_disconnects = 0
        self.subscriptions = 0  # connections ever accepted

    @property
    def last_id(self) -> int:
        return self._seq

    def publish(self, name: str, payload: dict[str, Any]) -> Event:
        data = json.dumps(payload, separators=(",", ":"))
        with self._lock:
            self._seq += 1
            event = Event(self._seq, name, data)
            self._replay.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.queue.put_nowait(event)
            except queue.Full:
                self._drop(sub)
                self.lagging_disconnects += 1
        return event

    def subscribe(self) -> _Subscriber | None:
        """A new subscriber, or None when `max_subscribers` are connected."""
        with self._lock:
            if len(self._subscribers) >= self.max_subscribers:
                return None
            sub = _Subscriber(self._subscriber_queue)
            self._subscribers.append(sub)
            self.subscriptions += 1
            return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def since(self, last_id: int) -> list[Event] | None:
        """Events after `last_id`, or None when some of them already left the replay buffer."""
        with self._lock:
            if last_id >= self._seq:
                return []
            if not self._replay or self._replay[0].id > last_id + 1:
                return None
            return [e for e in self._replay if e.id > last_id]

    def close(self) -> None:
        """Ends every subscriber's stream (server shutdown)."""
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for sub in subscribers:
            self._end(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _drop(self, sub: _Subscriber) -> None:
        self.unsubscribe(sub)
        self._end(sub)

    @staticmethod
    def _end(sub: _Subscriber) -> None:
        sub.closed = True
        with contextlib.suppress(queue.Full):  # a full queue: the reader sees `closed` after draining
            sub.queue.put_nowait(None)


# --- the feed ---------------------------------------------------------------------------------------
def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()


class HealthFeed:
    """Joins the monitor's state, the fleet's figures and verdicts, and the alarm log into the
    documents the API, the SSE stream and the status page serve."""

    def __init__(
        self, monitor: DriftMonitor, fleet: Fleet, *, alarms: AlarmLog | None = None, hub: EventHub | None = None,
        max_streams: int = 500, heartbeat_s: float = 15.0, retry_ms: int = 2_000,
        clock: Callable[[], float] = time.time, ingest: Callable[[], Any] | None = None,
    ) -> None:  # fmt: skip
        self.ingest = ingest
        self.monitor = monitor
        self.fleet = fleet
        self.alarms = alarms or AlarmLog()
        self.hub = hub or EventHub()
        self.max_streams = max_streams
        self.heartbeat_s = heartbeat_s
        self.retry_ms = retry_ms
        self._clock = clock

    # inputs (subscribed by install_outputs) -------------------------------------------------------
    def on_alarm(self, alarm: Alarm) -> None:
        self.alarms.add(alarm)
        self.hub.publish("alarm", alarm_json(alarm))

    def on_transition(self, transition: Transition) -> None:
        health = self.fleet.book.health(transition.target)
        self.hub.publish("state", {
            "target": transition.target, "old": transition.old.value, "new": transition.new.value,
            "reason": transition.reason, "at": _iso(transition.at),
            "health": _health_json(health) if health is not None else None,
        })  # fmt: skip

    # documents -------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The /api/health document (also the SSE `snapshot` event's data)."""
        last_id = self.hub.last_id
        state = self.monitor.state()
        fleet = self.fleet.status()
        open_alarms = self.alarms.open()
        references = self.alarms.references()
        counts = self.fleet.counts()
        streams: list[dict[str, Any]] = []
        for entry in state.values():
            k = entry["key"]
            key = StreamKey(k["provider"], k["model"], k.get("operation", "chat"), tuple(sorted(k["extra"].items())))
            streams.append(self._stream(key, entry, fleet, open_alarms, references, counts.get(key)))
        streams.sort(key=_stream_order)
        truncated = max(0, len(streams) - self.max_streams)
        alarms_now = sorted(open_alarms.values(), key=lambda a: (_SEVERITY_ORDER.get(a.severity, 3), a.key.label()))
        return _finite({  # type: ignore[no-any-return]
            "generated_at": _iso(self._clock()),
            "last_event_id": last_id,
            "streams": streams[: self.max_streams],
            "streams_truncated": truncated,
            "open_alarms": [alarm_json(a) for a in alarms_now],
            "fleet": {name: _health_json(h) for name, h in sorted(fleet.items())},
            "collector": self._collector(),
        })  # fmt: skip

    def _collector(self) -> dict[str, Any] | None:
        """Ingest figures (None when not running inside a collector)."""
        stats = self.ingest() if self.ingest is not None else None
        if stats is None:
            return None
        return {
            "spans_received": sum(getattr(stats, "spans_received", {}).values()),
            "spans_accepted": getattr(stats, "spans_accepted", 0),
            "spans_dropped": sum(getattr(stats, "spans_dropped", {}).values()),
            "requests_rejected": sum(getattr(stats, "requests_rejected", {}).values()),
            "queue_depth": getattr(stats, "queue_depth", 0),
            "queue_capacity": getattr(stats, "queue_capacity", 0),
        }

    def recent_alarms(self, limit: int = 100) -> dict[str, Any]:
        return {"alarms": [alarm_json(a) for a in self.alarms.recent(min(max(limit, 0), 1_000))]}

    def _stream(
        self, key: StreamKey, entry: dict[str, Any], fleet: dict[str, TargetHealth],
        open_alarms: dict[tuple[StreamKey, str], Alarm], references: dict[tuple[StreamKey, str], SignalStats],
        counts: tuple[int, int] | None,
    ) -> dict[str, Any]:  # fmt: skip
        recent = self.fleet.recent(key)
        signals: dict[str, Any] = {}
        for signal, det in sorted(entry["signals"].items()):
            baseline = baseline_of(det, references.get((key, signal)))
            current = recent.get(signal)
            signals[signal] = {
                "phase": det.get("phase"),
                "warm_up_progress": det.get("warm_up_progress"),
                "in_alarm": bool(det.get("in_alarm")),
                "baseline": baseline,
                "current": current.as_dict() if current is not None else None,
            }
        health = fleet.get(target_name(key.provider, key.model))
        mine = [alarm_json(a) for (k, _), a in open_alarms.items() if k == key]
        open_signals = entry.get("open_alarms", {})
        return {
            "label": key.label(),
            "key": key.as_dict(),
            "state": health.state.value if health is not None else ("degraded" if open_signals else "healthy"),
            "weight_factor": health.weight_factor if health is not None else None,
            "calls": entry.get("calls", 0),
            "calls_observed": counts[0] if counts else 0,
            "errors_observed": counts[1] if counts else 0,
            "open_signals": dict(open_signals),
            "open_alarms": mine,
            "signals": signals,
        }

    # SSE -------------------------------------------------------------------------------------------
    def stream(self, last_event_id: str | None = None, *, stop: threading.Event | None = None) -> Iterator[bytes]:
        """The bytes of one SSE connection: replay (if any), `snapshot`, then live events and
        heartbeat comments every `heartbeat_s`. Ends when the hub drops the subscriber or `stop` is set."""
        sub = self.hub.subscribe()
        if sub is None:
            yield sse_event("error", json.dumps({"error": "too many subscribers"}))
            return
        try:
            yield f"retry: {self.retry_ms}\n\n".encode()
            resume = _parse_id(last_event_id)
            if resume is not None:
                for missed in self.hub.since(resume) or []:
                    if missed.name != "snapshot":
                        yield sse_event(missed.name, missed.data, missed.id)
            snapshot = self.health()
            yield sse_event("snapshot", json.dumps(snapshot, separators=(",", ":")), snapshot["last_event_id"])
            seen = snapshot["last_event_id"]
            while not sub.closed and not (stop is not None and stop.is_set()):
                try:
                    event = sub.queue.get(timeout=self.heartbeat_s)
                except queue.Empty:
                    yield b": heartbeat\n\n"
                    continue
                if event is None:
                    break
                if event.id <= seen:  # already reflected in the snapshot
                    continue
                yield sse_event(event.name, event.data, event.id)
        finally:
            self.hub.unsubscribe(sub)


def _parse_id(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def baseline_of(det: dict[str, Any], reference: SignalStats | None = None) -> dict[str, Any] | None:
    """Detector state -> {n?, mean, p50?, p95?} in the signal's units (rates: `mean` is the rate).

    While an alarm is open the detector has re-baselined on the new regime; the baseline a person
    compares against is the one before the change, which the first alarm carried."""
    if reference is not None:
        return {"mean": reference.mean, "p50": reference.p50, "p95": reference.p95, "n": reference.n}
    base = det.get("baseline")
    if not isinstance(base, dict) or det.get("phase") == "warm_up":
        return None  # a rate detector reports its prior while warming up: not a baseline yet
    if "rate" in base:
        return {"mean": base.get("rate"), "n": base.get("n")}
    return {"mean": base.get("mean"), "p50": base.get("p50"), "p95": base.get("p95")}


def _health_json(health: TargetHealth) -> dict[str, Any]:
    data = health.as_dict()
    for field in ("since", "next_probe_at"):
        value = data.get(field)
        if isinstance(value, (int, float)):
            data[field] = _iso(float(value))
    return data


def _stream_order(stream: dict[str, Any]) -> tuple[int, int, str]:
    return (_STATE_ORDER.get(stream["state"], 5), -len(stream["open_alarms"]), stream["label"])
