"""Failover and demotion benchmark: routewatch's Router + DriftMonitor feedback against (a) no feedback
and (b) a LiteLLM-style cooldown, on the same simulated fleet, in the same run.

A fleet of three providers serves one task class (weighted, equal weights). Each scenario degrades
one provider (or all) at `onset` and, where it says so, recovers it later. The workload is time
compressed: a virtual clock advances 1/RPS per request and every call's latency is drawn from the
provider simulator's own `ProviderSettings` (lognormal jitter, fault probabilities), so a 25-minute
scenario runs in seconds. All three arms see the same seeded draws.

Arms
- routewatch: `routewatch.Router` (weighted) with `routewatch.attach(DriftMonitor, router)`; every
  attempt feeds the monitor (error, server_error, latency, schema_invalid) and the router's health.
- none: the same Router, health never demotes (no monitor, consecutive-failure ejection disabled).
- cooldown: LiteLLM's documented v2 cooldown, reimplemented (no LiteLLM code): a deployment cools
  down for 5 s when its failure rate in the current minute exceeds 50 % with >= 5 requests, or on a
  429 (more than one deployment); recovery is the timer expiring; no probe, no ramp; quality and
  latency are invisible to it. Both arms retry failures on other deployments, up to 3 attempts.

Per scenario and arm, every figure from the arm's own log of state changes (the HealthBook's
transitions; the cooldown arm's cooldown spells), so a demotion undone a moment later still counts:
requests sent to the degraded provider(s) while degraded (onset to recovery); demote: onset to the
first cut of a degraded provider's share (a move into DEGRADED or EJECTED; a slow start ending at
the cap of an alarm still open is not a cut); restore: the provider's recovery to its last return to
full weight, for good; ramp: start of that last slow start (leaving PROBING or DEGRADED) to full
weight; flaps: cuts of a target after it was back in rotation (entered RAMPING or HEALTHY); success
rate; schema-valid rate; end-to-end p95 latency; cost per 1,000 requests.

Targets (exit status 1 when one is missed): fewer requests to the degraded provider than both
baselines wherever one provider degrades; nobody demoted at any moment when all slow down together;
no flaps; a recovered provider at full weight within `ramp_s` of its slow start beginning.

    python bench/failover.py            # all scenarios, about a minute on a shared core
    python bench/failover.py --quick    # shorter scenarios
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import NoOpTracerProvider

import routewatch
from routewatch.drift import DriftMonitor, StreamKey
from routewatch.router import Router
from routewatch.simulator import Phase, ProviderSettings, Scenario
from routewatch.simulator.scenario import jittered

PROVIDERS = ("p1", "p2", "p3")
MODELS = {"p1": ("openai", "model-a"), "p2": ("anthropic", "model-b"), "p3": ("gcp.gemini", "model-c")}
PRICES = {"p1": (0.15, 0.60), "p2": (0.25, 1.00), "p3": (0.40, 1.60)}  # USD per 1M tokens in / out
TOKENS_IN, TOKENS_OUT = 1_000, 250
TIMEOUT_S = 10.0
MAX_ATTEMPTS = 3
BASE = ProviderSettings(latency_s=0.8, jitter_sigma=0.3, faults={"http_503": 0.01, "schema_violation": 0.005})
RAMP_S = 60.0
RAMP_SLACK_S = 1.0  # moves happen on the next request or tick after they fall due (0.1 s and 1 s apart)


@dataclass(frozen=True)
class Case:
    name: str
    scenario: Scenario  # providers keyed by the simulator's route-prefix overlays "/p1" ...
    degraded: tuple[str, ...]
    recover_at: float | None = None
    expect_demotion: bool = True


def _case(name: str, onset: float, settings: ProviderSettings, *, who: tuple[str, ...] = ("p1",),
          recover_at: float | None = None, expect: bool = True) -> Case:  # fmt: skip
    phases = [Phase(start_after_s=onset, providers={f"/{p}": settings for p in who})]
    if recover_at is not None:
        phases.append(Phase(start_after_s=recover_at))
    scenario = Scenario(seed=7, default=BASE, phases=tuple(phases))
    return Case(name, scenario, who, recover_at, expect)


OUTAGE = ProviderSettings(faults={"http_503": 1.0, "schema_violation": 0}, latency_s=0.05)


def cases(onset: float, recover: float) -> list[Case]:
    return [
        _case("hard outage", onset, OUTAGE, recover_at=recover),
        _case("latency x2", onset, ProviderSettings(latency_s=1.6)),
        _case("errors 1%->8%", onset, ProviderSettings(faults={"http_503": 0.08, "schema_violation": 0.005})),
        _case("quality 0.5%->10%", onset, ProviderSettings(faults={"http_503": 0.01, "schema_violation": 0.10})),
        _case("all slow x2", onset, ProviderSettings(latency_s=1.6), who=PROVIDERS, expect=False),
        _case("recovering (x3)", onset, ProviderSettings(latency_s=2.4), recover_at=recover),
    ]


@dataclass
class Outcome:
    ok: bool
    latency_s: float
    status: int | None
    schema_invalid: bool


class Fleet:
    """The simulator's scenario model, drawn in process on a virtual clock (no sockets, no sleeps)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rngs = {p: random.Random(scenario.seed * 1_000 + i) for i, p in enumerate(PROVIDERS)}

    def phase(self, now: float) -> int:
        active = -1
        for index, phase in enumerate(self.scenario.phases):
            if phase.start_after_s is not None and now >= phase.start_after_s:
                active = index
        return active

    def call(self, provider: str, now: float) -> Outcome:
        settings = self.scenario.settings_for(self.phase(now), "openai", f"/{provider}/v1/chat/completions")
        rng = self.rngs[provider]
        draw, fault = rng.random(), None
        for kind, probability in settings.faults.items():
            draw -= probability
            if draw < 0:
                fault = kind
                break
        latency = jittered(settings.latency_s, settings.jitter_sigma, rng)
        if fault is not None and fault.startswith("http_"):
            return Outcome(False, min(latency, 0.05), int(fault[5:]), False)
        if latency > TIMEOUT_S:
            return Outcome(False, TIMEOUT_S, None, False)
        return Outcome(True, latency, 200, fault == "schema_violation")


