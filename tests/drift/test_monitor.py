"""DriftMonitor: raw values and CallRecords in, explained alarms and recoveries out."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from factories import make_record
from routewatch.drift import Alarm, DriftMonitor, MonitorConfig, SpanEventSink, StreamKey, WebhookSink
from routewatch.drift.detectors import SIGNALS

FAST = {"warm_up": 300}
CONFIG = MonitorConfig(detector_overrides={s: FAST for s in ("latency", "error", "score", "ttft")})


def lognormal_latency(rng: random.Random, median: float, n: int) -> list[float]:
    return [median * rng.lognormvariate(0, 0.4) for _ in range(n)]


def feed(monitor: DriftMonitor, key, signal: str, values: list[float]) -> list[Alarm]:
    alarms: list[Alarm] = []
    for i, value in enumerate(values):
        alarms += monitor.observe(key, signal, value, timestamp=1_700_000_000 + i)
    return alarms


def test_latency_doubling_raises_one_explained_alarm() -> None:
    rng = random.Random(1)
    monitor = DriftMonitor(CONFIG, sinks=[])
    key = ("anthropic", "claude-haiku-4-5")
    assert feed(monitor, key, "latency", lognormal_latency(rng, 1.8, 600)) == []
    alarms = feed(monitor, key, "latency", lognormal_latency(rng, 3.6, 300))
    assert len(alarms) >= 1
    alarm = alarms[0]
    assert (alarm.kind, alarm.signal, alarm.direction) == ("alarm", "latency", "up")
    assert alarm.stream_key["provider"] == "anthropic"
    assert alarm.before.p95 < alarm.after.p95
    assert alarm.explanation.startswith("p95 latency of anthropic/claude-haiku-4-5 rose from")
    assert "over the last" in alarm.explanation
    assert alarm.calls_since_change is not None and alarm.calls_since_change < 300
    json.loads(alarm.model_dump_json())  # leaves the process as JSON


def test_recovery_closes_the_alarm_with_a_recovered_event() -> None:
    rng = random.Random(2)
    monitor = DriftMonitor(CONFIG, sinks=[])
    key = ("openai", "gpt-4o-mini")
    feed(monitor, key, "latency", lognormal_latency(rng, 0.5, 600))
    raised = [a for a in feed(monitor, key, "latency", lognormal_latency(rng, 1.5, 300)) if a.kind == "alarm"]
    assert raised
    assert monitor.state()["openai/gpt-4o-mini"]["open_alarms"] == {"latency": "up"}
    after = feed(monitor, key, "latency", lognormal_latency(rng, 0.5, 1500))
    assert [a.kind for a in after][-1:] == ["recovered"]
    assert "back at its baseline" in after[-1].explanation
    assert monitor.state()["openai/gpt-4o-mini"]["open_alarms"] == {}
    # "back at its baseline" names the pre-alarm baseline, not the alarmed level it came down from
    baseline, alarmed = raised[0].before.p95, raised[0].after.p95
    assert abs(after[-1].before.p95 - baseline) < 0.25 * baseline < abs(after[-1].before.p95 - alarmed)


def test_a_rate_s_recovery_names_the_pre_alarm_rate() -> None:
    """A rate that goes back during the alarm's cooldown (the common case for a short outage)
    closes the alarm: its sentence compares with the rate before the alarm, not the outage's rate."""
    rng = random.Random(4)
    monitor = DriftMonitor(CONFIG, sinks=[])
    key = ("openai", "gpt-4o-mini")
    feed(monitor, key, "error", [float(rng.random() < 0.01) for _ in range(3000)])
    raised = [
        a for a in feed(monitor, key, "error", [float(rng.random() < 0.6) for _ in range(60)]) if a.kind == "alarm"
    ]
    assert raised
    after = feed(monitor, key, "error", [float(rng.random() < 0.01) for _ in range(3000)])
    closing = [a for a in after if a.kind == "recovered" and "back at its baseline" in a.explanation]
    assert closing and monitor.state()["openai/gpt-4o-mini"]["open_alarms"] == {}
    assert closing[0].before is not None and closing[0].before.mean < 0.05  # the 1 % before, not the 60 %


def test_unit_free_milliseconds_and_seconds_agree() -> None:
    def indices(scale: float) -> list[int]:
        rng = random.Random(3)
        monitor = DriftMonitor(CONFIG, sinks=[])
        values = [v * scale for v in lognormal_latency(rng, 0.8, 600) + lognormal_latency(rng, 1.6, 300)]
        return [a.change_index for a in feed(monitor, ("p", "m"), "latency", values)]

    assert indices(1.0) == indices(1000.0)


