"""CallMetrics on the OTel SDK: the cost and the unpriced-call count, summed per series and observed
at collection, export the sums a Counter would."""

from __future__ import annotations

import os
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Counter, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

import routewatch.metrics as metrics_module
from factories import exit_code_in_forked_child, held_by_another_thread, make_record
from routewatch.metrics import CallMetrics

COST = "routewatch.client.cost"


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        point
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def _costs(reader: InMemoryMetricReader) -> dict[Any, float]:
    return {tuple(sorted(p.attributes.items())): p.value for p in _points(reader, COST)}


def _by_model(reader: InMemoryMetricReader) -> dict[str, float]:
    return {dict(k)["gen_ai.request.model"]: v for k, v in _costs(reader).items()}


def test_costs_sum_per_series_as_a_counter_sums_them() -> None:
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    metrics.record(make_record(cost_usd=0.25))
    metrics.record(make_record(cost_usd=0.5))
    metrics.record(make_record(cost_usd=1.0, request_model="gpt-4o"))
    metrics.record(make_record(cost_usd=0.0, request_model="free"))  # priced at zero: a 0 point, as add(0)
    metrics.record(make_record(cost_usd=None, priced=False, request_model="unpriced"))
    metrics.record(make_record(cost_usd=None, priced=False, request_model="unpriced"))
    metrics.record(make_record(cost_usd=None, priced=False, request_model="failed", error_type="500"))
    (unpriced,) = _points(reader, "routewatch.client.unpriced_calls")
    assert (unpriced.value, unpriced.attributes["gen_ai.request.model"]) == (2, "unpriced")
    assert _by_model(reader) == {"gpt-4o-mini": 0.75, "gpt-4o": 1.0, "free": 0.0}
    (point,) = [p for p in _points(reader, COST) if p.attributes["gen_ai.request.model"] == "gpt-4o"]
    assert dict(point.attributes) == metrics.attributes(make_record(request_model="gpt-4o"))
    metrics.record(make_record(cost_usd=0.25))
    assert _by_model(reader)["gpt-4o-mini"] == 1.0  # cumulative


def test_delta_readers_get_each_interval_s_cost() -> None:
    delta = {Counter: AggregationTemporality.DELTA, ObservableCounter: AggregationTemporality.DELTA}
    reader = InMemoryMetricReader(preferred_temporality=delta)
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    metrics.record(make_record(cost_usd=0.5))
    assert list(_costs(reader).values()) == [0.5]
    metrics.record(make_record(cost_usd=0.25))
    assert list(_costs(reader).values()) == [0.25]


def test_tags_split_series_and_collapse_past_their_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "_MAX_VALUES_PER_TAG", 1)
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    for tenant in ("a", "b", "c"):
        metrics.record(make_record(cost_usd=1.0, tags=(("tenant", tenant), ("user", tenant))))
    tenants = {dict(k)["routewatch.tag.tenant"]: v for k, v in _costs(reader).items()}
    assert tenants == {"a": 1.0, "_other": 2.0}


def test_past_the_series_limit_costs_go_to_the_overflow_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "_MAX_SERIES", 2)
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    for model in ("m1", "m2", "m3", "m4"):
        metrics.record(make_record(cost_usd=1.0, request_model=model))
    costs = {dict(k).get("gen_ai.request.model", "overflow"): v for k, v in _costs(reader).items()}
    assert costs == {"m1": 1.0, "m2": 1.0, "overflow": 2.0}
    metrics.record(make_record(cost_usd=None, priced=False, request_model="m5"))
    (unpriced,) = _points(reader, "routewatch.client.unpriced_calls")
    assert (unpriced.value, dict(unpriced.attributes)) == (1, {"otel.metric.overflow": True})
    assert len(_points(reader, "gen_ai.client.operation.duration")) == 5  # the SDK's own limit is higher


def test_both_chunk_modes_share_one_set_of_instruments() -> None:
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    stream = make_record(stream=True, time_to_first_chunk_s=0.1, chunk_intervals_s=(0.01, 0.03), cost_usd=1.0)
    metrics.sink(False)(stream)
    metrics.sink(True)(stream)
    (tpoc,) = _points(reader, "gen_ai.client.operation.time_per_output_chunk")
    assert (tpoc.count, tpoc.sum) == (3, pytest.approx(0.02 + 0.04))
    assert list(_costs(reader).values()) == [2.0]


PARSE_ERRORS = "routewatch.instrumentation.errors"


def test_a_call_that_got_no_response_is_not_a_response_routewatch_could_not_parse(telemetry) -> None:
    """Connection refused (a provider outage, a wrong port): there was no body to parse, so the
    count of unparseable responses, which points at routewatch, does not move; the error does."""
    import socket

    import httpx

    import routewatch

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    routewatch.uninstrument()
    routewatch.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        providers={f"http://127.0.0.1:{port}/v1": "openai"},
    )
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert telemetry.only_span().attributes["error.type"] == "ConnectError"
    assert sum(p.value for p in telemetry.metric_points(PARSE_ERRORS)) == 0


def test_an_unparseable_response_is_counted() -> None:
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    metrics.record(make_record(response={"parsed": False}))
    metrics.record(make_record(status_code=None, error_type="ConnectError", response={"parsed": False}))
    assert [p.value for p in _points(reader, PARSE_ERRORS)] == [1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_while_the_tag_guard_is_held_can_still_admit_tag_values() -> None:
    """The worker admits a new tenant value (under the guard's lock) at the moment of fork: the
    child, which has no such worker, must not find that lock held for good."""
    guard = metrics_module._CardinalityGuard(100)
    with held_by_another_thread(guard._lock):
        code = exit_code_in_forked_child(lambda: 0 if guard.admit("tenant", "acme") == "acme" else 2)
    assert code == 0


def test_a_call_of_unknown_duration_records_no_duration_point_but_its_tokens() -> None:
    """A record read from a span with no usable end time has no duration: no 0-second point."""
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    metrics.record(make_record(duration_s=None))
    assert _points(reader, "gen_ai.client.operation.duration") == []
    assert sum(p.sum for p in _points(reader, "gen_ai.client.token.usage")) == 30
    metrics.record(make_record(duration_s=0.5))
    (duration,) = _points(reader, "gen_ai.client.operation.duration")
    assert (duration.count, duration.sum) == (1, 0.5)
