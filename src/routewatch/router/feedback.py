"""The feedback hook: drift alarms and hard failures move targets in any router.

How a router plugs in (the `Demotable` protocol)::

    class MyRouter:
        def routewatch_targets(self):
            # (name, provider, model, groups): one row per deployment the router chooses between;
            # provider/model as routewatch names them (the stream key of the drift monitor);
            # groups are the task classes that must keep a share of their targets in rotation.
            return [("gpt-a", "openai", "gpt-4o-mini", ("chat",)), ("claude", "anthropic", "claude-x", ("chat",))]

        def apply_health(self, name, health):
            # Called with the target's new ledger line (state, weight_factor, reason, ...) whenever
            # it changed. Route no ordinary traffic where health.weight_factor == 0; scale weights
            # by it otherwise. Must be quick and must not call back into routewatch.
            self.weights[name] = self.base[name] * health.weight_factor

    attachment = routewatch.attach(monitor, MyRouter())
    ...
    attachment.detach()

A router that owns a `HealthBook` as ``.health`` (``routewatch.Router``) is driven directly and
reads weights from its book. For any other router `attach` builds the book, feeds it the monitor's
alarms and the calls routewatch observes (``CallRecord``s from the signal bus, matched to a target
by provider and model when exactly one target serves them), and runs a small daemon ticker for
time-driven moves (ejections ending, ramps growing). Nothing here raises into the monitor or the
app: failures are logged and counted in ``Attachment.errors``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from ..drift.alarm import Alarm, StreamKey
from ..records import CallRecord
from .health import HealthBook, HealthPolicy, TargetHealth, TargetState
from .probes import PROBE_TAG, ProbeFn, SyntheticProber

__all__ = ["Attachment", "Demotable", "attach"]

log = logging.getLogger("routewatch.router")

_WEIGHT_STEP = 0.01  # smaller weight moves (a ramp between ticks) are pushed on the next tick


@runtime_checkable
class Demotable(Protocol):
    """A router routewatch can demote and restore targets in (see the module docstring)."""

    def routewatch_targets(self) -> Iterable[tuple[str, str, str, tuple[str, ...]]]:
        """(name, provider, model, groups) for every target the router chooses between."""
        ...

    def apply_health(self, name: str, health: TargetHealth) -> None:
        """Take the target's new health (state, weight factor, reason) into account."""
        ...


class Attachment:
    """A monitor wired to a router's health; `detach()` undoes it (idempotent)."""

    def __init__(
        self,
        monitor: Any,
        health: HealthBook,
        *,
        router: Any = None,
        push: Callable[[str, TargetHealth], None] | None = None,
        results_from_bus: bool = True,
        tick_interval_s: float | None = 1.0,
        on_detach: Callable[[], Any] | None = None,
        prober: SyntheticProber | None = None,
    ) -> None:
        self.monitor = monitor
        self.prober = prober
        self.health = health
        self.router = router
        self.errors = 0
        self.integration: Any = None  # e.g. the LiteLLMFeedback behind this attachment
        self._on_detach = on_detach
        self._push = push
        self._pushed: dict[str, TargetHealth] = {}
        self._push_lock = threading.RLock()  # held by each push and by detach's clean-up (see `detach`)
        self._stop = threading.Event()
        self._detached = False
        self._thread: threading.Thread | None = None
        monitor.subscribe(self._on_alarm)
        self._listening = results_from_bus
        if results_from_bus:
            from ..bus import add_listener

            add_listener(self._on_call)
        self.sync()
        if tick_interval_s is not None and tick_interval_s > 0:
            self._thread = threading.Thread(
                target=self._run, args=(tick_interval_s,), name="routewatch-health-ticker", daemon=True
            )
            self._thread.start()

    @property
    def attached(self) -> bool:
        return not self._detached

    # --- inputs -------------------------------------------------------------------------------------
    def on_result(self, name: str, **result: Any) -> None:
        """Report one call's outcome (see `HealthBook.on_result`); never raises."""
        if self._detached:
            return
        try:
            before = self.health.state(name)
        except KeyError:
            return  # not a target of this router
        try:
            self.health.on_result(name, **result)
            if before is TargetState.HEALTHY and self.health.state(name) is TargetState.HEALTHY:
                return  # the common case: a healthy target's ledger line cannot have changed
        except Exception:
            self.errors += 1
            log.warning("routewatch: health feedback failed", exc_info=True)
            return
        self.sync()

    def tick(self) -> None:
        """Time-driven moves now, and synthetic probes when due (the ticker does this every
        `tick_interval_s`); never raises."""
        self._guard(self.health.tick)
        if self.prober is not None and not self._detached:
            self.prober.tick(self.health, self.on_result)

    def sync(self, *, force: bool = False) -> None:
        """Push every ledger line that changed since the last push (all of them with `force`)."""
        if self._push is None or self._detached:
            return
        with self._push_lock:
            for name, health in self.health.status().items():
                if self._detached:
                    return  # detach's clean-up restored the router's own settings: push nothing over them
                last = self._pushed.get(name)
                if last is not None and not force and not _differs(last, health):
                    continue
                self._pushed[name] = health
                try:
                    self._push(name, health)
                except Exception:
                    self.errors += 1
                    log.warning("routewatch: router rejected the health of %s", name, exc_info=True)

    def detach(self, timeout_s: float = 2.0) -> None:
        """Stop feeding the router: unsubscribe from the monitor and the bus, stop the ticker."""
        if self._detached:
            return
        self._detached = True
        self._stop.set()
        if self.prober is not None:
            self.prober.stop()
        try:
            self.monitor.unsubscribe(self._on_alarm)
        except Exception:
            log.warning("routewatch: could not unsubscribe from the monitor", exc_info=True)
        if self._listening:
            from ..bus import remove_listener

            remove_listener(self._on_call)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        if self._on_detach is not None:
            # Under the push lock: a push another thread is making lands before the clean-up, not over it.
            with self._push_lock:
                try:
                    self._on_detach()
                except Exception:
                    log.warning("routewatch: detach clean-up failed", exc_info=True)

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # --- internals ----------------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], Any]) -> None:
        if self._detached:
            return
        try:
            fn()
        except Exception:
            self.errors += 1
            log.warning("routewatch: health feedback failed", exc_info=True)
            return
        self.sync()

    def _on_alarm(self, alarm: Alarm) -> None:
        self._guard(lambda: self.health.on_alarm(alarm))

    def _on_call(self, call: CallRecord) -> None:
        model = call.request_model or call.response_model
        if model is None or call.tag(PROBE_TAG) is not None:
            return  # a synthetic probe's call is reported by the prober itself
        names = self.health.targets_for_key(StreamKey(call.provider, model))
        if len(names) != 1:
            return  # unknown, or ambiguous (several deployments of one model): report with on_result
        self.on_result(
            names[0], ok=call.ok, status_code=call.status_code, error_type=call.error_type, latency_s=call.duration_s
        )

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.tick()