def test_unknown_signal_and_bad_key_are_rejected() -> None:
    monitor = DriftMonitor(sinks=[])
    with pytest.raises(ValueError, match="unknown signal"):
        monitor.observe(("p", "m"), "vibes", 1.0)
    with pytest.raises(ValueError, match="stream key"):
        monitor.observe("p/m", "latency", 1.0)  # type: ignore[arg-type]


def test_record_fans_a_call_out_to_its_signals() -> None:
    monitor = DriftMonitor(sinks=[])
    monitor.record(make_record(stream=True, time_to_first_chunk_s=0.2, chunk_intervals_s=(0.01, 0.02)))
    signals = set(monitor.state()["openai/gpt-4o-mini"]["signals"])
    assert {"error", "rate_limited", "server_error", "latency", "ttft", "tpot", "output_tokens"} <= signals
    assert {"refusal", "truncated", "empty"} <= signals


def test_failed_calls_feed_error_signals_not_latency() -> None:
    monitor = DriftMonitor(sinks=[])
    monitor.record(make_record(error_type="overloaded_error", status_code=529))
    signals = set(monitor.state()["openai/gpt-4o-mini"]["signals"])
    assert "latency" not in signals and {"error", "server_error"} <= signals


def test_a_call_of_unknown_duration_feeds_no_latency() -> None:
    """A call whose span had no usable end time has `duration_s` None: its other signals count, but no
    latency (a 0 would sit below every real value on the log scale and look like a drift)."""
    call = make_record(duration_s=None, output_tokens_per_s=None)
    signals = dict(DriftMonitor.signals_of(call))
    assert "latency" not in signals and signals["error"] == 0.0 and signals["output_tokens"] == 20
    monitor = DriftMonitor(sinks=[])
    monitor.record(call)
    state = monitor.state()["openai/gpt-4o-mini"]
    assert state["calls"] == 1 and "latency" not in state["signals"]


def test_a_stream_the_app_stopped_reading_feeds_its_pace_but_not_its_length() -> None:
    """A chat UI's "stop" ends a stream after as long as the user wanted: its duration, tokens and
    cost would read as a faster, cheaper provider. Its first chunk and its pace are whole."""
    stopped = make_record(
        stream=True, stream_completed=False, duration_s=0.3, time_to_first_chunk_s=0.2,
        chunk_intervals_s=(0.01, 0.02), cost_usd=0.00002,
    )  # fmt: skip
    signals = dict(DriftMonitor.signals_of(stopped))
    assert signals["ttft"] == 0.2 and signals["tpot"] == 0.015 and signals["error"] == 0.0
    assert "tokens_per_s" in signals
    assert not {"latency", "output_tokens", "cost", "truncated", "empty"} & set(signals)
    whole = dict(DriftMonitor.signals_of(replace(stopped, stream_completed=True)))
    assert {"latency", "output_tokens", "cost", "truncated"} <= set(whole)


def test_model_substitution_is_reported_as_a_change_event() -> None:
    seen: list[Alarm] = []
    monitor = DriftMonitor(sinks=[seen.append])
    monitor.record(make_record(response_model="gpt-3.5-turbo"))
    (event,) = seen
    assert event.kind == "change" and event.signal == "model_mismatch"
    assert "instead of the requested" in event.explanation


def test_all_streams_moving_together_is_flagged_as_a_traffic_shift() -> None:
    rng = random.Random(4)
    monitor = DriftMonitor(CONFIG, sinks=[])
    keys = [("openai", "a"), ("anthropic", "b"), ("gcp.gemini", "c")]
    for key in keys:
        feed(monitor, key, "latency", lognormal_latency(rng, 1.0, 600))
    alarms: list[Alarm] = []
    for _ in range(300):  # everyone slows down together, interleaved
        for key in keys:
            alarms += monitor.observe(key, "latency", 2.5 * rng.lognormvariate(0, 0.4))
    first = [a for a in alarms if a.kind == "alarm"]
    assert len(first) == 3
    assert first[-1].traffic_shift is True
    assert "traffic shift" in first[-1].explanation


