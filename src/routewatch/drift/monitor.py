"""`DriftMonitor`: per-stream detector sets, fed raw values or whole `CallRecord`s, raising `Alarm`s.

One detector per (stream key, signal), created on first use from the detector registry, so a
stream costs only what it uses. Keys are capped (least recently seen evicted, counted). A peer
view marks alarms raised while most streams moved the same way as a traffic shift. The false-alarm
budget is the fleet's by default, split between live streams (see `MonitorConfig.budget_scope`). Thread-safe:
one lock around detector updates (river-style detectors have one owner at a time).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field

from ..records import CallRecord
from .alarm import Alarm, SignalStats, StreamKey
from .detectors import SIGNALS, Verdict, make_detector
from .explain import explain, severity
from .quality import ChangeTracker, quality_verdicts
from .sinks import SpanEventSink, default_sinks

__all__ = ["DriftMonitor", "MonitorConfig"]

log = logging.getLogger("routewatch.drift")

AlarmCallback = Callable[[Alarm], Any]
_NO_ALARMS: Mapping[str, tuple[float, str]] = MappingProxyType({})
_MAX_REMEMBERED_RESPONSES = 10_000
_OTHER = "_other"  # the tag value that stands for all those past `max_values_per_dimension`


class MonitorConfig(BaseModel):
    """How a `DriftMonitor` is set up; the defaults are meant for production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_streams: int = Field(default=2_000, ge=1, description="Stream keys tracked at once (LRU beyond).")
    dimensions: tuple[str, ...] = Field(default=(), description="Tags that split streams, e.g. ('tenant',).")
    max_values_per_dimension: int = Field(default=50, ge=1, description="Distinct tag values before '_other'.")
    false_alarms_per_100k: float = Field(
        default=1.0,
        gt=0,
        description=(
            "False-alarm budget per signal, in false alarms per 100,000 calls of a stream. With "
            "budget_scope='fleet' it is shared by all live streams: in the time each stream makes 100,000 "
            "calls the whole fleet raises about this many false alarms per signal, whatever its size."
        ),
    )
    budget_scope: Literal["fleet", "stream"] = Field(
        default="fleet",
        description=(
            "'fleet': each stream's detectors get false_alarms_per_100k / L, where L is the number of live "
            "streams rounded up to a power of two, and are recalibrated (closed-form thresholds, no "
            "simulation) as streams come and go; thresholds grow only with log L (+0.7 per doubling), so "
            "delays grow slowly. 'stream': every stream gets the whole budget (the fleet's false alarms "
            "grow with its size). A signal whose detector_overrides set fa_per_100k keeps that value."
        ),
    )
    live_window_s: float = Field(
        default=3600.0,
        gt=0,
        description="A stream with no call for this long stops counting as live for the fleet budget.",
    )
    signals: tuple[str, ...] | None = Field(default=None, description="Signals to watch; None watches all.")
    detector_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    peer_fraction: float = Field(default=0.6, gt=0, le=1, description="Share of streams moving together = shift.")
    peer_min_streams: int = Field(default=3, ge=2, description="Streams needed before the peer view applies.")
    peer_window_s: float = Field(default=600.0, gt=0, description="How recent a peer's alarm must be.")
    change_events: bool = Field(default=True, description="Report model, fingerprint and shape changes.")


class _Stream:
    __slots__ = ("dets", "level", "n", "names", "open", "seen")

    def __init__(self, names: list[str]) -> None:
        # Detectors by the monitor's signal column (`names[i]` is the signal of `dets[i]`; None: unused
        # here): a list of a dozen, where a dict per stream would cost three times as much.
        self.dets: list[Any] = []
        self.names = names  # the monitor's, shared
        self.n = 0
        self.seen = -math.inf  # time of the last value (for the live count)
        self.level = -1  # budget level its detectors were calibrated at (-1: not yet)
        # signal -> (when, direction) of an open alarm; the shared empty one until the stream has one
        self.open: Mapping[str, tuple[float, str]] = _NO_ALARMS

    @property
    def detectors(self) -> dict[str, Any]:
        """signal -> detector, a new dict (to read; `DriftMonitor._detector` adds detectors)."""
        return {name: det for name, det in zip(self.names, self.dets, strict=False) if det is not None}