class ProviderError(Exception):
    def __init__(self, status: int | None) -> None:
        super().__init__(f"simulated {status or 'timeout'}")
        self.status_code = status


class TimeoutFailure(TimeoutError):
    pass


@dataclass(frozen=True)
class Move:
    """A target's state change, as the arm logged it when it happened."""

    at: float
    target: str
    old: str
    new: str
    reason: str = ""


@dataclass
class Tally:
    """What one arm did in one scenario."""

    served_degraded: int = 0
    requests: int = 0
    successes: int = 0
    valid: int = 0
    latencies: list[float] = field(default_factory=list)
    cost_usd: float = 0.0
    moves: list[Move] = field(default_factory=list)  # every state change, from the arm's own log

    def attempt(self, provider: str, out: Outcome, now: float, onset: float, case: Case) -> None:
        ended = case.recover_at if case.recover_at is not None else math.inf
        if onset <= now < ended and provider in case.degraded:  # while it is degraded, not after it recovered
            self.served_degraded += 1
        if out.ok:
            price_in, price_out = PRICES[provider]
            self.cost_usd += (TOKENS_IN * price_in + TOKENS_OUT * price_out) / 1e6


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.offset = 0.0

    def clock(self) -> float:
        return self.now

    def timer(self) -> float:
        return self.now + self.offset


