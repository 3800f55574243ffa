"""The seam between the demo and the router: pick a target per request, report its outcome, show states.

`BookRouting` is the smallest router that plugs into routewatch (the `Demotable` protocol, wired
with `routewatch.attach`): a weighted choice by health, probes, one failover. `RouterRouting` drives
`routewatch.Router` itself; the demo uses it whenever the Router is installed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.sdk.trace import SpanProcessor

from .scenarios import Target

__all__ = ["BookRouting", "Routing", "Sent", "demo_policy", "make_routing"]


@dataclass(frozen=True, slots=True)
class Sent:
    """One request as the router handled it: the target that answered (or last failed), attempts, probe."""

    target: str
    ok: bool
    attempts: int
    probe: bool
    error: str | None = None


class Routing(Protocol):
    kind: str

    def send(self, call: Callable[[Target, Any], None]) -> Sent: ...

    def states(self) -> dict[str, tuple[str, float, str]]:
        """target -> (state, weight factor, reason)."""
        ...

    def subscribe(self, fn: Callable[[Any], None]) -> None:
        """`fn(transition)` on every state change (objects with target, old, new, reason, at)."""
        ...

    def close(self) -> None: ...


def demo_policy(duration_s: float) -> Any:
    """The router's health policy with the demo's time compression: seconds where production uses minutes."""
    from ..router.health import HealthPolicy

    unit = duration_s / 60.0
    return HealthPolicy(
        # A demoted provider keeps a trickle of traffic, so its recovery shows within the run.
        min_weight=0.25,
        warning_penalty=0.7,
        critical_penalty=0.85,
        reference_effect=0.5,
        min_dwell_s=2.0 * unit,
        rearm_s=5.0 * unit,
        base_ejection_s=2.0 * unit,
        max_ejection_s=10.0 * unit,
        # A target stays ejected until the monitor closes its critical alarm, and the monitor sees an
        # ejected target only through its probes: enough of them to close a quality alarm in seconds.
        probe_budget=50,
        probe_interval_s=0.05 * unit,
        probe_timeout_s=5.0,
        ramp_s=3.0 * unit,
        shift_confirm_s=0.5 * unit,
        eject_after_degraded_s=None,
    )


class BookRouting:
    """A weighted balancer that implements `Demotable`, wired to the monitor with `routewatch.attach`.

    Ordinary traffic is a weighted random choice by each target's health weight (0 while ejected
    or probing); probes go out when the book says one is due; a failed call fails over once.
    """

    kind = "routewatch.attach (weighted balancer)"

    def __init__(self, targets: tuple[Target, ...], monitor: Any, policy: Any, seed: int) -> None:
        from ..router.feedback import attach

        self.targets = {t.name: t for t in targets}
        self.weights = {t.name: 1.0 for t in targets}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # Outcomes are reported here, with the probe flag, rather than picked up from the signal bus.
        self.attachment = attach(monitor, self, policy=policy, results_from_bus=False, tick_interval_s=0.1)
        self.book = self.attachment.health

    # --- Demotable ----------------------------------------------------------------------------------
    def routewatch_targets(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        return [(t.name, t.provider, t.model, ("demo",)) for t in self.targets.values()]

    def apply_health(self, name: str, health: Any) -> None:
        self.weights[name] = float(health.weight_factor)

    # --- routing ------------------------------------------------------------------------------------
    def _choose(self, exclude: frozenset[str] = frozenset()) -> tuple[str | None, bool]:
        for name in self.targets:
            if name not in exclude and self.book.take_probe(name):
                return name, True
        names = [n for n in self.targets if n not in exclude and self.weights[n] > 0]
        if not names:
            return None, False
        with self._lock:
            return self._rng.choices(names, [self.weights[n] for n in names])[0], False

    def send(self, call: Callable[[Target, Any], None]) -> Sent:
        tried: set[str] = set()
        last: Sent | None = None
        for attempt in (1, 2):
            name, probe = self._choose(frozenset(tried))
            if name is None:
                break
            tried.add(name)
            start = time.perf_counter()
            try:
                call(self.targets[name], None)
            except Exception as exc:
                status = getattr(exc, "status_code", None)
                self.attachment.on_result(name, ok=False, status_code=status, error_type=type(exc).__name__,
                                          latency_s=time.perf_counter() - start, probe=probe)  # fmt: skip
                last = Sent(name, False, attempt, probe, type(exc).__name__)
                continue
            self.attachment.on_result(name, ok=True, latency_s=time.perf_counter() - start, probe=probe)
            return Sent(name, True, attempt, probe)
        return last or Sent("", False, 0, False, "no target available")

    def states(self) -> dict[str, tuple[str, float, str]]:
        return {n: (h.state.value, h.weight_factor, h.reason) for n, h in self.book.status().items()}

    def subscribe(self, fn: Callable[[Any], None]) -> None:
        self.book.subscribe(fn)

    def close(self) -> None:
        self.attachment.detach()


class RouterRouting:
    """`routewatch.Router` itself: weighted strategy over the three targets, health from the monitor."""

    kind = "routewatch.Router"

    def __init__(self, targets: tuple[Target, ...], monitor: Any, policy: Any, seed: int, clients: dict[str, Any],
                 tracer_provider: Any = None, meter_provider: Any = None) -> None:  # fmt: skip
        from ..router import Router
        from ..router.feedback import attach

        self.targets = {t.name: t for t in targets}
        config = {
            "name": "demo",
            "targets": [
                {"name": t.name, "provider": t.provider, "model": t.model, "weight": 1.0, "sdk_max_retries": 0}
                for t in targets
            ],
            "tasks": {"default": {"strategy": "weighted", "max_attempts": 2}},
            "classifier": {"builtin": False},
            "health": policy.model_dump(exclude_defaults=True),
        }
        self.router = Router(config, clients=clients, tracer_provider=tracer_provider, meter_provider=meter_provider,
                             rng=random.Random(seed))  # fmt: skip
        self._by_client = {id(c): name for name, c in clients.items()}
        self._local = threading.local()
        if tracer_provider is not None and hasattr(tracer_provider, "add_span_processor"):
            tracer_provider.add_span_processor(_ProbeWatch(self._local))
        self.attachment = attach(monitor, self.router, tick_interval_s=0.1)

    def send(self, call: Callable[[Target, Any], None]) -> Sent:
        self._local.tried = []
        self._local.probe = False

        def fn(client: Any, model: str) -> None:
            name = self._by_client[id(client)]
            self._local.tried.append(name)
            call(self.targets[name], client)

        try:
            self.router.run(fn)
        except Exception as exc:
            tried = self._local.tried
            return Sent(tried[-1] if tried else "", False, len(tried), self._local.probe, type(exc).__name__)
        tried = self._local.tried
        return Sent(tried[-1], True, len(tried), self._local.probe)

    def states(self) -> dict[str, tuple[str, float, str]]:
        return {n: (h.state.value, h.weight_factor, h.reason) for n, h in self.router.health.status().items()}

    def subscribe(self, fn: Callable[[Any], None]) -> None:
        self.router.health.subscribe(fn)

    def close(self) -> None:
        self.attachment.detach()
        self.router.close()


class _ProbeWatch(SpanProcessor):
    """Reads the router's decision spans: a request the router sent as a probe says so in its span.

    The routing span ends on the thread that called `Router.run`, before `run` returns, so the flag
    lands in that thread's `send`.
    """

    def __init__(self, local: threading.local) -> None:
        self.local = local

    def on_end(self, span: Any) -> None:
        attributes = span.attributes or {}
        if attributes.get("routewatch.router.probe") and hasattr(self.local, "probe"):
            self.local.probe = True


def make_routing(
    targets: tuple[Target, ...], monitor: Any, duration_s: float, seed: int, clients: dict[str, Any],
    tracer_provider: Any = None, meter_provider: Any = None,
) -> Routing:  # fmt: skip
    """The Router when it is installed, else the smallest `Demotable` balancer."""
    policy = demo_policy(duration_s)
    try:
        return RouterRouting(targets, monitor, policy, seed, clients, tracer_provider, meter_provider)
    except ImportError:
        return BookRouting(targets, monitor, policy, seed)
