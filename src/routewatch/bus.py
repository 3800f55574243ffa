"""SignalBus: finishes calls and hands them to metrics and listeners on one worker thread.

The caller's thread only appends to a C-implemented queue (about a microsecond). Two kinds of work
arrive: finished `CallRecord`s (delivered to sinks and listeners; dropped and counted when the queue
is full) and *completions*, the rest of a call's work (parse the body, build its record, end its
span), which are never dropped: with the queue full they run on the caller's thread instead, so no
span is ever left open. Listener errors are logged and counted, never raised. The worker starts
lazily, is re-created after `fork()`, and is drained at interpreter exit.

The worker gives the GIL away between the stages of a call's completion (`pause`): an app thread
whose response just arrived then waits for one stage (tens of microseconds), not for the whole
completion. Without it, the app thread that sent a request and came back for the GIL waited for all
of the worker's work on the previous call, which put that work back on the app's wall time.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from .records import CallRecord

__all__ = ["SignalBus", "add_listener", "bus", "flush", "remove_listener"]

log = logging.getLogger("routewatch")

Listener = Callable[[CallRecord], Any]
Completion = Callable[[], "CallRecord | None"]
_STOP = object()
_sched_yield: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


class SignalBus:
    """A bounded, drop-on-overflow queue of work items drained by one daemon thread."""

    def __init__(self, max_queue: int = 10_000) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be positive")
        self.max_queue = max_queue
        self.dropped = 0
        self.listener_errors = 0
        #: Completions that raised (a routewatch failure, not a listener's); also in `listener_errors`.
        self.completion_errors = 0
        self.inline_completions = 0
        self._atexit_registered = False
        self._listeners: tuple[Listener, ...] = ()
        self._sinks: tuple[Callable[[CallRecord], None], ...] = ()
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """A fresh queue, no worker, and a fresh lock: after `fork()` the child has none of the
        parent's threads, and a lock one of them held (starting the worker, adding a listener)
        would stay held forever, so the child's first call would wait on it."""
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._worker_id: int | None = None

    # --- registration ---------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        with self._lock:
            if fn not in self._listeners:
                self._listeners = (*self._listeners, fn)

    def remove_listener(self, fn: Listener) -> None:
        with self._lock:
            self._listeners = tuple(f for f in self._listeners if f is not fn and f != fn)

    def set_sinks(self, sinks: tuple[Callable[[CallRecord], None], ...]) -> None:
        """Internal consumers (metrics) that run before listeners; replaced on (un)instrument."""
        self._sinks = sinks

    # --- hot path ---------------------------------------------------------------------------------
    def publish(self, record: CallRecord) -> None:
        """Never blocks, never raises."""
        if not self._sinks and not self._listeners:
            return
        q = self._queue
        if q.qsize() >= self.max_queue:
            self.dropped += 1
            return
        q.put(record)
        if self._thread is None:
            self._start()

    def complete(self, completion: Completion) -> None:
        """Run `completion()` on the worker (or right here when the queue is full), then deliver the
        record it returns. Never blocks, never raises."""
        q = self._queue
        if q.qsize() >= self.max_queue:
            self.inline_completions += 1
            self._run_completion(completion, deliver=False)
            return
        q.put(completion)
        if self._thread is None:
            self._start()

    # --- worker -------------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="routewatch-signal-bus", daemon=True)
                thread.start()
                self._thread = thread
                if not self._atexit_registered:
                    # Registered now, after the app set up its OpenTelemetry providers, so it runs
                    # before their own exit handlers flush the spans this worker ends.
                    atexit.register(self.flush, 2.0)
                    self._atexit_registered = True

    def pause(self) -> None:
        """On the worker, let any thread that waits for the GIL have it (`sched_yield` with the GIL
        released); elsewhere, nothing. About a microsecond when nobody waits."""
        if threading.get_ident() == self._worker_id:
            _sched_yield()

    def _run(self) -> None:
        self._worker_id = threading.get_ident()
        q = self._queue
        while True:
            item = q.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, CallRecord):
                self._deliver(item)
            else:
                self._run_completion(item, deliver=True)

    def _run_completion(self, completion: Completion, deliver: bool) -> None:
        try:
            record = completion()
        except Exception:
            self.listener_errors += 1
            self.completion_errors += 1
            log.warning("routewatch: finishing a call failed; the app was not affected", exc_info=True)
            return
        if record is None:
            return
        if deliver:
            self.pause()
            self._deliver(record)
        else:
            self.publish(record)

    def _deliver(self, record: CallRecord) -> None:
        for fn in (*self._sinks, *self._listeners):
            try:
                fn(record)
                self.pause()
            except Exception:
                self.listener_errors += 1
                log.warning(
                    "routewatch listener %r failed; the call record was still delivered to the others",
                    fn,
                    exc_info=True,
                )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything published so far has been delivered. True if it was in time."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)


bus = SignalBus()


def add_listener(fn: Listener) -> None:
    """Deliver every finished provider call (a `CallRecord`) to `fn`, on routewatch's worker thread."""
    bus.add_listener(fn)


def remove_listener(fn: Listener) -> None:
    bus.remove_listener(fn)


def flush(timeout: float = 5.0) -> bool:
    """Block until queued call records reached metrics and listeners (tests, shutdown)."""
    return bus.flush(timeout)