# --- arms --------------------------------------------------------------------------------------------
class RouterArm:
    def __init__(self, feedback: bool, vt: VirtualTime, fleet: Fleet, tally: Tally, case: Case, onset: float):
        self.vt, self.fleet, self.tally, self.case, self.onset = vt, fleet, tally, case, onset
        targets = [{"name": p, "provider": MODELS[p][0], "model": MODELS[p][1], "weight": 1.0} for p in PROVIDERS]
        health: dict[str, Any] = {"ramp_s": RAMP_S}
        if not feedback:
            health["consecutive_failures"] = 10**9
        config = {"targets": targets, "tasks": {"default": {"strategy": "weighted", "max_attempts": MAX_ATTEMPTS}},
                  "health": health}  # fmt: skip
        self.router = Router(config, clients={p: p for p in PROVIDERS}, tracer_provider=NoOpTracerProvider(),
                             clock=vt.clock, timer=vt.timer, rng=random.Random(11), listen=False)  # fmt: skip
        self.monitor: DriftMonitor | None = None
        self.attachment: Any = None
        self._transitions: list[Any] = []
        self.router.health.subscribe(self._transitions.append)  # the book's own log: no move goes unseen
        if feedback:
            self.monitor = DriftMonitor(sinks=[])
            self.attachment = routewatch.attach(self.monitor, self.router, tick_interval_s=None)

    def call(self, client: Any, model: str) -> Outcome:
        provider = client
        vt = self.vt
        out = self.fleet.call(provider, vt.now)
        vt.offset += out.latency_s
        self.tally.attempt(provider, out, vt.now, self.onset, self.case)
        if self.monitor is not None:
            key = StreamKey(*MODELS[provider])
            at = vt.now + vt.offset
            self.monitor.observe(key, "error", float(not out.ok), at)
            self.monitor.observe(key, "server_error", float(out.status is not None and out.status >= 500), at)
            if out.ok:
                self.monitor.observe(key, "latency", out.latency_s, at)
                self.monitor.observe(key, "schema_invalid", float(out.schema_invalid), at)
        if not out.ok:
            raise ProviderError(out.status) if out.status is not None else TimeoutFailure("simulated timeout")
        return out

    def request(self) -> Outcome | None:
        try:
            result: Outcome = self.router.run(self.call, task="default")
            return result
        except (ProviderError, TimeoutFailure, routewatch.router.NoTargetAvailable):
            return None

    def tick(self) -> None:
        if self.attachment is not None:
            self.attachment.tick()

    def moves(self) -> list[Move]:
        self.router.health.tick()  # moves due by the end of the run
        return [Move(t.at, t.target, t.old.value, t.new.value, t.reason) for t in self._transitions]

    def close(self) -> None:
        if self.attachment is not None:
            self.attachment.detach()
        self.router.close()


