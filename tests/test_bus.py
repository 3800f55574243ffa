"""The signal bus never blocks or raises into the caller: it drops and counts on overflow, isolates
listener failures, and flush() waits for delivery."""

from __future__ import annotations

import os
import threading

import pytest

from factories import exit_code_in_forked_child, held_by_another_thread, make_record
from routewatch.bus import SignalBus

RECORDS = [make_record(response_id=f"r{i}") for i in range(100)]


def test_listeners_receive_records_in_order_after_flush() -> None:
    bus = SignalBus()
    seen: list[object] = []
    bus.add_listener(seen.append)
    for record in RECORDS:
        bus.publish(record)
    assert bus.flush(5)
    assert seen == RECORDS


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = SignalBus()
    seen: list[object] = []

    def broken(record: object) -> None:
        raise RuntimeError("boom")

    bus.add_listener(broken)
    bus.add_listener(seen.append)
    bus.publish(RECORDS[0])
    assert bus.flush(5)
    assert seen == [RECORDS[0]] and bus.listener_errors == 1
    assert "listener" in caplog.text


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    bus = SignalBus(max_queue=10)
    gate = threading.Event()
    bus.add_listener(lambda record: gate.wait(5))
    for record in RECORDS[:50]:
        bus.publish(record)
    assert bus.dropped >= 39  # the worker holds at most one record while the queue is full
    gate.set()
    assert bus.flush(5)


def test_remove_listener_stops_delivery() -> None:
    bus = SignalBus()
    seen: list[object] = []
    bus.add_listener(seen.append)
    bus.remove_listener(seen.append)
    bus.publish(RECORDS[0])
    assert bus.flush(5) and seen == []


def test_completions_run_on_the_worker_and_their_records_are_delivered() -> None:
    bus = SignalBus()
    seen: list[object] = []
    threads: list[str] = []
    bus.add_listener(seen.append)

    def completion():
        threads.append(threading.current_thread().name)
        return RECORDS[1]

    bus.complete(completion)
    assert bus.flush(5)
    assert seen == [RECORDS[1]] and threads == ["routewatch-signal-bus"]


def test_completions_are_never_dropped_a_full_queue_runs_them_inline() -> None:
    bus = SignalBus(max_queue=1)
    gate = threading.Event()
    bus.add_listener(lambda record: gate.wait(5))
    bus.publish(RECORDS[0])  # occupies the worker
    bus.publish(RECORDS[1])  # fills the queue
    ran: list[str] = []
    bus.complete(lambda: ran.append(threading.current_thread().name) or RECORDS[2])
    assert ran == [threading.current_thread().name] and bus.inline_completions == 1
    gate.set()
    assert bus.flush(5)


def test_bad_queue_size_is_rejected() -> None:
    with pytest.raises(ValueError):
        SignalBus(max_queue=0)


def test_the_worker_gives_the_gil_away_between_stages_and_other_threads_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between a completion and each consumer the worker yields (so a waiting app thread gets the GIL
    after one stage); `pause()` called on any other thread does nothing."""
    import routewatch.bus as bus_module

    yields: list[str] = []
    monkeypatch.setattr(bus_module, "_sched_yield", lambda: yields.append(threading.current_thread().name))
    bus = SignalBus()
    bus.pause()
    assert yields == []  # not the worker: no yield
    seen: list[object] = []
    bus.add_listener(seen.append)
    bus.add_listener(lambda record: None)

    def completion() -> object:
        bus.pause()  # a stage boundary inside the completion
        return RECORDS[0]

    bus.complete(completion)  # type: ignore[arg-type]
    assert bus.flush(5)
    assert seen == [RECORDS[0]]
    # one inside the completion, one before delivery, one after each of the two listeners
    assert yields == ["routewatch-signal-bus"] * 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_while_another_thread_holds_the_bus_lock_still_delivers() -> None:
    """Another thread is starting the worker or adding a listener (under the bus's lock) at the
    moment of fork: the child, which has no such thread, must still start its own worker."""
    bus = SignalBus()

    def child() -> int:
        seen: list[object] = []
        bus.add_listener(seen.append)
        bus.publish(RECORDS[0])
        return 0 if bus.flush(5) and seen == [RECORDS[0]] else 2

    with held_by_another_thread(bus._lock):
        code = exit_code_in_forked_child(child)
    assert code == 0, "the child deadlocked" if code is None else f"the child exited with {code}"