class DriftMonitor:
    """Watches every stream's signals and raises explained alarms and recoveries."""

    def __init__(
        self, config: MonitorConfig | None = None, *, meter_provider: Any = None, sinks: Iterable[Any] | None = None
    ) -> None:
        """`sinks` replace the default ones (a log record, the `routewatch.drift.alarms` counter, an
        event on the current span); `subscribe` adds callbacks on top."""
        self.config = config or MonitorConfig()
        self._streams: OrderedDict[StreamKey, _Stream] = OrderedDict()
        self._callbacks: tuple[AlarmCallback, ...] = tuple(default_sinks(meter_provider) if sinks is None else sinks)
        self._lock = threading.RLock()
        self._changes = ChangeTracker(max_keys=self.config.max_streams)
        self._dimension_values: dict[str, set[str]] = {}
        self._by_response_id: OrderedDict[str, StreamKey] = OrderedDict()
        self.evicted_streams = 0
        self.callback_errors = 0
        self.alarms_raised = 0
        self._level = 0  # the per-stream budget is false_alarms_per_100k / 2**level
        self._live = 0
        self._recount_at = -math.inf
        self._span_providers: list[Any] = []
        self._watched: frozenset[str] | None = None if self.config.signals is None else frozenset(self.config.signals)
        # Whether each call has an "error" value (every call has one, when it is watched): what counts calls.
        self._counts_calls = self._watched is None or "error" in self._watched
        # Whether a signal of the call itself (not a quality verdict) is left out: then filter them all.
        self._calls_filtered = self._watched is not None and not self._watched.issuperset(_CALL_SIGNALS)
        self._fleet_budget = self.config.budget_scope == "fleet"
        # Signal columns, monitor-wide: `_Stream.dets[_columns[signal]]`, `_names[column]`.
        self._columns: dict[str, int] = {}
        self._names: list[str] = []
        # One StreamKey object per stream, so the per-record lookups compare by identity.
        self._keys: dict[tuple[Any, ...], StreamKey] = {}
        # The last call `record` saw, its key and watched values (see `seen`).
        self._last: tuple[CallRecord, StreamKey, list[tuple[str, float]]] | None = None

    # --- inputs -------------------------------------------------------------------------------------
    def observe(
        self, key: StreamKey | tuple[str, ...], signal: str, value: float, timestamp: float | None = None
    ) -> list[Alarm]:
        """Feed one raw value of one signal (latency-type values in seconds, rates as 0/1)."""
        if signal not in SIGNALS:
            raise ValueError(f"unknown signal {signal!r}; known: {', '.join(sorted(SIGNALS))}")
        stream_key = StreamKey.of(key)
        if self.config.signals is not None and signal not in self.config.signals:
            return []
        now = time.time() if timestamp is None else timestamp
        with self._lock:
            alarm = self._update(stream_key, signal, float(value), now)
        if alarm is None:
            return []
        self._dispatch(alarm)
        return [alarm]

    def record(self, call: CallRecord) -> list[Alarm]:
        """Fan one finished call out to all the signals it carries."""
        key = self.key_for(call)
        now = call.start_time_unix_nano / 1e9 + (call.duration_s or 0.0)  # unknown duration: its start
        values = self._watched_values(call)
        self._last = (call, key, values)
        alarms: list[Alarm] = []
        with self._lock:  # once per call: the stream is looked up once, not once per signal
            if call.response_id:
                self._by_response_id[call.response_id] = key
                if len(self._by_response_id) > _MAX_REMEMBERED_RESPONSES:
                    self._by_response_id.popitem(last=False)
            if values:
                stream = self._stream(key, now)
                if self._counts_calls:
                    stream.n += 1
                # `_update_stream` inlined: this loop runs a dozen times a call
                columns = self._columns
                dets = stream.dets
                for signal, value in values:
                    try:
                        detector = dets[columns[signal]]
                    except (KeyError, IndexError):
                        detector = None
                    if detector is None:
                        detector = self._detector(stream, signal)
                        dets = stream.dets
                    verdict = detector.update(value, now)
                    if verdict is not None:
                        alarms.append(self._verdict_alarm(stream, key, signal, verdict, now))
            events = self._changes.events(key, call) if self.config.change_events else ()
        for event in events:
            alarms.append(self._change_alarm(key, event.kind, event.before, event.after, now))
        for alarm in alarms:
            self._dispatch(alarm)
        return alarms

    def seen(self, call: CallRecord) -> tuple[StreamKey, list[tuple[str, float]]]:
        """The stream key of `call` and the values of the signals this monitor watches: those `record`
        worked out when `call` is the call it saw last (listeners that run right after it, such as the
        collector's outputs, read them here instead of again), else worked out now."""
        last = self._last
        if last is not None and last[0] is call:
            return last[1], last[2]
        return self.key_for(call), self._watched_values(call)

    def record_score(
        self, score: float, *, response_id: str | None = None, call: CallRecord | None = None,
        key: StreamKey | tuple[str, ...] | None = None, timestamp: float | None = None,
    ) -> list[Alarm]:  # fmt: skip
        """A downstream score (user thumbs as 0/1, an eval grade in [0, 1]) for a call or a stream.

        Name the call by its `CallRecord` or its provider response id (remembered for the last
        10,000 calls), or name the stream `key` directly. Falling scores raise alarms.
        """
        if call is not None:
            stream_key = self.key_for(call)
        elif response_id is not None:
            with self._lock:
                found = self._by_response_id.get(response_id)
            if found is None:
                raise KeyError(f"no recent call with response id {response_id!r}")
            stream_key = found
        elif key is not None:
            stream_key = StreamKey.of(key)
        else:
            raise ValueError("record_score needs a call, a response_id or a key")
        return self.observe(stream_key, "score", score, timestamp)

    def key_for(self, call: CallRecord) -> StreamKey:
        extra: list[tuple[str, str]] = []
        for name in self.config.dimensions:
            value = call.tag(name)
            if value is not None:
                extra.append((name, self._admit(name, value)))
        model = call.request_model or call.response_model or "unknown"
        parts = (call.provider, model, call.operation, tuple(sorted(extra)) if len(extra) > 1 else tuple(extra))
        key = self._keys.get(parts)
        if key is None:
            if len(self._keys) >= 4 * self.config.max_streams:
                self._keys = {}
            key = self._keys[parts] = StreamKey(*parts)
        return key

    @staticmethod
    def signals_of(call: CallRecord) -> list[tuple[str, float]]:
        """(signal, value) pairs for one call. Latency-type signals only from successful calls."""
        values = _call_signals(call)
        for signal, verdict in quality_verdicts(call).items():
            values.append((signal, float(verdict)))
        return values

    def _watched_values(self, call: CallRecord) -> list[tuple[str, float]]:
        watched = self._watched
        if watched is None:
            return self.signals_of(call)
        if not self._calls_filtered:  # the common case: only quality verdicts may be left out
            values = _call_signals(call)
            for signal, verdict in quality_verdicts(call).items():
                if signal in watched:
                    values.append((signal, float(verdict)))
            return values
        return [(s, v) for s, v in self.signals_of(call) if s in watched]

    # --- outputs --------------------------------------------------------------------------------------
    def subscribe(self, callback: AlarmCallback) -> None:
        """Call `callback(alarm)` for every alarm and recovery (exceptions are logged, not raised)."""
        self._callbacks = (*self._callbacks, callback)

    def unsubscribe(self, callback: AlarmCallback) -> None:
        self._callbacks = tuple(c for c in self._callbacks if c is not callback)

    @property
    def span_processor(self) -> SpanEventSink | None:
        """The span-event sink among this monitor's sinks (a span processor), if it has one."""
        return next((c for c in self._callbacks if isinstance(c, SpanEventSink)), None)

    def attach_spans(self, tracer_provider: Any = None) -> bool:
        """Let alarms raised off the request path reach a span: registers `span_processor` with
        `tracer_provider` (default: the global one) so parked alarms join the next span of their
        stream. Idempotent per provider; False when there is no sink or the provider takes no
        processors (the API's no-op provider)."""
        sink = self.span_processor
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        add = getattr(provider, "add_span_processor", None)
        if sink is None or add is None:
            return False
        with self._lock:
            if any(p is provider for p in self._span_providers):
                return True
            self._span_providers.append(provider)
        add(sink)
        return True

    def state(self) -> dict[str, Any]:
        """Per stream: calls seen, open alarms, and each detector's baseline and status."""
        with self._lock:
            return {
                key.label(): {
                    "key": key.as_dict(),
                    "calls": stream.n,
                    "open_alarms": {s: d for s, (_, d) in stream.open.items()},
                    "signals": {signal: det.state() for signal, det in stream.detectors.items()},
                }
                for key, stream in self._streams.items()
            }

    def snapshot(self) -> dict[str, Any]:
        """JSON-able detector state, so a restarted process keeps its baselines."""
        with self._lock:
            return {
                "version": 1,
                "streams": [
                    {
                        "key": key.as_dict(),
                        "n": stream.n,
                        "open": {s: list(v) for s, v in stream.open.items()},
                        "detectors": {signal: det.snapshot() for signal, det in stream.detectors.items()},
                    }
                    for key, stream in self._streams.items()
                ],
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Load a `snapshot()`; unknown versions raise ValueError, nothing half-loaded. Past
        `max_streams`, the least recently seen streams are left out (counted as evicted)."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported drift snapshot version {data.get('version')!r}")
        streams: OrderedDict[StreamKey, _Stream] = OrderedDict()
        # the tag values with streams of their own keep them (see `_admit`), whoever calls first now
        admitted: dict[str, set[str]] = {}
        # oldest first, as `snapshot` lists them: past the cap (a smaller max_streams now), the oldest go
        items = data["streams"]
        evicted = max(0, len(items) - self.config.max_streams)
        for item in items[evicted:]:
            k = item["key"]
            for name, value in k["extra"].items():
                if value != _OTHER:
                    admitted.setdefault(name, set()).add(value)
            parts = (k["provider"], k["model"], k.get("operation", "chat"), tuple(sorted(k["extra"].items())))
            key = self._keys.setdefault(parts, StreamKey(*parts))  # the object `key_for` gives its calls
            stream = _Stream(self._names)
            stream.n = int(item["n"])
            stream.open = {s: (float(v[0]), str(v[1])) for s, v in item.get("open", {}).items()} or _NO_ALARMS
            for signal, snap in item["detectors"].items():
                self._detector(stream, signal).restore(snap)
            # last seen when its detectors last had a value (each is given the value's time): so the live
            # count, and with it each stream's share of the fleet budget, is the one before the restart
            stream.seen = max((float(s["t"]) for s in item["detectors"].values() if s.get("t") is not None),
                              default=-math.inf)  # fmt: skip
            streams[key] = stream
        with self._lock:
            self._streams = streams
            self.evicted_streams += evicted
            self._dimension_values = admitted
            self._recount_at = -math.inf  # count at the next value, not up to a minute later

    # --- internals ----------------------------------------------------------------------------------
    def _detector(self, stream: _Stream, signal: str) -> Any:
        """`stream`'s detector of `signal`, made now if it has none."""
        column = self._columns.get(signal)
        if column is None:
            column = self._columns[signal] = len(self._names)
            self._names.append(signal)
        dets = stream.dets
        if column >= len(dets):
            stream.dets = dets = dets + [None] * (column + 1 - len(dets))  # exactly as long (no spare room)
        detector = dets[column]
        if detector is None:
            detector = dets[column] = self._new_detector(signal)
        return detector

    def _new_detector(self, signal: str) -> Any:
        overrides = dict(self.config.detector_overrides.get(signal, {}))
        overrides.setdefault("fa_per_100k", self._per_stream_budget())
        return make_detector(signal, **overrides)

    def budget(self) -> dict[str, Any]:
        """The false-alarm budget as applied now: scope, live streams, each stream's share."""
        with self._lock:
            return {
                "scope": self.config.budget_scope,
                "false_alarms_per_100k": self.config.false_alarms_per_100k,
                "live_streams": self._live,
                "per_stream_false_alarms_per_100k": self._per_stream_budget(),
            }

    def _per_stream_budget(self) -> float:
        return self.config.false_alarms_per_100k / (1 << self._level)

    def _stream(self, key: StreamKey, now: float) -> _Stream:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(self._names)
            if len(self._streams) > self.config.max_streams:
                self._streams.popitem(last=False)
                self.evicted_streams += 1
            self._recount_at = -math.inf  # a new stream: count again now
        else:
            self._streams.move_to_end(key)
        stream.seen = now
        if self._fleet_budget:
            if now >= self._recount_at:
                self._recount(now)
            if stream.level != self._level:
                self._recalibrate(stream)
        return stream

    def _recount(self, now: float) -> None:
        """Count live streams (most recent first, stopping at the first stale one) and set the level.

        Runs when a stream appears and otherwise at most every 1/60 of ``live_window_s``; a level
        change is applied lazily, to each stream at its next value, so no update pays for the fleet.
        """
        horizon = now - self.config.live_window_s
        live = 0
        for stream in reversed(self._streams.values()):
            if stream.seen < horizon:
                break
            live += 1
        self._live = live
        self._level = max(0, math.ceil(math.log2(live))) if live > 1 else 0
        self._recount_at = now + self.config.live_window_s / 60

    def _recalibrate(self, stream: _Stream) -> None:
        budget = self._per_stream_budget()
        for signal, detector in zip(self._names, stream.dets, strict=False):  # dets: up to its last column
            if detector is not None and "fa_per_100k" not in self.config.detector_overrides.get(signal, {}):
                detector.set_fa_rate(budget)
        stream.level = self._level

    def _admit(self, name: str, value: str) -> str:
        seen = self._dimension_values.setdefault(name, set())
        if value in seen:
            return value
        if len(seen) >= self.config.max_values_per_dimension:
            return _OTHER
        seen.add(value)
        return value

    def _update(self, key: StreamKey, signal: str, value: float, now: float) -> Alarm | None:
        return self._update_stream(self._stream(key, now), key, signal, value, now)

    def _update_stream(self, stream: _Stream, key: StreamKey, signal: str, value: float, now: float) -> Alarm | None:
        detector = self._detector(stream, signal)
        if signal == "error":
            stream.n += 1
        verdict: Verdict | None = detector.update(value, now)
        if verdict is None:
            return None
        return self._verdict_alarm(stream, key, signal, verdict, now)

    def _verdict_alarm(self, stream: _Stream, key: StreamKey, signal: str, verdict: Verdict, now: float) -> Alarm:
        """Open or close the stream's alarm on `signal` after a verdict, and explain it."""
        was_open = signal in stream.open
        if verdict.kind == "alarm":
            stream.open = {**stream.open, signal: (now, verdict.direction)}
        elif not verdict.in_alarm and was_open:
            stream.open = {s: v for s, v in stream.open.items() if s != signal} or _NO_ALARMS
        return self._alarm(key, signal, verdict, now, back_to_baseline=was_open and not verdict.in_alarm)

    def _peers_moving(self, key: StreamKey, signal: str, direction: str, now: float) -> tuple[int, int]:
        """(streams with an open alarm on `signal` in `direction` recently, streams watching `signal`)."""
        moving = watching = 0
        column = self._columns.get(signal)
        for other_key, other in self._streams.items():
            if other_key.operation != key.operation or column is None or column >= len(other.dets):
                continue
            if other.dets[column] is None:
                continue
            watching += 1
            opened = other.open.get(signal)
            if opened is not None and opened[1] == direction and now - opened[0] <= self.config.peer_window_s:
                moving += 1
        return moving, watching

    def _alarm(self, key: StreamKey, signal: str, verdict: Verdict, now: float, back_to_baseline: bool) -> Alarm:
        """`back_to_baseline`: a recovery that closes an open alarm (else it is improvement evidence)."""
        reference = verdict.reference if verdict.kind == "recovered" and verdict.reference is not None else None
        before = _stats(reference or verdict.before)
        after = _stats(verdict.after)
        shift = False
        kind = "recovered" if back_to_baseline else ("improved" if verdict.kind == "recovered" else "alarm")
        text = explain(kind, signal, key.label(), verdict.direction, before, after)
        if verdict.kind == "alarm":
            moving, watching = self._peers_moving(key, signal, verdict.direction, now)
            if watching >= self.config.peer_min_streams and moving / watching >= self.config.peer_fraction:
                shift = True
                text += (
                    f"; {moving} of {watching} streams moved the same way at once, so this looks like a "
                    "traffic shift rather than this provider regressing"
                )
        self.alarms_raised += 1
        return Alarm(
            kind=verdict.kind,
            stream_key=key.as_dict(),
            signal=signal,
            direction=verdict.direction,
            detector=verdict.detector,
            parameters=dict(verdict.params),
            detected_at=datetime.fromtimestamp(now, tz=timezone.utc),
            change_index=verdict.change_index,
            calls_since_change=(verdict.index - verdict.change_index) if verdict.change_index is not None else None,
            before=before,
            after=after,
            effect_size=verdict.effect_size,
            severity="info" if verdict.kind == "recovered" else severity(signal, before, after),
            traffic_shift=shift,
            explanation=text,
        )

    def _change_alarm(self, key: StreamKey, kind: str, before: str, after: str, now: float) -> Alarm:
        what = {
            "model_mismatch": f"{key.label()} answered with model {after!r} instead of the requested {before!r}",
            "fingerprint_changed": f"system fingerprint of {key.label()} changed from {before} to {after}",
            "shape_changed": f"response shape of {key.label()} changed: fields removed {before}, added {after}",
        }[kind]
        return Alarm(
            kind="change", stream_key=key.as_dict(), signal=kind, direction="changed", detector="change_tracker",
            detected_at=datetime.fromtimestamp(now, tz=timezone.utc), severity="info", explanation=what,
        )  # fmt: skip

    def _dispatch(self, alarm: Alarm) -> None:
        for callback in self._callbacks:
            try:
                callback(alarm)
            except Exception:
                self.callback_errors += 1
                log.warning("routewatch drift callback %r failed", callback, exc_info=True)


