"""The health feed: /api/health and /api/alarms documents, and the SSE stream's contract
(snapshot first, then numbered alarm/state events, heartbeats, Last-Event-ID, bounded subscribers)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

from outputs_support import calls, fast_monitor, regression

from routewatch.collector.feed import EventHub, sse_event
from routewatch.collector.outputs import Outputs, OutputsConfig, Request
from routewatch.router.remote import parse_sse


def feed(outputs: Outputs, records) -> None:
    for record in records:
        outputs.monitor.record(record)
        outputs.observe(record)


def get_json(outputs: Outputs, target: str) -> dict:
    response = outputs.handle(Request.of("GET", target))
    assert response is not None and response.status == 200 and response.content_type == "application/json"
    assert isinstance(response.body, bytes)
    return json.loads(response.body)


class Reader:
    """Reads an SSE body iterator on a thread, so a test can wait for events with a timeout."""

    def __init__(self, body: Iterator[bytes]) -> None:
        self.events: queue.Queue[tuple[str, str, str | None]] = queue.Queue()
        self.raw: list[bytes] = []
        self._body = body
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        def lines() -> Iterator[str]:
            for chunk in self._body:
                self.raw.append(chunk)
                yield from chunk.decode().splitlines(keepends=False) + ([""] if chunk.endswith(b"\n\n") else [])

        for name, data, event_id, _ in parse_sse(lines()):
            if name != "retry":
                self.events.put((name, data, event_id))

    def next(self, timeout_s: float = 5.0) -> tuple[str, dict, str | None]:
        name, data, event_id = self.events.get(timeout=timeout_s)
        return name, json.loads(data), event_id


def test_health_lists_streams_with_state_baseline_current_and_open_alarms() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, regression())
    feed(outputs, calls(100, median_s=2.0, provider="anthropic", model="claude-x", seed=5))
    doc = get_json(outputs, "/api/health")
    first = doc["streams"][0]  # the troubled stream sorts first
    assert first["label"] == "openai/gpt-4o-mini" and first["state"] == "degraded"
    latency = first["signals"]["latency"]
    assert latency["in_alarm"] is True
    assert latency["current"]["p50"] > 2 * latency["baseline"]["p50"]
    assert first["open_alarms"][0]["explanation"].startswith("p95 latency of openai/gpt-4o-mini rose")
    assert first["calls_observed"] == 900
    other = doc["streams"][1]
    assert other["state"] == "healthy" and other["signals"]["latency"]["baseline"] is None  # still warming up
    assert other["signals"]["latency"]["phase"] == "warm_up"
    assert {a["signal"] for a in doc["open_alarms"]} >= {"latency"}
    assert doc["fleet"]["openai/gpt-4o-mini"]["state"] == "degraded"
    assert doc["last_event_id"] >= 2  # alarm + state events so far
    assert doc["collector"] is None  # not inside a collector: no ingest figures, rather than zeros


def test_alarms_lists_recent_alarms_newest_first_and_validates_limit() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, regression())
    alarms = get_json(outputs, "/api/alarms?limit=1")["alarms"]
    assert len(alarms) == 1 and alarms[0]["event"] == "alarm"
    response = outputs.handle(Request.of("GET", "/api/alarms?limit=x"))
    assert response is not None and response.status == 400


def test_stream_starts_with_a_snapshot_then_numbered_alarm_and_state_events() -> None:
    outputs = Outputs(fast_monitor())
    response = outputs.handle(Request.of("GET", "/api/health/stream"))
    assert response is not None and response.content_type.startswith("text/event-stream")
    assert not isinstance(response.body, bytes)
    reader = Reader(response.body)
    name, snapshot, snap_id = reader.next()
    assert name == "snapshot" and snapshot["streams"] == [] and snap_id == "0"
    feed(outputs, regression())
    name, alarm, first_id = reader.next()
    assert name == "alarm" and alarm["signal"] in ("latency", "ttft") and alarm["event"] == "alarm"
    names = [reader.next()[0] for _ in range(2)]
    assert "state" in names  # the fleet moved healthy -> degraded
    assert int(first_id or 0) == 1
    outputs.close()


def test_last_event_id_replays_what_was_missed_before_the_snapshot() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, regression())
    total = outputs.hub.last_id
    assert total >= 3
    response = outputs.handle(Request.of("GET", "/api/health/stream", {"Last-Event-ID": "1"}))
    reader = Reader(response.body)  # type: ignore[arg-type]
    replayed = [reader.next() for _ in range(total - 1)]
    assert [int(e[2] or 0) for e in replayed] == list(range(2, total + 1))
    name, snapshot, snap_id = reader.next()
    assert name == "snapshot" and int(snap_id or 0) == total
    assert snapshot["open_alarms"]
    outputs.close()


def test_idle_streams_get_heartbeats_and_end_when_the_hub_closes() -> None:
    outputs = Outputs(fast_monitor(), OutputsConfig(sse_heartbeat_s=0.05))
    body = outputs.feed.stream()
    chunks = [next(body) for _ in range(4)]  # retry, snapshot, then heartbeats
    assert chunks[0].startswith(b"retry:") and b"event: snapshot" in chunks[1]
    assert chunks[2] == chunks[3] == b": heartbeat\n\n"
    outputs.hub.close()
    assert list(body) in ([], [b": heartbeat\n\n"])


def test_a_subscriber_that_falls_behind_is_cut_off_not_buffered() -> None:
    hub = EventHub(subscriber_queue=4)
    sub = hub.subscribe()
    assert sub is not None
    for i in range(10):
        hub.publish("alarm", {"i": i})
    assert sub.closed and hub.lagging_disconnects == 1 and hub.subscriber_count == 0
    assert hub.since(5) is not None and [e.id for e in hub.since(5) or []] == [6, 7, 8, 9, 10]


def test_subscribers_are_capped_and_old_ids_fall_out_of_the_replay_buffer() -> None:
    hub = EventHub(replay=3, max_subscribers=1)
    assert hub.subscribe() is not None and hub.subscribe() is None
    for i in range(5):
        hub.publish("state", {"i": i})
    assert hub.since(1) is None  # events 2 and 3 are gone: the client must resync from a snapshot
    assert [e.id for e in hub.since(2) or []] == [3, 4, 5]


def test_sse_events_split_multiline_data() -> None:
    assert sse_event("alarm", "a\nb", 7) == b"id: 7\nevent: alarm\ndata: a\ndata: b\n\n"


def test_past_the_subscriber_cap_the_stream_answers_503_with_retry_after() -> None:
    outputs = Outputs(fast_monitor(), OutputsConfig(max_sse_clients=1))
    first = outputs.handle(Request.of("GET", "/api/health/stream"))
    assert first is not None and not isinstance(first.body, bytes)
    next(first.body)  # the generator subscribes when it starts
    busy = outputs.handle(Request.of("GET", "/api/health/stream"))
    assert busy is not None and busy.status == 503 and busy.headers["retry-after"] == "5"
    first.body.close()  # type: ignore[attr-defined]
    assert outputs.hub.subscriber_count == 0
