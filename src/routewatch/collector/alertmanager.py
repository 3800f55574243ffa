"""Drift alarms as Alertmanager alerts (`POST /api/v2/alerts`).

Alertmanager expects a client to keep re-sending an alert while it fires (its own timeout resolves
an alert it stops hearing about) and to send `endsAt` once it is over. `AlertmanagerSink` keeps the
set of firing alerts and a worker thread posts them: at once when something changed, and every
`resend_interval_s` while anything fires. A firing alert carries `endsAt` four resend intervals
ahead, as Prometheus does, so if the collector dies Alertmanager resolves it by itself; a resolved
alert carries its real end and is re-sent for a few intervals (an Alertmanager that restarted or a
peer of an HA pair that missed it still learns it ended).

Calling the sink only updates a dict under a lock and wakes the worker: it never blocks the
collector's ingest. Posts go through urllib (the collector never traces its own requests), with
retries and capped exponential backoff; failures are counted and logged without URL secrets.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..drift.alarm import Alarm
from .fleet import closes_alarm

__all__ = ["ALERT_NAME", "AlertmanagerSink", "alert_labels", "label_name"]

log = logging.getLogger("routewatch.collector")

ALERT_NAME = "RouteWatchDrift"
_RANK = {"critical": 0, "warning": 1, "info": 2}
_NOT_IN_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def label_name(name: str) -> str:
    """`name` as a valid Prometheus/Alertmanager label name (`[a-zA-Z_][a-zA-Z0-9_]*`): Alertmanager
    refuses a whole batch of alerts over one invalid name. Other characters become `_`; a name that
    starts with a digit (or is empty) gets a `_` in front."""
    name = _NOT_IN_LABEL_NAME.sub("_", name)
    return name if name and not name[0].isdigit() else "_" + name


def alert_labels(alarm: Alarm, external: dict[str, str] | None = None) -> dict[str, str]:
    """The identifying labels of an alarm's alert: one alert per stream, signal and severity.

    Extra stream dimensions become labels named by `label_name`; a name already taken (by another
    dimension that reads the same once made valid, or by one of the labels above) gets `_2`, `_3`, ...,
    so no dimension is lost and streams that differ in one never share an alert."""
    key = alarm.key
    labels = {
        **(external or {}),
        "alertname": ALERT_NAME,
        "provider": key.provider,
        "model": key.model,
        "operation": key.operation,
        "signal": alarm.signal,
        "severity": alarm.severity,
    }
    for name, value in key.extra:  # sorted: the same stream always gets the same names
        base = candidate = label_name(name)
        n = 1
        while candidate in labels:
            n += 1
            candidate = f"{base}_{n}"
        labels[candidate] = value
    return labels


def _annotations(alarm: Alarm) -> dict[str, str]:
    notes = {
        "summary": alarm.explanation,
        "direction": alarm.direction,
        "detector": alarm.detector,
        "traffic_shift": "true" if alarm.traffic_shift else "false",
    }
    if alarm.before is not None and alarm.after is not None:
        notes["description"] = (
            f"{alarm.signal}: before n={alarm.before.n} mean={alarm.before.mean} p95={alarm.before.p95}; "
            f"after n={alarm.after.n} mean={alarm.after.mean} p95={alarm.after.p95}"
        )
    if alarm.calls_since_change is not None:
        notes["calls_since_change"] = str(alarm.calls_since_change)
    return notes


@dataclass
class _Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None  # set on recovery
    resolved_sends: int = 0
    dirty: bool = True


class AlertmanagerSink:
    """An alarm callback that keeps Alertmanager's view of routewatch's alarms current.

    `urls`: one or more Alertmanager base URLs (an HA pair gets every alert; `/api/v2/alerts` is
    appended unless given). `external_labels` are added to every alert (e.g. the collector's name).
    `generator_url`: a link back, e.g. the collector's status page. Change events (model swapped,
    fingerprint changed) are not alerts unless `send_changes`; then each fires for `change_ttl_s`.
    """

    def __init__(
        self, urls: str | Sequence[str], *, resend_interval_s: float = 60.0, resolved_resends: int = 4,
        timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
        max_alerts: int = 1_000, external_labels: dict[str, str] | None = None, generator_url: str | None = None,
        headers: dict[str, str] | None = None, send_changes: bool = False, change_ttl_s: float = 3_600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        targets = [urls] if isinstance(urls, str) else list(urls)
        if not targets:
            raise ValueError("at least one Alertmanager URL is required")
        for url in targets:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"Alertmanager url must be http(s), got {url.split('?')[0]!r}")
        if resend_interval_s <= 0 or timeout_s <= 0 or retries < 0 or max_alerts < 1 or resolved_resends < 1:
            raise ValueError("resend_interval_s > 0, timeout_s > 0, retries >= 0, max_alerts >= 1 are required")
        self.urls = [u if u.rstrip("/").endswith("/api/v2/alerts") else u.rstrip("/") + "/api/v2/alerts"
                     for u in targets]  # fmt: skip
        self.resend_interval_s = resend_interval_s
        self.resolved_resends = resolved_resends
        self.timeout_s, self.retries = timeout_s, retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.max_alerts = max_alerts
        self.external_labels = dict(external_labels or {})
        self.generator_url = generator_url
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.send_changes, self.change_ttl_s = send_changes, change_ttl_s
        self._clock = clock
        self._alerts: dict[tuple[tuple[str, str], ...], _Alert] = {}
        self._slots: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}  # stream+signal -> current alert
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.posts = self.failed_posts = self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="routewatch-alertmanager", daemon=True)
        self._thread.start()

    # --- the callback -------------------------------------------------------------------------------
    def __call__(self, alarm: Alarm) -> None:
        if alarm.kind == "change" and not self.send_changes:
            return
        slot = (*[f"{k}={v}" for k, v in sorted(alarm.key.as_dict().items()) if k != "extra"],
                *[f"{k}={v}" for k, v in alarm.key.extra], alarm.signal)  # fmt: skip
        at = alarm.detected_at.timestamp()
        with self._lock:
            current = self._slots.get(slot)
            if alarm.kind in ("alarm", "change"):
                labels = alert_labels(alarm, self.external_labels)
                ident = tuple(sorted(labels.items()))
                firing = self._alerts.get(current) if current is not None else None
                if current is not None and firing is not None and firing.ends_at is None and alarm.kind == "alarm":
                    # Already firing: a detector that re-learned its baseline fired again. The alert
                    # keeps the explanation that opened it, unless this one is more severe.
                    if _RANK.get(alarm.severity, 3) >= _RANK.get(firing.labels.get("severity", ""), 3):
                        return
                    self._resolve(current, at)
                existing = self._alerts.get(ident)
                if existing is None or existing.ends_at is not None:
                    if len([a for a in self._alerts.values() if a.ends_at is None]) >= self.max_alerts:
                        self.dropped += 1
                        return
                    existing = self._alerts[ident] = _Alert(labels, _annotations(alarm), starts_at=at)
                    if alarm.kind == "change":
                        existing.ends_at = at + self.change_ttl_s
                existing.annotations = _annotations(alarm)
                existing.dirty = True
                self._slots[slot] = ident
            elif closes_alarm(alarm) and current is not None:
                self._resolve(current, at)
                del self._slots[slot]
            else:
                return  # an improvement on a signal that is not alerting
        self._wake.set()

    def close(self, timeout_s: float = 5.0) -> None:
        """Post what changed (bounded by `timeout_s`), then stop the worker."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def firing(self) -> list[dict[str, str]]:
        """Labels of the alerts firing now."""
        with self._lock:
            now = self._clock()
            return [dict(a.labels) for a in self._alerts.values() if a.ends_at is None or a.ends_at > now]

    # --- the worker ---------------------------------------------------------------------------------
    def _resolve(self, ident: tuple[tuple[str, str], ...], at: float) -> None:
        alert = self._alerts.get(ident)
        if alert is not None and alert.ends_at is None:
            alert.ends_at = at
            alert.dirty = True

    def _run(self) -> None:
        next_resend = self._clock() + self.resend_interval_s
        while True:
            self._wake.wait(timeout=max(0.0, next_resend - self._clock()))
            self._wake.clear()
            stopping = self._stop.is_set()
            resend = self._clock() >= next_resend
            if resend:
                next_resend = self._clock() + self.resend_interval_s
            batch = self._batch(resend)
            if batch:
                self._post(batch, stopping)
            if stopping:
                return

    def _batch(self, everything: bool) -> list[dict[str, Any]]:
        now = self._clock()
        valid_until = now + 4 * self.resend_interval_s
        out: list[dict[str, Any]] = []
        with self._lock:
            for ident, alert in list(self._alerts.items()):
                if not (alert.dirty or everything):
                    continue
                alert.dirty = False
                active = alert.ends_at is None or alert.ends_at > now
                body: dict[str, Any] = {
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "startsAt": _rfc3339(alert.starts_at),
                    "endsAt": _rfc3339(valid_until if alert.ends_at is None else alert.ends_at),
                }
                if self.generator_url:
                    body["generatorURL"] = self.generator_url
                out.append(body)
                if not active:
                    alert.resolved_sends += 1
                    if alert.resolved_sends >= self.resolved_resends:
                        del self._alerts[ident]
        return out

    def _post(self, batch: list[dict[str, Any]], stopping: bool) -> None:
        data = json.dumps(batch).encode()
        for url in self.urls:
            for attempt in range(self.retries + 1):
                try:
                    request = urllib.request.Request(url, data=data, headers=self.headers, method="POST")
                    with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                        if response.status < 300:
                            self.posts += 1
                            break
                except Exception as exc:
                    if attempt == self.retries:
                        self.failed_posts += 1
                        log.warning("routewatch: Alertmanager post to %s failed after %d attempts: %s",
                                    url.split("?")[0], attempt + 1, type(exc).__name__)  # fmt: skip
                        break
                delay = min(self.max_backoff_s, self.backoff_s * (2**attempt))
                if stopping:
                    time.sleep(min(delay, 0.1))  # closing: try the remaining attempts quickly
                else:
                    self._stop.wait(delay)
