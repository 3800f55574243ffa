"""`RemoteHealth`: a router in any app instance follows the verdicts of a routewatch collector.

    remote = routewatch.RemoteHealth("http://collector:14318", router, token=os.environ["RW_TOKEN"])
    remote.start()          # or: with routewatch.RemoteHealth(...) as remote: ...

A daemon thread holds one server-sent-events connection to the collector's health feed
(`GET /api/health/stream`) and turns its `alarm` events into calls on the router's `HealthBook`,
through the same `attach` used for an in-process monitor (so `routewatch.Router` and any
`Demotable` router work alike). The feed opens with a `snapshot` of the alarms open at the
collector; after every (re)connection the snapshot is reconciled with what was applied locally:
alarms opened while disconnected are applied, alarms closed meanwhile are closed with a recovery.

The connection is re-established on its own with capped exponential backoff and jitter (so a fleet
does not reconnect in lockstep after a collector restart), resuming with `Last-Event-ID`. Nothing
here raises into the application: failures are logged (never with the token) and counted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import httpx

from ..drift.alarm import Alarm, StreamKey
from .feedback import Attachment, attach
from .health import HealthBook, HealthPolicy

__all__ = ["RemoteHealth", "backoff_delay", "parse_sse"]

log = logging.getLogger("routewatch.router")

STREAM_PATH = "/api/health/stream"
AlarmCallback = Callable[[Alarm], Any]


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str, str | None, int | None]]:
    """(event, data, id, retry_ms) per dispatched event of a text/event-stream, comments skipped."""
    event, event_id, retry = "message", None, None
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data), event_id, retry
            event, data, retry = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
            yield "retry", "", event_id, retry


def backoff_delay(failures: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Capped exponential backoff with "equal jitter": between half and all of
    min(max_s, min_s * 2**(failures - 1)), so a fleet cut off at once does not reconnect in lockstep."""
    ceiling: float = min(max_s, min_s * 2.0 ** min(max(failures, 1) - 1, 60))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class RemoteHealth:
    """Applies a collector's drift alarms to a local router's health, from a background thread.

    `url`: the collector's base URL (or the full stream URL). `router`: a `routewatch.Router` (its
    `.health` book is driven) or any `Demotable` (a book is built for it, see `routewatch.attach`);
    None only collects alarms for your own `subscribe` callbacks. `token` is sent as a bearer token.
    `read_timeout_s` should exceed the collector's heartbeat period (15 s by default): a silent
    connection is treated as dead after it.
    """

    def __init__(
        self, url: str, router: Any = None, *, token: str | None = None, headers: dict[str, str] | None = None,
        policy: HealthPolicy | None = None, connect_timeout_s: float = 5.0, read_timeout_s: float = 45.0,
        min_backoff_s: float = 0.5, max_backoff_s: float = 30.0, verify: bool | str = True,
        tick_interval_s: float | None = 1.0, results_from_bus: bool = True,
    ) -> None:  # fmt: skip
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"RemoteHealth url must be http(s), got {url.split('?')[0]!r}")
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < min_backoff_s <= max_backoff_s")
        base = url.rstrip("/")
        self.url = base if base.endswith(STREAM_PATH) else base + STREAM_PATH
        self._headers = {"accept": "text/event-stream", "cache-control": "no-cache", **(headers or {})}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._timeout = httpx.Timeout(connect_timeout_s, read=read_timeout_s)
        self._verify = verify
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self._callbacks: tuple[AlarmCallback, ...] = ()
        self._applied: dict[tuple[StreamKey, str], Alarm] = {}  # alarms open as far as the router knows
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._rng = random.Random()
        self.last_event_id: str | None = None
        self.connected = threading.Event()
        self.synced = threading.Event()  # set once a snapshot was applied (cleared on disconnect)
        self.fleet: dict[str, dict[str, Any]] = {}  # the collector's own verdicts, for display
        self.connects = self.disconnects = self.errors = self.alarms_applied = self.resyncs = 0
        self.attachment: Attachment | None = None
        if router is not None:
            self.attachment = attach(self, router, policy=policy, tick_interval_s=tick_interval_s,
                                     results_from_bus=results_from_bus)  # fmt: skip

    # --- the alarm-source side (what `attach` subscribes to) ----------------------------------------
    def subscribe(self, callback: AlarmCallback) -> None:
        self._callbacks = (*self._callbacks, callback)

    def unsubscribe(self, callback: AlarmCallback) -> None:
        self._callbacks = tuple(c for c in self._callbacks if c is not callback)

    @property
    def health(self) -> HealthBook | None:
        """The HealthBook the collector's alarms are applied to (None without a router)."""
        return self.attachment.health if self.attachment is not None else None

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> RemoteHealth:
        """Connect in a daemon thread (idempotent); returns at once."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="routewatch-remote-health", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Close the connection and stop the thread; the router keeps the health it has."""
        self._stop.set()
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on the stream
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def close(self, timeout_s: float = 2.0) -> None:
        """`stop()` and detach from the router."""
        self.stop(timeout_s)
        if self.attachment is not None:
            self.attachment.detach()

    def __enter__(self) -> RemoteHealth:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_synced(self, timeout_s: float) -> bool:
        """Block until a snapshot has been applied (for start-up ordering and tests)."""
        return self.synced.wait(timeout_s)

    # --- the connection loop ------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self._session():
                    failures = 0
            except Exception as exc:  # every failure: log, count, back off; never raise
                if not self._stop.is_set():  # (stop() cutting the stream is no failure)
                    self.errors += 1
                    log.info("routewatch: health feed %s unavailable: %s", _safe(self.url), _describe(exc))
            finally:
                self._socket = None
                if self.connected.is_set():
                    self.disconnects += 1
                self.connected.clear()
                self.synced.clear()
            if self._stop.is_set():
                return
            failures += 1
            self._stop.wait(backoff_delay(failures, self.min_backoff_s, self.max_backoff_s, self._rng))

    def _session(self) -> bool:
        """One connection; True when it got as far as a snapshot (backoff resets)."""
        headers = dict(self._headers)
        if self.last_event_id is not None:
            headers["last-event-id"] = self.last_event_id
        synced = False
        with (
            httpx.Client(timeout=self._timeout, verify=self._verify) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise _FeedError(f"HTTP {response.status_code}")
            self._socket = _socket_of(response)
            self.connected.set()
            self.connects += 1
            for event, data, event_id, _ in parse_sse(response.iter_lines()):
                if self._stop.is_set():
                    break
                if event == "retry":
                    continue  # the server's hint is for browsers; our backoff is configured here
                self._apply(event, data)
                if event_id is not None:
                    self.last_event_id = event_id
                if event == "snapshot":
                    synced = True
                    self.synced.set()
        return synced

    # --- applying events ----------------------------------------------------------------------------
    def _apply(self, event: str, data: str) -> None:
        try:
            payload = json.loads(data)
            if event == "alarm":
                self._alarm(Alarm.model_validate(payload))
            elif event == "snapshot":
                self._resync(payload)
            elif event == "state":
                health = payload.get("health")
                if isinstance(health, dict):
                    self.fleet[str(payload.get("target"))] = health
        except Exception as exc:
            self.errors += 1
            log.warning("routewatch: could not apply a %s event from the health feed: %s", event, _describe(exc))

    def _alarm(self, alarm: Alarm) -> None:
        slot = (alarm.key, alarm.signal)
        with self._lock:
            if alarm.kind == "alarm":
                self._applied[slot] = alarm
            elif alarm.kind == "recovered" and not alarm.explanation.startswith("improvement"):
                self._applied.pop(slot, None)
        self._dispatch(alarm)

    def _resync(self, snapshot: dict[str, Any]) -> None:
        """Make the router's open alarms equal the collector's."""
        self.resyncs += 1
        remote: dict[tuple[StreamKey, str], Alarm] = {}
        for item in snapshot.get("open_alarms", []):
            alarm = Alarm.model_validate(item)
            remote[(alarm.key, alarm.signal)] = alarm
        fleet = snapshot.get("fleet")
        if isinstance(fleet, dict):
            self.fleet = {str(k): v for k, v in fleet.items() if isinstance(v, dict)}
        with self._lock:
            stale = [a for slot, a in self._applied.items() if slot not in remote]
            fresh = [a for slot, a in remote.items() if slot not in self._applied]
        now = datetime.now(timezone.utc)
        for old in stale:
            self._alarm(Alarm(
                kind="recovered", stream_key=old.stream_key, signal=old.signal, direction=old.direction,
                detector="routewatch.remote", detected_at=now, severity="info",
                explanation=(f"{old.signal} of {old.key.label()} is no longer in alarm at the collector "
                             "(closed while this app was disconnected)"),
            ))  # fmt: skip
        for alarm in fresh:
            self._alarm(alarm)

    def _dispatch(self, alarm: Alarm) -> None:
        self.alarms_applied += 1
        for callback in self._callbacks:
            try:
                callback(alarm)
            except Exception:
                self.errors += 1
                log.warning("routewatch: remote health callback %r failed", callback, exc_info=True)

    def open_alarms(self) -> list[Alarm]:
        """The collector's alarms currently applied to the router."""
        with self._lock:
            return list(self._applied.values())


class _FeedError(Exception):
    pass


def _safe(url: str) -> str:
    """The URL without credentials or query (a token could be in either)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None))


def _describe(exc: BaseException) -> str:
    """An error without URLs or headers (a token could be in either)."""
    if isinstance(exc, _FeedError):
        return str(exc)
    return type(exc).__name__


def _socket_of(response: httpx.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    try:
        sock = stream.get_extra_info("socket") if stream is not None else None
    except Exception:
        return None
    return sock if isinstance(sock, socket.socket) else None
