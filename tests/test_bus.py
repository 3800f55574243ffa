"""The signal bus never blocks or raises into the caller: it drops and counts on overflow, isolates
listener failures, and flush() waits for delivery."""

from __future__ import annotations

import threading

import pytest

from routewatch.bus import SignalBus


def test_listeners_receive_records_in_order_after_flush() -> None:
    bus = SignalBus()
    seen: list[object] = []
    bus.add_listener(seen.append)
    for i in range(100):
        bus.publish(i)  # type: ignore[arg-type]
    assert bus.flush(5)
    assert seen == list(range(100))


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = SignalBus()
    seen: list[object] = []

    def broken(record: object) -> None:
        raise RuntimeError("boom")

    bus.add_listener(broken)
    bus.add_listener(seen.append)
    bus.publish("r")  # type: ignore[arg-type]
    assert bus.flush(5)
    assert seen == ["r"] and bus.listener_errors == 1
    assert "listener" in caplog.text


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    bus = SignalBus(max_queue=10)
    gate = threading.Event()
    bus.add_listener(lambda record: gate.wait(5))
    for i in range(50):
        bus.publish(i)  # type: ignore[arg-type]
    assert bus.dropped >= 39  # the worker holds at most one record while the queue is full
    gate.set()
    assert bus.flush(5)


def test_remove_listener_stops_delivery() -> None:
    bus = SignalBus()
    seen: list[object] = []
    bus.add_listener(seen.append)
    bus.remove_listener(seen.append)
    bus.publish("r")  # type: ignore[arg-type]
    assert bus.flush(5) and seen == []


def test_bad_queue_size_is_rejected() -> None:
    with pytest.raises(ValueError):
        SignalBus(max_queue=0)
