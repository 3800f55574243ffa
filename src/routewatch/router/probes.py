"""`SyntheticProber`: probe calls of its own for targets that no real request probes.

A probing target is tested with real requests when the router hands them out (`HealthBook.take_probe`).
A router that never does (a LiteLLM sync path, a quiet task class, a balancer that ignores probes)
would leave the target waiting until the probing timeout ejects it again. Given a probe function, the
prober sends the due probe itself once it has been due for `after_s` with no request taking it:

    def probe(target: str) -> bool:                     # or `async def`; raising or False is a failure
        client = clients[target]
        client.chat.completions.create(model=models[target], messages=[{"role": "user", "content": "ping"}],
                                       max_tokens=1)
        return True

    routewatch.attach(monitor, router, probe=probe)

Probes run off the request path: `tick()` (the attachment's ticker) starts each in a daemon thread,
at most `max_concurrent` at once and one per target. An async function runs on a private event loop
in that thread (create its clients inside it). A probe still running after `timeout_s` is reported as
a timeout failure; its thread keeps its slot until it returns, so a hung target never piles up
threads. Nothing here raises: an exception that is the probe function's own bug (not a provider
error) is logged and counted in `errors`, and the probe counts as unanswered. The calls are tagged
``routewatch.probe=synthetic`` so the attachment does not count them twice from the signal bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..tags import tags_if_room
from .budget import classify_error
from .health import HealthBook, TargetState

__all__ = ["PROBE_TAG", "ProbeFn", "SyntheticProber"]

log = logging.getLogger("routewatch.router")

PROBE_TAG = "routewatch.probe"
ProbeFn = Callable[[str], Any]  # target name -> anything (False: failed), or an awaitable of it
Report = Callable[..., None]  # on_result(name, ok=..., status_code=..., error_type=..., latency_s=..., probe=True)


@dataclass
class _Flight:
    started: float  # time.monotonic()
    reported: bool = False


class SyntheticProber:
    """Sends due probes no request took, with `fn(target)`, on a bounded schedule."""

    def __init__(self, fn: ProbeFn, *, after_s: float = 10.0, timeout_s: float = 10.0, max_concurrent: int = 2) -> None:
        if not callable(fn):
            raise TypeError(f"a probe function is callable as fn(target), got {type(fn).__name__}")
        if after_s < 0 or timeout_s <= 0 or max_concurrent < 1:
            raise ValueError("after_s >= 0, timeout_s > 0 and max_concurrent >= 1 are required")
        self.fn = fn
        self.after_s = after_s
        self.timeout_s = timeout_s
        self.max_concurrent = max_concurrent
        self.sent = 0
        self.timed_out = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._stopped = False

    def tick(self, book: HealthBook, report: Report) -> list[str]:
        """Report probes past their timeout, then start a probe for every target whose probe has been due
        for `after_s` with no request taking it. Returns the targets probed now; never raises."""
        try:
            self._expire(report)
            return self._launch(book, report)
        except Exception:
            self.errors += 1
            log.warning("routewatch: synthetic probing failed", exc_info=True)
            return []

    def stop(self) -> None:
        """No new probes; results of the ones in flight are dropped."""
        with self._lock:
            self._stopped = True

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._flights)

    # --- internals ----------------------------------------------------------------------------------
    def _expire(self, report: Report) -> None:
        now = time.monotonic()
        late: list[str] = []
        with self._lock:
            for name, flight in self._flights.items():
                if not flight.reported and now - flight.started >= self.timeout_s:
                    flight.reported = True
                    late.append(name)
        for name in late:
            self.timed_out += 1
            report(name, ok=False, error_type="timeout", latency_s=self.timeout_s, probe=True)

    def _launch(self, book: HealthBook, report: Report) -> list[str]:
        now = book.now()
        started: list[str] = []
        for name, health in book.status().items():
            if health.state is not TargetState.PROBING or health.next_probe_at is None:
                continue
            if now < health.next_probe_at + self.after_s:
                continue  # still a real request's to take
            with self._lock:
                if self._stopped or name in self._flights or len(self._flights) >= self.max_concurrent:
                    continue
                if not book.take_probe(name):
                    continue
                self._flights[name] = _Flight(time.monotonic())
            self.sent += 1
            extra = {"routewatch_router": {"target": name, "probe": "synthetic"}}
            log.info("routewatch: synthetic probe of %s (no request took the probe due for %.0f s)", name,
                     now - health.next_probe_at, extra=extra)  # fmt: skip
            threading.Thread(target=self._run, args=(name, report), name="routewatch-probe", daemon=True).start()
            started.append(name)
        return started

    def _run(self, name: str, report: Report) -> None:
        began = time.perf_counter()
        result: dict[str, Any] = {}
        try:
            with _tagged():
                value = self.fn(name)
                if inspect.isawaitable(value):
                    value = asyncio.run(_bounded(value, self.timeout_s))
            result = {"ok": value is not False}
        except Exception as exc:
            failure = classify_error(exc)
            if failure.provider_error:
                result = {"ok": False, "status_code": failure.status_code, "error_type": failure.error_type}
            else:
                self.errors += 1
                log.warning("routewatch: the probe function failed on %s (not counted as the target's failure)",
                            name, exc_info=True)  # fmt: skip
        finally:
            with self._lock:
                flight = self._flights.pop(name, None)
                send = bool(result) and flight is not None and not flight.reported and not self._stopped
        if send:
            try:
                report(name, latency_s=time.perf_counter() - began, probe=True, **result)
            except Exception:
                self.errors += 1
                log.warning("routewatch: reporting a synthetic probe failed", exc_info=True)


async def _bounded(awaitable: Any, timeout_s: float) -> Any:
    return await asyncio.wait_for(awaitable, timeout_s)


def _tagged() -> contextlib.AbstractContextManager[None]:
    """Tag the probe's calls (so the bus listener leaves them to the prober), untagged if slots are full."""
    return tags_if_room(**{PROBE_TAG: "synthetic"})