def _differs(old: TargetHealth, new: TargetHealth) -> bool:
    return (
        old.state is not new.state
        or old.reason != new.reason
        or old.open_alarms != new.open_alarms
        or old.next_probe_at != new.next_probe_at
        or abs(old.weight_factor - new.weight_factor) >= _WEIGHT_STEP
        or (new.weight_factor in (0.0, 1.0) and old.weight_factor != new.weight_factor)
    )


def attach(
    monitor: Any,
    router: Any,
    *,
    policy: HealthPolicy | None = None,
    clock: Callable[[], float] | None = None,
    meter_provider: Any = None,
    results_from_bus: bool = True,
    tick_interval_s: float | None = 1.0,
    probe: ProbeFn | SyntheticProber | None = None,
) -> Attachment:
    """Let `monitor`'s alarms (and observed call failures) demote and restore targets in `router`.

    `router` has ``.health`` (a `HealthBook`, e.g. ``routewatch.Router``: `policy` belongs in its
    own configuration then), or is a ``litellm.Router`` (see `routewatch.integrations.litellm`), or
    implements `Demotable`. ``tick_interval_s=None`` runs no ticker (call ``Attachment.tick()``
    yourself); ``clock`` and ``meter_provider`` go to a built book. `probe`: a function
    ``probe(target)`` (or a configured `SyntheticProber`) that sends a probe when no real request
    took a due one (see `routewatch.router.probes`).
    """
    prober = _prober(probe)
    if not callable(getattr(monitor, "subscribe", None)) or not callable(getattr(monitor, "unsubscribe", None)):
        raise TypeError(f"attach needs a DriftMonitor (subscribe/unsubscribe), got {type(monitor).__name__}")
    if type(router).__module__.startswith("litellm."):
        from ..integrations.litellm import attach_litellm, is_litellm_router

        if is_litellm_router(router):
            feedback = attach_litellm(router, monitor, policy=policy, clock=clock, meter_provider=meter_provider,
                                      tick_interval_s=tick_interval_s, probe=prober)  # fmt: skip
            return feedback.attachment
    book = getattr(router, "health", None)
    if isinstance(book, HealthBook):
        if policy is not None:
            raise ValueError("this router has its own HealthBook: set the health policy in the router's config")
        return Attachment(monitor, book, router=router, results_from_bus=False, tick_interval_s=tick_interval_s,
                          prober=prober)  # fmt: skip
    if not isinstance(router, Demotable):
        raise TypeError(
            f"{type(router).__name__} is neither a routewatch Router (.health) nor Demotable "
            "(routewatch_targets() and apply_health(name, health))"
        )
    options: dict[str, Any] = {"meter_provider": meter_provider}
    if clock is not None:
        options["clock"] = clock
    book = HealthBook(policy, **options)
    for row in router.routewatch_targets():
        name, provider, model, groups = row
        book.add_target(name, provider=provider, model=model, groups=tuple(groups))
    return Attachment(
        monitor,
        book,
        router=router,
        push=router.apply_health,
        results_from_bus=results_from_bus,
        tick_interval_s=tick_interval_s,
        prober=prober,
    )


def _prober(probe: ProbeFn | SyntheticProber | None) -> SyntheticProber | None:
    if probe is None or isinstance(probe, SyntheticProber):
        return probe
    return SyntheticProber(probe)
