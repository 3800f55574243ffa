"""/metrics: the collector's state in Prometheus' format, read at scrape time, names as agreed."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from outputs_support import calls, fast_monitor, regression
from prometheus_client.parser import text_string_to_metric_families

from routewatch.collector.outputs import Outputs, OutputsConfig, Request
from routewatch.collector.prometheus import IngestCounters


def scrape(outputs: Outputs, accept: str | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = outputs.handle(Request.of("GET", "/metrics", {"accept": accept} if accept else None))
    assert response is not None and response.status == 200
    assert isinstance(response.body, bytes)
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]
    assert len(found) <= 1, found
    return found[0] if found else None


def feed(outputs: Outputs, records) -> None:
    for record in records:
        outputs.monitor.record(record)
        outputs.observe(record)


def test_an_open_alarm_shows_as_active_1_and_is_counted() -> None:
    outputs = Outputs(fast_monitor())
    before = scrape(outputs)
    assert before.get("routewatch_drift_alarm_active", []) == []  # nothing has alarmed: no series
    feed(outputs, regression())
    samples = scrape(outputs)
    labels = dict(provider="openai", model="gpt-4o-mini", operation="chat", signal="latency")
    assert value(samples, "routewatch_drift_alarm_active", **labels) == 1.0
    active = [lab for lab, _ in samples["routewatch_drift_alarm_active"] if lab["signal"] == "latency"]
    assert set(active[0]) == {"provider", "model", "operation", "signal", "severity"}
    total = value(samples, "routewatch_drift_alarms_total", kind="alarm", direction="up", **labels, severity="critical")
    assert total is not None and total >= 1


def test_the_alarm_goes_back_to_0_on_recovery() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, regression())
    feed(outputs, calls(1000, median_s=0.5, start=900, seed=3))
    samples = scrape(outputs)
    assert value(samples, "routewatch_drift_alarm_active", signal="latency") == 0.0
    assert value(samples, "routewatch_drift_alarms_total", signal="latency", kind="recovered") >= 1


def test_per_stream_calls_errors_baseline_and_current() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, calls(400, median_s=0.5, error_every=10))
    samples = scrape(outputs)
    stream = dict(provider="openai", model="gpt-4o-mini", operation="chat")
    assert value(samples, "routewatch_stream_calls_total", **stream) == 400
    assert value(samples, "routewatch_stream_errors_total", **stream) == 40
    base_p95 = value(samples, "routewatch_stream_baseline", **stream, signal="latency", stat="p95")
    now_p95 = value(samples, "routewatch_stream_current", **stream, signal="latency", stat="p95")
    assert base_p95 is not None and 0.5 < base_p95 < 1.5
    assert now_p95 is not None and 0.5 < now_p95 < 1.5
    assert value(samples, "routewatch_stream_current", **stream, signal="error", stat="mean") == 0.1
    assert value(samples, "routewatch_stream_current", **stream, signal="error", stat="p95") is None  # a rate
    assert value(samples, "routewatch_fleet_target_state", provider="openai", model="gpt-4o-mini",
                 state="healthy") == 1.0  # fmt: skip
    assert value(samples, "routewatch_fleet_target_state", provider="openai", model="gpt-4o-mini",
                 state="ejected") == 0.0  # fmt: skip


def test_the_open_alarm_keeps_the_pre_change_baseline_and_the_fleet_says_degraded() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, regression())
    samples = scrape(outputs)
    stream = dict(provider="openai", model="gpt-4o-mini", operation="chat", signal="latency")
    base = value(samples, "routewatch_stream_baseline", **stream, stat="p50")
    now = value(samples, "routewatch_stream_current", **stream, stat="p50")
    assert base is not None and now is not None and now > 2 * base  # 0.5 s before, 1.5 s now
    states = {lab["state"]: v for lab, v in samples["routewatch_fleet_target_state"]}
    assert states["healthy"] == 0.0 and sum(states.values()) == 1.0


def test_ingest_counters_are_read_at_scrape_time() -> None:
    counters = IngestCounters(spans_received={"grpc": 10, "http": 5}, spans_accepted=12, spans_skipped=3,
                              spans_dropped={"queue_full": 2}, requests_rejected={("http", "malformed"): 1},
                              queue_depth=4, queue_capacity=1000, spans_without_duration=6)  # fmt: skip
    outputs = Outputs(fast_monitor(), ingest=lambda: counters)
    samples = scrape(outputs)
    assert value(samples, "routewatch_collector_spans_received_total", protocol="grpc") == 10
    assert value(samples, "routewatch_collector_spans_accepted_total") == 12
    assert value(samples, "routewatch_collector_spans_skipped_total") == 3
    assert value(samples, "routewatch_collector_spans_without_duration_total") == 6
    assert value(samples, "routewatch_collector_spans_dropped_total", reason="queue_full") == 2
    assert value(samples, "routewatch_collector_spans_dropped_total", reason="convert_error") == 0
    assert value(samples, "routewatch_collector_requests_rejected_total", protocol="http", reason="malformed") == 1
    assert value(samples, "routewatch_collector_queue_depth") == 4
    assert value(samples, "routewatch_collector_queue_capacity") == 1000
    counters.spans_accepted = 20
    assert value(scrape(outputs), "routewatch_collector_spans_accepted_total") == 20


def test_label_cardinality_is_capped() -> None:
    outputs = Outputs(fast_monitor(), OutputsConfig(max_exported_streams=3))
    for i in range(10):
        feed(outputs, calls(5, median_s=0.5, model=f"model-{i}", seed=i))
    samples = scrape(outputs)
    models = {lab["model"] for lab, _ in samples["routewatch_stream_calls_total"]}
    assert len(models) == 3
    assert {lab["model"] for lab, _ in samples["routewatch_stream_current"]} <= models
    assert value(samples, "routewatch_collector_streams_not_exported") == 7


def test_streams_split_by_a_dimension_are_summed_not_duplicated() -> None:
    outputs = Outputs(fast_monitor(dimensions=("tenant",)))
    feed(outputs, calls(30, median_s=0.5, tags=(("tenant", "a"),)))
    feed(outputs, calls(20, median_s=0.5, tags=(("tenant", "b"),), seed=2))
    samples = scrape(outputs)  # the parser rejects nothing, but duplicates would show as two samples
    assert value(samples, "routewatch_stream_calls_total", model="gpt-4o-mini") == 50
    assert value(samples, "routewatch_stream_current", model="gpt-4o-mini", signal="latency", stat="p50") is None


def test_openmetrics_is_served_when_asked_for() -> None:
    outputs = Outputs(fast_monitor())
    response = outputs.handle(Request.of("GET", "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}))
    assert response is not None and response.content_type.startswith("application/openmetrics-text")
    assert isinstance(response.body, bytes) and response.body.rstrip().endswith(b"# EOF")


def test_a_real_collector_serves_it_over_http_with_the_token() -> None:
    import httpx
    from outputs_support import TOKEN, collector_config, inject_regression

    from routewatch.collector import Collector

    with Collector(collector_config()) as collector:
        inject_regression(collector)
        url = collector.http_url + "/metrics"
        assert httpx.get(url).status_code == 401  # private unless made public
        response = httpx.get(url, headers={"authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        samples: dict = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        assert value(samples, "routewatch_drift_alarm_active", provider="openai", model="gpt-4o-mini",
                     operation="chat", signal="latency") == 1.0  # fmt: skip
        assert value(samples, "routewatch_collector_spans_received_total", protocol="http/protobuf") == 900
        assert value(samples, "routewatch_collector_spans_accepted_total") == 900
        assert value(samples, "routewatch_collector_queue_capacity") == collector.config.queue_capacity
        assert value(samples, "routewatch_fleet_target_state", model="gpt-4o-mini", state="degraded") == 1.0


@pytest.mark.requires_tool("promtool")
def test_prometheus_own_linter_accepts_the_exposition() -> None:
    outputs = Outputs(fast_monitor())
    feed(outputs, regression())
    feed(outputs, calls(30, median_s=0.5, tags=(("tenant", "a"),)))
    response = outputs.handle(Request.of("GET", "/metrics"))
    assert response is not None and isinstance(response.body, bytes)
    assert b"routewatch_drift_alarm_active" in response.body
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    lint = subprocess.run([promtool, "check", "metrics"], input=response.body.decode(), capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_alarm_tally_folds_new_label_sets_past_its_cap() -> None:
    from datetime import datetime, timezone

    from routewatch.collector.prometheus import AlarmTally
    from routewatch.drift import Alarm

    tally = AlarmTally(max_series=2)
    for model in ("a", "b", "c", "d"):
        tally(Alarm(stream_key={"provider": "p", "model": model, "operation": "chat", "extra": {}}, signal="error",
                    direction="up", detector="d", detected_at=datetime.now(timezone.utc), explanation="x"))  # fmt: skip
    counts = tally.counts()
    assert len(counts) == 3 and sum(counts.values()) == 4
    assert counts[("_other", "_other", "chat", "error", "up", "alarm", "warning")] == 2