def test_snapshot_and_restore_keep_baselines() -> None:
    rng = random.Random(5)
    original = DriftMonitor(CONFIG, sinks=[])
    feed(original, ("p", "m"), "latency", lognormal_latency(rng, 1.0, 600))
    restored = DriftMonitor(CONFIG, sinks=[])
    restored.restore(json.loads(json.dumps(original.snapshot())))
    tail = lognormal_latency(rng, 2.0, 200)
    assert [a.change_index for a in feed(original, ("p", "m"), "latency", tail)] == [
        a.change_index for a in feed(restored, ("p", "m"), "latency", tail)
    ]
    with pytest.raises(ValueError, match="version"):
        restored.restore({"version": 99})


def test_stream_keys_are_capped() -> None:
    monitor = DriftMonitor(MonitorConfig(max_streams=5), sinks=[])
    for i in range(20):
        monitor.observe((f"p{i}", "m"), "error", 0.0)
    assert len(monitor.state()) == 5 and monitor.evicted_streams == 15


def test_a_restore_keeps_the_cap_on_stream_keys() -> None:
    """A snapshot from a monitor with room for more streams (a collector restarted with a lower
    max_streams, to save memory) keeps the most recently seen ones: the cap holds from then on."""
    original = DriftMonitor(MonitorConfig(max_streams=10), sinks=[])
    for i in range(10):
        original.observe((f"p{i}", "m"), "error", 0.0, timestamp=float(i))
    restored = DriftMonitor(MonitorConfig(max_streams=4), sinks=[])
    restored.restore(json.loads(json.dumps(original.snapshot())))
    assert list(restored.state()) == ["p6/m", "p7/m", "p8/m", "p9/m"] and restored.evicted_streams == 6
    for i in range(10, 13):
        restored.observe((f"p{i}", "m"), "error", 0.0, timestamp=float(i))
    assert list(restored.state()) == ["p9/m", "p10/m", "p11/m", "p12/m"] and restored.evicted_streams == 9


def test_dimensions_split_streams_by_tag() -> None:
    monitor = DriftMonitor(MonitorConfig(dimensions=("tenant",)), sinks=[])
    monitor.record(make_record(tags=(("tenant", "acme"),)))
    monitor.record(make_record(tags=(("tenant", "globex"),)))
    assert sorted(monitor.state()) == [
        "openai/gpt-4o-mini [tenant=acme]",
        "openai/gpt-4o-mini [tenant=globex]",
    ]


def test_a_restored_stream_split_by_several_dimensions_is_the_one_live_calls_reach() -> None:
    config = MonitorConfig(dimensions=("tenant", "route"))  # not in sorted order
    original = DriftMonitor(config, sinks=[])
    call = make_record(tags=(("route", "r1"), ("tenant", "acme")))
    for _ in range(30):
        original.record(call)
    restored = DriftMonitor(config, sinks=[])
    restored.restore(json.loads(json.dumps(original.snapshot())))
    restored.record(call)
    assert list(restored.state()) == ["openai/gpt-4o-mini [route=r1, tenant=acme]"]
    assert restored.key_for(call) == original.key_for(call)


def test_a_restored_monitor_keeps_which_tag_values_have_streams_of_their_own() -> None:
    """Tag values past the cap share the '_other' stream; after a restore the values that had streams
    keep them, whichever tenant calls first (else an early newcomer takes a slot, and a tenant whose
    baseline was restored is sent to '_other' while its own stream waits unused)."""
    config = MonitorConfig(dimensions=("tenant",), max_values_per_dimension=2)
    original = DriftMonitor(config, sinks=[])
    for tenant in ("acme", "globex", "initech"):  # initech is past the cap
        original.record(make_record(tags=(("tenant", tenant),)))
    labels = sorted(original.state())
    assert labels == [f"openai/gpt-4o-mini [tenant={t}]" for t in ("_other", "acme", "globex")]
    restored = DriftMonitor(config, sinks=[])
    restored.restore(json.loads(json.dumps(original.snapshot())))
    for tenant in ("initech", "hooli", "globex", "acme"):  # newcomers first
        call = make_record(tags=(("tenant", tenant),))
        assert restored.key_for(call) == original.key_for(call)
        restored.record(call)
    assert sorted(restored.state()) == labels


def test_scores_by_response_id_and_a_failing_callback_is_contained() -> None:
    def broken(alarm: Alarm) -> None:
        raise RuntimeError("boom")

    monitor = DriftMonitor(sinks=[broken])
    monitor.record(make_record(response_id="resp_42"))
    monitor.record_score(1.0, response_id="resp_42")
    assert "score" in monitor.state()["openai/gpt-4o-mini"]["signals"]
    with pytest.raises(KeyError):
        monitor.record_score(1.0, response_id="never-seen")
    monitor.record(make_record(response_model="other-model"))  # a change event reaches the broken sink
    assert monitor.callback_errors == 1


