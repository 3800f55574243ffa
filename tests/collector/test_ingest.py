"""The ingest queue between receivers and detectors: GenAI spans become records in arrival order,
everything is counted, a full queue refuses (or drops, if told to) instead of growing, and a
failing listener never stops the worker."""

from __future__ import annotations

import threading

import pytest
from ingest_support import Gate, export_request

from routewatch.collector.ingest import Ingest
from routewatch.drift import DriftMonitor


@pytest.fixture
def ingest():
    ingest = Ingest(DriftMonitor(sinks=[]), capacity=50)
    ingest.start()
    yield ingest
    ingest.stop(2)


def test_genai_spans_reach_the_monitor_and_listeners_and_the_rest_is_counted(ingest) -> None:
    seen = []
    ingest.add_listener(seen.append)
    outcome = ingest.accept(export_request(10, extra=4), "grpc")
    assert (outcome.accepted, outcome.rejected_spans, outcome.overloaded) == (10, 0, False)
    assert ingest.flush(5)
    stats = ingest.stats()
    assert stats.spans_received == {"grpc": 14}
    assert (stats.spans_accepted, stats.spans_skipped, stats.records_processed) == (10, 4, 10)
    assert (stats.queue_depth, stats.queue_capacity) == (0, 50)
    assert [r.usage.output_tokens for r in seen] == [20 + i % 5 for i in range(10)]
    (stream,) = ingest.monitor.state().values()
    assert stream["calls"] == 10


def test_spans_of_unknown_duration_are_accepted_and_counted(ingest, caplog) -> None:
    """A GenAI span with no end time is still a call (its error, tokens and cost count) but has no
    latency; how many came in is counted, and said in the log once in a while, not once a span."""
    request = export_request(4)
    for span in request.resource_spans[0].scope_spans[0].spans[:3]:
        span.end_time_unix_nano = 0
    with caplog.at_level("WARNING", logger="routewatch.collector"):
        assert ingest.accept(request, "grpc").accepted == 4
        assert ingest.accept(request.SerializeToString(), "grpc").accepted == 4
    assert ingest.flush(5)
    stats = ingest.stats()
    assert (stats.spans_accepted, stats.spans_without_duration) == (8, 6)
    warnings = [r for r in caplog.records if "no usable end time" in r.getMessage()]
    assert len(warnings) == 1
    (stream,) = ingest.monitor.state().values()
    assert stream["calls"] == 8


def test_full_queue_rejects_the_whole_request_so_the_client_can_retry() -> None:
    ingest = Ingest(DriftMonitor(sinks=[]), capacity=15)
    gate = Gate()
    ingest.add_listener(gate)
    ingest.start()
    try:
        assert ingest.accept(export_request(10), "grpc").accepted == 10
        assert gate.entered.wait(5)
        refused = ingest.accept(export_request(10), "grpc")  # 10 more do not fit beside the 10 in flight
        assert refused.overloaded and refused.accepted == 0
        assert ingest.accept(export_request(5), "http/json").accepted == 5  # these do
        assert ingest.full()
        assert ingest.accept(export_request(1), "grpc").overloaded
        stats = ingest.stats()
        assert stats.requests_rejected == {("grpc", "overloaded"): 2}
        assert stats.spans_received == {"grpc": 10, "http/json": 5}  # refused requests were not received
        assert stats.spans_dropped == {}
        gate.open()
        assert ingest.flush(5)
        assert ingest.stats().records_processed == 15
    finally:
        gate.open()
        ingest.stop(2)


def test_drop_policy_keeps_what_fits_and_reports_a_partial_success() -> None:
    ingest = Ingest(DriftMonitor(sinks=[]), capacity=8, overload="drop")
    gate = Gate()
    ingest.add_listener(gate)
    ingest.start()
    try:
        outcome = ingest.accept(export_request(12), "grpc")
        assert (outcome.accepted, outcome.rejected_spans) == (8, 4)
        assert "queue is full" in outcome.message
        stats = ingest.stats()
        assert stats.spans_dropped == {"queue_full": 4} and stats.spans_accepted == 8
        assert not ingest.full()  # the drop policy never refuses
    finally:
        gate.open()
        ingest.stop(2)


def test_a_request_bigger_than_the_whole_queue_is_not_retried_forever() -> None:
    ingest = Ingest(DriftMonitor(sinks=[]), capacity=5)
    outcome = ingest.accept(export_request(7), "grpc")
    assert (outcome.accepted, outcome.rejected_spans, outcome.overloaded) == (5, 2, False)


def test_a_failing_listener_is_counted_and_the_worker_carries_on(ingest) -> None:
    def broken(record):
        raise RuntimeError("listener bug")

    seen = []
    ingest.add_listener(broken)
    ingest.add_listener(seen.append)
    ingest.accept(export_request(3), "grpc")
    assert ingest.flush(5)
    assert len(seen) == 3 and ingest.stats().worker_errors == 3
    ingest.remove_listener(broken)
    ingest.accept(export_request(2), "grpc")
    assert ingest.flush(5) and ingest.stats().worker_errors == 3


def test_concurrent_producers_lose_nothing(ingest) -> None:
    ingest.capacity = 10_000
    requests = [export_request(20) for _ in range(4)]

    def produce(request):
        for _ in range(5):
            assert ingest.accept(request, "grpc").accepted == 20

    threads = [threading.Thread(target=produce, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert ingest.flush(10)
    assert ingest.stats().records_processed == ingest.stats().spans_accepted == 400


def test_stop_drains_what_is_queued() -> None:
    ingest = Ingest(DriftMonitor(sinks=[]), capacity=100)
    ingest.start()
    ingest.accept(export_request(30), "grpc")
    assert ingest.stop(5)
    assert ingest.stats().records_processed == 30


def test_bad_overload_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="overload"):
        Ingest(DriftMonitor(sinks=[]), overload="ignore")
