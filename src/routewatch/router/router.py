"""`Router`: picks a target per request, calls it through the official SDK, fails over, and learns.

    router = routewatch.Router("router.yaml")
    reply = router.run(lambda client, model: client.chat.completions.create(model=model, messages=msgs),
                       request={"messages": msgs})

Each request: name its task class (argument, `routewatch.tags(task=...)`, or rules on the request),
take that task's policy, drop targets health has ejected (unless a probe is due, which then goes
there), pick by strategy over effective weights (configured x health), call, and on 429 / 5xx /
timeout / connection errors / a stream that fails before its first chunk, try the next target, as
far as `max_attempts` and the retry budget allow. Every outcome feeds `router.health` and the live
statistics; every decision is a `routewatch.route <task>` span whose attributes say what was
considered, skipped, and chosen.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider

from ..bus import add_listener, remove_listener
from ..records import CallRecord, Usage
from ..tags import tags_if_room
from ..version import __version__
from .budget import Failure, RetryBudget, classify_error
from .clients import ClientCache, ClientUnavailable
from .config import RouterConfig, Target, TaskPolicy, as_config
from .decisions import Decision, annotate, failover_event
from .health import HealthBook, HealthPolicy, TargetState
from .policies import Candidate, expected_cost, score, select
from .shadow import Comparator, Comparison, ShadowLedger, compare_results
from .stats import StatsBook, bucket_of
from .streams import AsyncPeekedStream, PeekedStream, apeek, is_async_stream, is_stream, peek
from .tasks import TaskClassifier, estimate_prompt_tokens
from .watch import ConfigWatcher

__all__ = ["Choice", "ConfigWatcher", "NoTargetAvailable", "Router"]

log = logging.getLogger("routewatch.router")

TAG = "router_target"  # the routewatch tag that ties a CallRecord to the router's target
_OUT = (TargetState.EJECTED, TargetState.PROBING)


class NoTargetAvailable(RuntimeError):
    """Nothing could be tried for this request (every candidate failed already or none is configured)."""


@dataclass(frozen=True)
class Choice:
    """Where to send one call: the SDK client and model, and the decision behind it.

    Report the outcome with `record(...)` so health and statistics learn from calls made by hand.
    """

    target: str
    provider: str
    model: str
    client: Any
    task: str
    probe: bool
    decision: Decision
    _router: Router = field(repr=False)

    def record(
        self, *, ok: bool, error: BaseException | None = None, latency_s: float | None = None,
        ttft_s: float | None = None,
    ) -> None:  # fmt: skip
        failure = classify_error(error) if error is not None else None
        self._router._outcome(self.target, ok, failure, latency_s, ttft_s, 0, self.probe)


@dataclass(frozen=True)
class _State:
    """One immutable generation of the configuration, swapped whole by `update`."""

    config: RouterConfig
    classifier: TaskClassifier
    targets: dict[str, Target]


@dataclass
class _Call:
    task: str
    policy: TaskPolicy
    bucket: int
    state: _State
    tried: set[str] = field(default_factory=set)
    attempt: int = 0
    last_error: BaseException | None = None
    last_was_probe: bool = False
    probes: int = 0  # probe attempts: the router's choice, so they count against no limit of the caller's
    failovers: int = 0


def _groups(config: RouterConfig) -> dict[str, tuple[str, ...]]:
    """Each target's groups for the health book's max-ejection rule: the task classes it serves."""
    groups: dict[str, list[str]] = {t.name: [] for t in config.targets}
    for task in {*config.tasks, config.default_task}:
        for target in config.candidates(task):
            groups[target.name].append(task)
    return {name: tuple(sorted(g)) for name, g in groups.items()}


def _build_state(config: RouterConfig) -> _State:
    return _State(config, TaskClassifier(config.classifier, config.default_task), {t.name: t for t in config.targets})


class Router:
    """An LLM-provider router with failover, health-driven demotion and decision telemetry.

    `config`: a RouterConfig, a dict, or a YAML/TOML/JSON path. `clients` / `async_clients`: SDK
    clients by target name (else built lazily). `clock` drives health and statistics windows,
    `timer` measures latency, `rng` makes selection repeatable in tests.
    """

    def __init__(
        self,
        config: RouterConfig | Mapping[str, Any] | str | os.PathLike[str],
        *,
        clients: Mapping[str, Any] | None = None,
        async_clients: Mapping[str, Any] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: Any = None,
        health: HealthBook | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        rng: random.Random | None = None,
        shadow_compare: Comparator | None = None,
        listen: bool = True,
    ) -> None:
        cfg = as_config(config)
        self._clock, self._timer = clock, timer
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._tracer = trace.get_tracer("routewatch.router", __version__, tracer_provider)
        self._tracer_provider = tracer_provider
        self.health = health or HealthBook(HealthPolicy(**cfg.health), clock=clock, meter_provider=meter_provider)
        self.stats = StatsBook(cfg.stats.window_s, cfg.stats.max_samples, clock)
        budget = cfg.retry_budget
        self.retry_budget = RetryBudget(budget.ratio, budget.min_retries, budget.window_s, clock)
        self.shadows = ShadowLedger()
        self._compare = shadow_compare or compare_results
        self._clients = ClientCache(dict(clients or {}), dict(async_clients or {}))
        self._cooling: dict[str, float] = {}
        self._prices: Any = None
        self._lock = threading.Lock()
        self._watchers: list[ConfigWatcher] = []
        self._state = _build_state(cfg)
        self._sync_health(cfg)
        self._listener: Callable[[CallRecord], None] | None = None
        if listen:
            self._listener = _weak_listener(self)
            add_listener(self._listener)

    # --- configuration ------------------------------------------------------------------------------
    @property
    def config(self) -> RouterConfig:
        return self._state.config

    @property
    def name(self) -> str:
        return self._state.config.name

    def update(self, config: RouterConfig | Mapping[str, Any] | str | os.PathLike[str]) -> None:
        """Swap in a new configuration atomically; requests in flight finish on the old one.

        Health state, statistics and clients of targets that stay are kept (a client is rebuilt when
        its connection settings changed). Health policy changes need a new Router.
        """
        cfg = as_config(config)
        with self._lock:
            self._state = _build_state(cfg)
            self._sync_health(cfg)
            self._clients.retain(self._state.targets)
            self.stats.retain(set(self._state.targets))
            budget = cfg.retry_budget
            self.retry_budget.ratio, self.retry_budget.min_retries = budget.ratio, budget.min_retries
        log.info("routewatch router %s: configuration updated (%d targets)", cfg.name, len(cfg.targets))

    def _sync_health(self, cfg: RouterConfig) -> None:
        groups = _groups(cfg)
        known = set(self.health.status())
        for target in cfg.targets:  # a target only canaries or shadows serve keeps no task running: spare
            self.health.add_target(target.name, provider=target.provider, model=target.model,
                                   groups=groups[target.name], spare=not groups[target.name])  # fmt: skip
        for name in known - {t.name for t in cfg.targets}:
            self.health.remove_target(name)

    def watch(self, path: str | os.PathLike[str], interval_s: float = 2.0) -> ConfigWatcher:
        """Reload `path` whenever its modification time changes (polled in a daemon thread).
        A config that fails to load or validate is logged and ignored; the current one stays."""
        watcher = ConfigWatcher(self, os.fspath(path), interval_s)
        self._watchers.append(watcher)
        return watcher

    def close(self) -> None:
        """Stop file watchers and stop listening to call records."""
        for watcher in self._watchers:
            watcher.stop()
        if self._listener is not None:
            remove_listener(self._listener)
            self._listener = None

    # --- Demotable (routewatch.attach works with any router exposing these) -----------------------
    def routewatch_targets(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        groups = _groups(self.config)
        return [(t.name, t.provider, t.model, groups[t.name]) for t in self.config.targets]

    # --- visibility ---------------------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, Any]]:
        """The ledger: per target, health (state, weight factor, reason, open alarms) and live statistics."""
        state = self._state
        out: dict[str, dict[str, Any]] = {}
        for name, health in self.health.status().items():
            target = state.targets.get(name)
            if target is None:
                continue
            row = health.as_dict()
            row.update(configured_weight=target.weight, effective_weight=target.weight * health.weight_factor,
                       priority=target.priority, stats=self.stats.summary(name).as_dict())  # fmt: skip
            until = self._cooling.get(name)
            if until is not None and until > self._clock():
                row["retry_after_until"] = until
            shadow = self.shadows.summary(name)
            if shadow is not None:
                row["shadow"] = shadow
            out[name] = row
        return out

    # --- deciding -----------------------------------------------------------------------------------
    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _begin(self, request: Mapping[str, Any] | None, task: str | None) -> _Call:
        state = self._state
        name = state.classifier(request, task)
        policy = state.config.policy(name)
        bucket = bucket_of(estimate_prompt_tokens(request), policy.prompt_buckets) if request else 0
        self.retry_budget.on_request()
        return _Call(name, policy, bucket, state)

    def _decide(self, call: _Call) -> Decision:
        state, policy = call.state, call.policy
        health = self.health.status()
        now = self._clock()
        decision = Decision(call.task, policy.strategy, call.attempt, [])
        pool = list(state.config.candidates(call.task))
        cooling: list[Candidate] = []
        for target in pool:
            h = health.get(target.name)
            status, factor = (h.state.value, h.weight_factor) if h is not None else ("healthy", 1.0)
            candidate = Candidate(target, status, factor)
            if policy.strategy in ("cost", "latency"):  # the others never read statistics
                candidate.stats = self.stats.summary(target.name, fresh=False)
            if target.name in call.tried:
                decision.skipped.append((target.name, "already failed in this request"))
            elif factor <= 0 or (h is not None and h.state in _OUT):
                decision.skipped.append((target.name, f"{status}: {h.reason}" if h is not None else status))
            elif target.weight <= 0:
                decision.skipped.append((target.name, "configured weight 0"))
            elif self._cooling.get(target.name, 0.0) > now:
                left = self._cooling[target.name] - now
                decision.skipped.append((target.name, f"retry-after: {left:.1f} s left"))
                cooling.append(candidate)
            else:
                if policy.strategy == "cost":
                    table = self._table_cost(target, policy)
                    candidate.cost_usd = expected_cost(target, candidate.stats, policy, table)
                decision.candidates.append(candidate)
        # A due probe of an ejected target takes this request (a real request is the best probe).
        side = [state.targets[p.target] for p in (policy.canary,) if p is not None]
        for target in pool + side:
            h = health.get(target.name)
            due = target.name not in call.tried and h is not None and h.state in _OUT
            if h is not None and due and self.health.take_probe(target.name):
                score(policy, decision.candidates, bucket=call.bucket)  # what the strategy would have ranked
                decision.chosen = Candidate(target, h.state.value, 0.0, note=f"half-open probe ({h.state.value})")
                decision.candidates.append(decision.chosen)
                decision.reason, decision.probe = "probe", True
                return decision
        if policy.canary is not None and call.attempt == 1:
            canary = state.targets[policy.canary.target]
            h = health.get(canary.name)
            factor = h.weight_factor if h is not None else 1.0
            admitted = h is None or h.state not in _OUT
            ready = admitted and factor > 0 and self._cooling.get(canary.name, 0.0) <= now
            if ready and self._random() * 100 < policy.canary.percent * factor:
                score(policy, decision.candidates, bucket=call.bucket)
                percent = policy.canary.percent
                decision.chosen = Candidate(canary, h.state.value if h else "healthy", factor, score=percent / 100 *
                                            factor, note=f"canary: {percent:g} % x health {factor:g}")  # fmt: skip
                decision.candidates.append(decision.chosen)
                decision.reason = "canary"
                return decision
        with self._rng_lock:
            selection = select(policy, decision.candidates, self._rng, bucket=call.bucket)
            if selection is None and cooling:
                selection = select(policy, cooling, self._rng, bucket=call.bucket)
                if selection is not None:
                    selection = type(selection)(selection.candidate, "retry-after ignored: no other target")
            if selection is None:
                rest = [Candidate(t, "panic", 1.0) for t in pool if t.name not in call.tried and t.weight > 0]
                chosen = _pick_weighted(rest, self._rng)
                if chosen is not None:
                    decision.chosen, decision.reason = chosen, "panic: every candidate is out; trying anyway"
                return decision
        decision.chosen, decision.reason = selection.candidate, selection.reason
        return decision

    def _table_cost(self, target: Target, policy: TaskPolicy) -> float | None:
        if self._prices is None:
            from ..pricing import PriceBook

            self._prices = PriceBook()
        prices = self._prices
        usage = Usage(input_tokens=policy.expected_input_tokens, output_tokens=policy.expected_output_tokens)
        usd: float | None = prices.cost(target.provider, target.model, usage).usd
        return usd

    def _next(self, call: _Call, span: Span) -> Decision:
        """The next attempt's decision, or raise the last error when no further attempt is allowed."""
        if call.attempt - call.probes >= call.policy.max_attempts:
            self._give_up(call, span, f"max_attempts {call.policy.max_attempts} reached")
        if call.attempt >= 1 and not call.last_was_probe and not self.retry_budget.try_retry():
            span.add_event("routewatch.retry_budget_exhausted", self.retry_budget.snapshot())
            self._give_up(call, span, "retry budget exhausted")
        call.attempt += 1
        decision = self._decide(call)
        annotate(span, decision, call.state.config.name, call.failovers)
        if decision.chosen is None:
            self._give_up(call, span, "no target left to try")
        call.tried.add(decision.chosen.name)  # type: ignore[union-attr]
        call.last_was_probe = decision.probe
        call.probes += int(decision.probe)
        return decision

    def _give_up(self, call: _Call, span: Span, why: str) -> None:
        span.set_attribute("routewatch.router.gave_up", why)
        if call.last_error is not None:
            raise call.last_error
        raise NoTargetAvailable(f"task {call.task!r}: {why}")

    # --- outcomes -----------------------------------------------------------------------------------
    def _outcome(
        self, name: str, ok: bool, failure: Failure | None, latency_s: float | None, ttft_s: float | None,
        bucket: int, probe: bool,
    ) -> None:  # fmt: skip
        """Feed one finished attempt to health and statistics (a caller's own bug feeds neither)."""
        if failure is not None and not failure.provider_error:
            return
        try:
            self.health.on_result(name, ok=ok, status_code=failure.status_code if failure else None,
                                  error_type=failure.error_type if failure else None, latency_s=latency_s,
                                  probe=probe)  # fmt: skip
            self.stats.of(name).add_outcome(ok, latency_s, ttft_s, bucket)
            if failure is not None and failure.retry_after_s:
                cap = self._state.config.retry_budget.max_retry_after_s
                self._cooling[name] = self._clock() + min(failure.retry_after_s, cap)
        except Exception:  # bookkeeping never breaks a call
            log.warning("routewatch router: recording an outcome failed", exc_info=True)

    def _failed(self, call: _Call, decision: Decision, exc: BaseException, started: float, span: Span,
                *, peeking: bool) -> None:  # fmt: skip
        """Record a failed attempt; re-raise `exc` unless another target may be tried."""
        target = decision.chosen.name  # type: ignore[union-attr]
        failure = classify_error(exc, before_first_chunk=peeking)
        self._outcome(target, False, failure, self._timer() - started, None, call.bucket, decision.probe)
        if not failure.failover:
            raise exc
        call.last_error = exc
        call.failovers += 1
        failover_event(span, target, call.attempt, failure, f"{type(exc).__name__}: {exc}", call.failovers)
        log.info("routewatch router: %s failed on %s (%s); failing over", call.task, target, failure.error_type)

    def _on_stream_end(self, call: _Call, decision: Decision, started: float, ttft: float) -> Callable[..., None]:
        name = decision.chosen.name  # type: ignore[union-attr]

        def done(ok: bool, exc: BaseException | None) -> None:
            failure = classify_error(exc) if exc is not None else None
            self._outcome(name, ok, failure, self._timer() - started, ttft, call.bucket, decision.probe)

        return done

    def _call_tags(self, task: str, target: str) -> contextlib.AbstractContextManager[None]:
        return tags_if_room(task=task, **{TAG: f"{self.name}:{target}"})  # untagged if the app used every slot

    def _on_record(self, record: CallRecord) -> None:
        """A finished call from the instrumentation: its real cost and quality verdicts."""
        value = record.tag(TAG)
        prefix = self.name + ":"
        if value is None or not value.startswith(prefix):
            return
        name = value[len(prefix) :]
        if name in self._state.targets:
            self.stats.of(name).add_record(record.cost_usd, _quality_failed(record) if record.ok else None)

    def _client(self, target: Target, asynchronous: bool) -> Any:
        return self._clients.get(target, asynchronous=asynchronous)

    # --- the public calls ---------------------------------------------------------------------------
    def choose(
        self, request: Mapping[str, Any] | None = None, *, task: str | None = None, exclude: tuple[str, ...] = (),
        asynchronous: bool = False,
    ) -> Choice:  # fmt: skip
        """Pick a target for a call the app makes itself; `exclude` names targets that already failed.

        The decision is recorded as a `routewatch.route <task>` span; report the outcome with
        `Choice.record`.
        """
        call = self._begin(request, task)
        call.tried.update(exclude)
        with self._tracer.start_as_current_span(f"routewatch.route {call.task}", kind=SpanKind.INTERNAL) as span:
            while True:
                decision = self._next(call, span)
                target = decision.chosen.target  # type: ignore[union-attr]
                try:
                    client = self._client(target, asynchronous)
                except ClientUnavailable as exc:
                    self._failed(call, decision, exc, self._timer(), span, peeking=False)
                    continue
                return Choice(target.name, target.provider, target.model, client, call.task, decision.probe,
                              decision, self)  # fmt: skip

    def run(self, fn: Callable[[Any, str], Any], *, request: Mapping[str, Any] | None = None,
            task: str | None = None) -> Any:  # fmt: skip
        """Route, call `fn(client, model)`, fail over, and return its result (a stream comes back with
        its first chunk already checked). The caller's own exceptions propagate unchanged."""
        call = self._begin(request, task)
        with self._tracer.start_as_current_span(f"routewatch.route {call.task}", kind=SpanKind.INTERNAL) as span:
            while True:
                decision = self._next(call, span)
                target = decision.chosen.target  # type: ignore[union-attr]
                started, peeking = self._timer(), False
                try:
                    client = self._client(target, False)
                    started = self._timer()  # latency of the call, not of building its client
                    with self._call_tags(call.task, target.name):
                        result = fn(client, target.model)
                        if inspect.iscoroutine(result):
                            result.close()
                            raise TypeError("fn returned a coroutine: use `await router.arun(afn)` for async calls")
                        if is_stream(result):
                            peeking = True
                            iterator, buffered, ended = peek(result)
                except Exception as exc:
                    self._failed(call, decision, exc, started, span, peeking=peeking)
                    continue
                if peeking:
                    ttft = self._timer() - started
                    done = self._on_stream_end(call, decision, started, ttft)
                    result = PeekedStream(result, iterator, buffered, done, ended=ended)
                    self._shadow(call, decision, fn, None, ttft, span)
                else:
                    latency = self._timer() - started
                    self._outcome(target.name, True, None, latency, latency, call.bucket, decision.probe)
                    self._shadow(call, decision, fn, result, latency, span)
                return result

    async def arun(self, afn: Callable[[Any, str], Awaitable[Any]], *, request: Mapping[str, Any] | None = None,
                   task: str | None = None) -> Any:  # fmt: skip
        """`run` for async SDK clients: `await afn(client, model)`."""
        call = self._begin(request, task)
        with self._tracer.start_as_current_span(f"routewatch.route {call.task}", kind=SpanKind.INTERNAL) as span:
            while True:
                decision = self._next(call, span)
                target = decision.chosen.target  # type: ignore[union-attr]
                started, peeking = self._timer(), False
                try:
                    client = self._client(target, True)
                    started = self._timer()
                    with self._call_tags(call.task, target.name):
                        result = await afn(client, target.model)
                        if is_async_stream(result):
                            peeking = True
                            aiterator, abuffered, ended = await apeek(result)
                except Exception as exc:
                    self._failed(call, decision, exc, started, span, peeking=peeking)
                    continue
                if peeking:
                    ttft = self._timer() - started
                    done = self._on_stream_end(call, decision, started, ttft)
                    result = AsyncPeekedStream(result, aiterator, abuffered, done, ended=ended)
                    self._ashadow(call, decision, afn, None, ttft, span)
                else:
                    latency = self._timer() - started
                    self._outcome(target.name, True, None, latency, latency, call.bucket, decision.probe)
                    self._ashadow(call, decision, afn, result, latency, span)
                return result

    # --- shadow traffic -----------------------------------------------------------------------------
    def _shadow_target(self, call: _Call, decision: Decision) -> Target | None:
        shadow = call.policy.shadow
        if shadow is None or decision.chosen is None or decision.chosen.name == shadow.target:
            return None
        if self._random() >= shadow.sample_rate or not self.health.admits(shadow.target):
            return None
        if not self.shadows.acquire(call.task, shadow.max_concurrent):
            return None
        return call.state.targets[shadow.target]

    def _shadow(self, call: _Call, decision: Decision, fn: Callable[[Any, str], Any], primary: Any,
                primary_latency: float, span: Span) -> None:  # fmt: skip
        target = self._shadow_target(call, decision)
        if target is None:
            return
        link = Link(span.get_span_context())

        def work() -> None:
            try:
                started, result, exc = self._timer(), None, None
                with self._shadow_span(call, link) as shadow_span:
                    try:
                        client = self._client(target, False)
                        started = self._timer()
                        with self._call_tags(call.task, target.name):
                            result = fn(client, target.model)
                            if is_stream(result):
                                for _ in result:
                                    pass
                    except Exception as error:
                        exc = error
                    self._shadow_done(call, decision, target, primary, primary_latency, result, exc, started,
                                      shadow_span)  # fmt: skip
            finally:
                self.shadows.release(call.task)

        threading.Thread(target=work, name="routewatch-shadow", daemon=True).start()

    def _ashadow(self, call: _Call, decision: Decision, afn: Callable[[Any, str], Awaitable[Any]], primary: Any,
                 primary_latency: float, span: Span) -> None:  # fmt: skip
        target = self._shadow_target(call, decision)
        if target is None:
            return
        link = Link(span.get_span_context())
        import asyncio

        async def work() -> None:
            try:
                started, result, exc = self._timer(), None, None
                with self._shadow_span(call, link) as shadow_span:
                    try:
                        client = self._client(target, True)
                        started = self._timer()
                        with self._call_tags(call.task, target.name):
                            result = await afn(client, target.model)
                            if is_async_stream(result):
                                async for _ in result:
                                    pass
                    except Exception as error:
                        exc = error
                    self._shadow_done(call, decision, target, primary, primary_latency, result, exc, started,
                                      shadow_span)  # fmt: skip
            finally:
                self.shadows.release(call.task)

        task = asyncio.get_running_loop().create_task(work())
        _background.add(task)
        task.add_done_callback(_background.discard)

    @contextlib.contextmanager
    def _shadow_span(self, call: _Call, link: Link) -> Iterator[Span]:
        # A new trace linked to the request's: the caller's trace never waits for the shadow.
        with self._tracer.start_as_current_span(f"routewatch.shadow {call.task}", context=trace.set_span_in_context(
                trace.INVALID_SPAN), links=[link], kind=SpanKind.INTERNAL) as span:  # fmt: skip
            yield span

    def _shadow_done(self, call: _Call, decision: Decision, target: Target, primary: Any, primary_latency: float,
                     result: Any, exc: BaseException | None, started: float, span: Span) -> None:  # fmt: skip
        latency = self._timer() - started
        failure = classify_error(exc) if exc is not None else None
        self._outcome(target.name, exc is None, failure, latency, latency, call.bucket, False)
        details: Mapping[str, Any] = {}
        if exc is None and primary is not None:
            try:
                details = dict(self._compare(primary, result))
            except Exception:
                log.warning("routewatch router: shadow comparison failed", exc_info=True)
        comparison = Comparison(call.task, decision.chosen.name, target.name, True, exc is None,  # type: ignore[union-attr]
                                primary_latency, latency, failure.error_type if failure else None, details)  # fmt: skip
        self.shadows.add(comparison)
        if span.is_recording():
            span.set_attributes(comparison.as_attributes())
            if exc is not None:
                span.set_status(Status(StatusCode.ERROR, failure.error_type if failure else None))


_background: set[Any] = set()


def _pick_weighted(candidates: list[Candidate], rng: random.Random) -> Candidate | None:
    total = sum(c.target.weight for c in candidates)
    if total <= 0:
        return None
    draw = rng.random() * total
    for candidate in candidates:
        draw -= candidate.target.weight
        if draw < 0:
            return candidate
    return candidates[-1]


def _weak_listener(router: Router) -> Callable[[CallRecord], None]:
    """A bus listener that does not keep the router alive, and removes itself once it is gone."""
    ref = weakref.ref(router)

    def on_record(record: CallRecord) -> None:
        owner = ref()
        if owner is None:
            remove_listener(on_record)
            return
        owner._on_record(record)

    return on_record


def _quality_failed(record: CallRecord) -> bool | None:
    from ..drift.quality import quality_verdicts

    verdicts = quality_verdicts(record)
    return any(v == 1 for v in verdicts.values()) if verdicts else None