def test_default_sinks_count_log_and_add_a_span_event(caplog: pytest.LogCaptureFixture) -> None:
    reader = InMemoryMetricReader()
    monitor = DriftMonitor(meter_provider=MeterProvider(metric_readers=[reader]))
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("request") as span, caplog.at_level("INFO", logger="routewatch.drift"):
        monitor.record(make_record(response_model="other-model"))
    assert [e.name for e in span.events] == ["routewatch.drift.alarm"]
    assert "instead of the requested" in caplog.text
    points = [
        p
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "routewatch.drift.alarms"
        for p in m.data.data_points
    ]
    assert sum(p.value for p in points) == 1


def test_webhook_sink_posts_json_and_retries() -> None:
    received: list[dict] = []
    failures = [1]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if failures[0]:
                failures[0] -= 1
                self.send_response(500)
            else:
                received.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink = WebhookSink(f"http://127.0.0.1:{server.server_port}/hook", backoff_s=0.01)
        DriftMonitor(sinks=[sink]).record(make_record(response_model="other-model"))
        sink.close(timeout_s=10)
    finally:
        server.shutdown()
    assert len(received) == 1 and received[0]["kind"] == "change"
    assert sink.sent == 1 and sink.failed == 0


def test_stream_key_accepts_tuples() -> None:
    assert StreamKey.of(("openai", "gpt-4o")) == StreamKey("openai", "gpt-4o", "chat")
    assert StreamKey.of(("openai", "text-embedding-3", "embeddings")).operation == "embeddings"


def test_the_fleet_budget_is_shared_by_live_streams() -> None:
    monitor = DriftMonitor(MonitorConfig(false_alarms_per_100k=1.0, live_window_s=100.0), sinks=[])
    monitor.observe(("p0", "m"), "error", 0.0, timestamp=0.0)
    assert monitor.budget()["per_stream_false_alarms_per_100k"] == 1.0
    for i in range(1, 6):  # six live streams: each gets 1/8 (rounded up to a power of two)
        monitor.observe((f"p{i}", "m"), "error", 0.0, timestamp=float(i))
    budget = monitor.budget()
    assert budget["live_streams"] == 6 and budget["per_stream_false_alarms_per_100k"] == 0.125
    for i in range(6):  # applied lazily: each stream's detectors at its next value
        monitor.observe((f"p{i}", "m"), "error", 0.0, timestamp=10.0)
    assert {d.params["fa_per_100k"] for d in _detectors(monitor)} == {0.125}
    # five streams go quiet: past the live window only p0 counts, and its thresholds come back down
    monitor.observe(("p0", "m"), "error", 0.0, timestamp=500.0)
    assert monitor.budget()["live_streams"] == 1
    assert monitor._streams[StreamKey("p0", "m")].detectors["error"].params["fa_per_100k"] == 1.0


def test_fleet_recalibration_raises_thresholds_and_keeps_baselines() -> None:
    rng = random.Random(6)
    monitor = DriftMonitor(CONFIG, sinks=[])
    feed(monitor, ("p", "m"), "latency", lognormal_latency(rng, 1.0, 400))
    h_alone = monitor.state()["p/m"]["signals"]["latency"]["statistics"]["shift_up"][1]
    for i in range(15):
        monitor.observe((f"q{i}", "m"), "error", 0.0, timestamp=1_700_000_400)
    monitor.observe(("p", "m"), "latency", 1.0, timestamp=1_700_000_401)
    state = monitor.state()["p/m"]["signals"]["latency"]
    assert state["statistics"]["shift_up"][1] > h_alone + 2.0  # 16 streams: ~ +log(16) on the score scale
    assert state["phase"] == "watch"  # still watching its learnt baseline, not warming up again