class CooldownArm:
    """LiteLLM-style v2 cooldown (see module docstring)."""

    COOLDOWN_S = 5.0
    FAIL_RATE = 0.5
    MIN_REQUESTS = 5

    def __init__(self, vt: VirtualTime, fleet: Fleet, tally: Tally, case: Case, onset: float) -> None:
        self.vt, self.fleet, self.tally, self.case, self.onset = vt, fleet, tally, case, onset
        self.rng = random.Random(11)
        self.until = dict.fromkeys(PROVIDERS, -math.inf)
        self.minute: dict[str, tuple[int, int, int]] = {p: (-1, 0, 0) for p in PROVIDERS}  # minute, requests, fails
        self.spells: dict[str, list[list[float]]] = {p: [] for p in PROVIDERS}  # [start, end] of each cooldown

    def _count(self, provider: str, ok: bool, status: int | None) -> None:
        minute = int(self.vt.now // 60)
        m, n, fails = self.minute[provider]
        if m != minute:
            n, fails = 0, 0
        n, fails = n + 1, fails + (not ok)
        self.minute[provider] = (minute, n, fails)
        if not ok and (status == 429 or (n >= self.MIN_REQUESTS and fails / n > self.FAIL_RATE)):
            spells = self.spells[provider]
            if spells and spells[-1][1] > self.vt.now:
                spells[-1][1] = self.vt.now + self.COOLDOWN_S  # cooled again while cooling: one longer spell
            else:
                spells.append([self.vt.now, self.vt.now + self.COOLDOWN_S])
            self.until[provider] = self.vt.now + self.COOLDOWN_S

    def request(self) -> Outcome | None:
        tried: set[str] = set()
        for _ in range(MAX_ATTEMPTS):
            healthy = [p for p in PROVIDERS if p not in tried and self.until[p] <= self.vt.now]
            pool = healthy or [p for p in PROVIDERS if p not in tried]  # all cooled: LiteLLM errors; we try anyway
            if not pool:
                return None
            provider = self.rng.choice(pool)
            tried.add(provider)
            out = self.fleet.call(provider, self.vt.now)
            self.vt.offset += out.latency_s
            self.tally.attempt(provider, out, self.vt.now, self.onset, self.case)
            self._count(provider, out.ok, out.status)
            if out.ok:
                return out
        return None

    def tick(self) -> None:
        pass

    def moves(self) -> list[Move]:
        """Each cooldown spell as a move out and, when its TTL expired before the end, back in."""
        out: list[Move] = []
        for provider, spells in self.spells.items():
            for begin, end in spells:
                out.append(Move(begin, provider, "healthy", "ejected", "cooldown"))
                if end <= self.vt.now:
                    out.append(Move(end, provider, "ejected", "healthy", "cooldown over"))
        return sorted(out, key=lambda m: m.at)

    def close(self) -> None:
        pass


# --- running -----------------------------------------------------------------------------------------
def run_arm(arm_name: str, case: Case, duration: float, rps: float, onset: float) -> Tally:
    vt = VirtualTime()
    fleet = Fleet(case.scenario)
    tally = Tally()
    arm: Any
    if arm_name == "cooldown":
        arm = CooldownArm(vt, fleet, tally, case, onset)
    else:
        arm = RouterArm(arm_name == "routewatch", vt, fleet, tally, case, onset)
    step = 1.0 / rps
    next_tick = 0.0
    requests = int(duration * rps)
    for i in range(requests):
        vt.now, vt.offset = i * step, 0.0
        if vt.now >= next_tick:
            arm.tick()
            next_tick += 1.0
        out = arm.request()
        tally.requests += 1
        tally.latencies.append(vt.offset)
        if out is not None:
            tally.successes += 1
            tally.valid += int(not out.schema_invalid)
    vt.now = requests * step
    tally.moves = arm.moves()
    arm.close()
    return tally


# --- figures from the state changes (exact times, nothing sampled) ----------------------------------
def _demotion(move: Move, ramp_started: float | None) -> bool:
    """A move that cuts a target's share. A slow start that ends at the cap of an alarm still open
    (RAMPING -> DEGRADED once ramp_s is over) keeps the weight it reached: not a cut."""
    if move.new == "ejected":
        return move.old != "ejected"
    if move.new != "degraded":
        return False
    if move.old == "ramping" and ramp_started is not None and move.at - ramp_started >= RAMP_S - 1e-6:
        return False
    return move.old in ("healthy", "ramping")


def demotions(moves: list[Move], targets: tuple[str, ...], since: float) -> list[Move]:
    out: list[Move] = []
    ramp_started: dict[str, float] = {}
    for move in moves:
        if move.new == "ramping":
            ramp_started[move.target] = move.at
        if move.target in targets and move.at >= since and _demotion(move, ramp_started.get(move.target)):
            out.append(move)
    return out


def flaps(moves: list[Move], targets: tuple[str, ...], since: float) -> int:
    """Demotions of a target after it was back in rotation (entered RAMPING or HEALTHY) since `since`."""
    count = 0
    cut = {id(m) for m in demotions(moves, targets, since)}
    restored: set[str] = set()
    for move in moves:
        if move.at < since or move.target not in targets:
            continue
        if id(move) in cut and move.target in restored:
            count += 1
        if move.new in ("ramping", "healthy"):
            restored.add(move.target)
    return count


@dataclass(frozen=True)
class Recovery:
    back_s: float | None  # recovery -> back at full weight for good (None: not back by the end)
    ramp_s: float | None  # start of the last slow start (leaving PROBING or DEGRADED) -> full weight
    started: Move | None  # the move that began that slow start


def recovery(moves: list[Move], target: str, recover_at: float) -> Recovery:
    own = [m for m in moves if m.target == target]
    if not own or own[-1].new != "healthy":
        return Recovery(None, None, None) if own else Recovery(0.0, None, None)
    last = own[-1]
    back = max(0.0, last.at - recover_at)
    ramp = next((m for m in reversed(own[:-1]) if m.new == "ramping"), None)
    if ramp is None or last.old != "ramping":
        return Recovery(back, None, None)
    return Recovery(back, last.at - ramp.at, ramp)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def fmt(value: float | None, unit: str = "s", none: str = "never") -> str:
    return none if value is None else f"{value:.0f} {unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter scenarios (for a smoke run)")
    parser.add_argument("--rps", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    duration, onset, recover = (1400.0, 700.0, 1000.0) if args.quick else (2400.0, 900.0, 1500.0)
    arms = ("routewatch", "none", "cooldown")
    print(f"fleet: 3 providers, weighted, {args.rps:g} req/s virtual, {duration:.0f} s per scenario, onset at "
          f"{onset:.0f} s, recovery (where any) at {recover:.0f} s; ramp_s={RAMP_S:g}")  # fmt: skip
    header = (f"{'scenario':<18} {'arm':<10} {'to degraded':>11} {'demote':>8} {'restore':>8} {'ramp':>6} "
              f"{'flaps':>5} {'success':>8} {'valid':>8} {'p95 s':>6} {'$/1k req':>9}")  # fmt: skip
    print(header)
    print("-" * len(header))
    verdicts: list[str] = []
    missed: list[str] = []

    def verdict(ok: bool, text: str) -> None:
        verdicts.append(f"{'yes' if ok else 'NO '}  {text}")
        if not ok:
            missed.append(text)

    started = time.perf_counter()
    for case in cases(onset, recover):
        rows = {arm: run_arm(arm, case, duration, args.rps, onset) for arm in arms}
        for arm, t in rows.items():
            first = next(iter(demotions(t.moves, case.degraded, onset)), None)
            back = ramp = None
            if case.recover_at is not None:
                r = recovery(t.moves, case.degraded[0], case.recover_at)
                back, ramp = r.back_s, r.ramp_s
            restore = fmt(back) if case.recover_at is not None else "-"
            print(f"{case.name:<18} {arm:<10} {t.served_degraded:>11} "
                  f"{fmt(first.at - onset if first else None):>8} {restore:>8} {fmt(ramp, none='-'):>6} "
                  f"{flaps(t.moves, case.degraded, onset):>5} {100 * t.successes / t.requests:>7.2f}% "
                  f"{100 * t.valid / t.requests:>7.2f}% {p95(t.latencies):>6.2f} "
                  f"{1000 * t.cost_usd / t.requests:>9.4f}")  # fmt: skip
        rw = rows["routewatch"]
        if case.expect_demotion:
            fewer = all(rw.served_degraded < rows[a].served_degraded for a in arms[1:])
            verdict(fewer, f"{case.name}: routewatch sent fewer requests to the degraded provider than both baselines "
                    f"({rw.served_degraded} vs {rows['none'].served_degraded} none, "
                    f"{rows['cooldown'].served_degraded} cooldown)")  # fmt: skip
        else:
            cut = demotions(rw.moves, PROVIDERS, 0.0)
            verdict(not cut, f"{case.name}: routewatch demoted nobody at any moment ({len(cut)} demotions)")
        n = flaps(rw.moves, PROVIDERS, onset)
        verdict(n == 0, f"{case.name}: routewatch never flapped ({n} demotions after a return to rotation)")
        if case.recover_at is not None:
            r = recovery(rw.moves, case.degraded[0], case.recover_at)
            within = r.ramp_s is not None and r.ramp_s <= RAMP_S + RAMP_SLACK_S
            how = (
                (
                    f"slow start began {r.started.at - case.recover_at:.0f} s after recovery "
                    f"({r.started.old} -> ramping: {r.started.reason[:48]}...)"
                )
                if r.started
                else "no slow start"
            )
            verdict(within, f"{case.name}: back at full weight {fmt(r.ramp_s, none='never')} after its slow start "
                    f"began (promised ramp_s {RAMP_S:g} s); whole recovery {fmt(r.back_s)} after the provider "
                    f"recovered; {how}")  # fmt: skip
        print()
    print("\n".join(verdicts))
    print(f"\nran in {time.perf_counter() - started:.0f} s of wall time")
    if missed:
        print(f"\n{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