_CALL_SIGNALS = frozenset(
    ("error", "rate_limited", "server_error", "latency", "ttft", "tpot", "tokens_per_s", "output_tokens", "cost")
)


def _call_signals(call: CallRecord) -> list[tuple[str, float]]:
    """The signals of `signals_of` that come from the call itself (the rest are quality verdicts)."""
    ok = call.ok
    values = [("error", 0.0 if ok else 1.0), ("rate_limited", 1.0 if call.rate_limited else 0.0),
              ("server_error", 1.0 if call.server_error else 0.0)]  # fmt: skip
    if ok:
        append = values.append
        # A stream the app stopped reading early ran only as long as the app wanted: its duration,
        # output tokens and cost are those of a part, which read as a faster, cheaper provider.
        # Its time to first chunk and pace are whole measurements, and are kept.
        whole = call.stream_completed is not False
        latency = call.duration_s
        if latency is not None and whole:  # unknown (a span with no end time), never a 0-second call
            append(("latency", latency))
        ttft = call.time_to_first_chunk_s
        if ttft is not None:
            append(("ttft", ttft))
        intervals = call.chunk_intervals_s
        if intervals:
            append(("tpot", sum(intervals) / len(intervals)))
        tokens_per_s = call.output_tokens_per_s
        if tokens_per_s is not None:
            append(("tokens_per_s", tokens_per_s))
        if not whole:
            return values
        output_tokens = call.usage.output_tokens
        if output_tokens is not None:
            append(("output_tokens", float(output_tokens)))
        cost = call.cost_usd
        if cost is not None and cost > 0:
            append(("cost", cost))
    return values


def _stats(summary: Any) -> SignalStats | None:
    if summary is None:
        return None
    return SignalStats(n=int(summary.n), mean=summary.mean, p50=summary.p50, p95=summary.p95, p99=summary.p99)