def test_a_restored_fleet_keeps_each_streams_share_of_the_budget() -> None:
    """A restart must not hand every stream the whole fleet's budget: restored streams count as live as
    of their last value, so their thresholds after the restore are those they had before it (without
    that, each restored stream ran for a minute at 16x its share here, 2048x for 2,000 streams)."""
    rng = random.Random(7)
    keys = [(f"p{i}", "m") for i in range(16)]
    original = DriftMonitor(CONFIG, sinks=[])
    for t in range(400):
        for key in keys:
            original.observe(key, "latency", rng.lognormvariate(0, 0.4), timestamp=1_700_000_000 + t)
    restored = DriftMonitor(CONFIG, sinks=[])
    restored.restore(json.loads(json.dumps(original.snapshot())))
    for key in keys:  # a second later, well within a recount interval (a minute)
        x = rng.lognormvariate(0, 0.4)
        assert original.observe(key, "latency", x, timestamp=1_700_000_400) == []
        assert restored.observe(key, "latency", x, timestamp=1_700_000_400) == []
    assert restored.budget() == original.budget() and original.budget()["live_streams"] == 16
    assert {d.params["fa_per_100k"] for d in _detectors(restored)} == {1 / 16}
    # the same thresholds, and statistics to rounding (a recalibration brings lazy ones up to date)
    stats = [
        [v for s in m.state().values() for pair in s["signals"]["latency"]["statistics"].values() for v in pair]
        for m in (original, restored)
    ]
    assert stats[1] == pytest.approx(stats[0], rel=1e-12)


def test_stream_scope_and_explicit_overrides_keep_their_budget() -> None:
    monitor = DriftMonitor(MonitorConfig(budget_scope="stream"), sinks=[])
    pinned = DriftMonitor(MonitorConfig(detector_overrides={"error": {"fa_per_100k": 0.5}}), sinks=[])
    for i in range(8):
        monitor.observe((f"p{i}", "m"), "error", 0.0)
        pinned.observe((f"p{i}", "m"), "error", 0.0)
    assert {d.params["fa_per_100k"] for d in _detectors(monitor)} == {1.0}
    assert {d.params["fa_per_100k"] for d in _detectors(pinned)} == {0.5}


def _detectors(monitor: DriftMonitor) -> list:
    return [d for stream in monitor._streams.values() for d in stream.detectors.values()]


def test_alarms_raised_off_the_request_path_join_the_next_span_of_their_stream() -> None:
    provider = TracerProvider()
    monitor = DriftMonitor(sinks=[SpanEventSink()])
    assert monitor.attach_spans(provider) and monitor.attach_spans(provider)  # idempotent
    worker = threading.Thread(target=monitor.record, args=(make_record(response_model="other-model"),))
    worker.start()  # like the signal-bus worker: no span is current there
    worker.join(5)
    tracer = provider.get_tracer("t")
    attrs = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat"}
    with tracer.start_as_current_span("other", attributes={**attrs, "gen_ai.request.model": "gpt-4o"}) as other:
        pass
    with tracer.start_as_current_span("next", attributes={**attrs, "gen_ai.request.model": "gpt-4o-mini"}) as span:
        pass
    with tracer.start_as_current_span("after", attributes={**attrs, "gen_ai.request.model": "gpt-4o-mini"}) as after:
        pass
    assert other.events == () and after.events == ()  # another stream's span; delivered once only
    (event,) = span.events
    assert event.name == "routewatch.drift.alarm" and event.attributes["routewatch.alarm.deferred"] is True
    assert event.attributes["routewatch.alarm.signal"] == "model_mismatch"


def test_parked_alarms_are_bounded() -> None:
    sink = SpanEventSink(max_keys=2, max_pending=1)
    monitor = DriftMonitor(sinks=[sink])
    for model in ("a", "b", "c"):
        for response_model in ("x", "y"):  # two change events per stream, one kept
            monitor.record(make_record(request_model=model, response_model=response_model))
    assert sink.deferred == 6 and sink.deferred_dropped == 4


def test_seen_gives_the_key_and_watched_values_record_worked_out() -> None:
    monitor = DriftMonitor(MonitorConfig(signals=("latency", "error")), sinks=[])
    call = make_record(duration_s=0.5)
    monitor.record(call)
    key, values = monitor.seen(call)
    assert key is monitor.key_for(call)
    assert values == [(s, v) for s, v in DriftMonitor.signals_of(call) if s in ("latency", "error")]
    other = make_record(duration_s=0.7)  # not recorded: worked out afresh
    assert monitor.seen(other) == (monitor.key_for(other), [("error", 0.0), ("latency", 0.7)])


@pytest.mark.parametrize(
    "signals", [None, ("error", "latency"), tuple(sorted(SIGNALS - {"empty", "score"})), ("refusal", "cost", "error")]
)
def test_watched_values_are_the_call_signals_of_the_watched_signals_in_order(signals: tuple[str, ...] | None) -> None:
    monitor = DriftMonitor(MonitorConfig(signals=signals), sinks=[])
    for call in (make_record(duration_s=0.5), make_record(error_type="server_error", status_code=503)):
        _, values = monitor.seen(call)
        assert values == [(s, v) for s, v in DriftMonitor.signals_of(call) if signals is None or s in signals]
