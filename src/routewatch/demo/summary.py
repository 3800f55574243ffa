"""The demo's verdict: was the regression detected, the provider demoted, traffic moved, the provider restored?

Each answer is computed from what happened (alarms, router transitions, routed requests), never
assumed, and printed as one `question: yes|no (evidence)` line so a test or a script can check it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .tally import Event, Tally

__all__ = ["Summary", "summarise"]

_HEALTHY = "healthy"


@dataclass
class Summary:
    scenario: str
    regression: str
    regressed: str
    router: str
    duration_s: float
    injected_at_s: float
    recovered_at_s: float
    calls: int
    detected: bool = False
    detection: dict[str, Any] | None = None
    demoted: bool = False
    demotion: dict[str, Any] | None = None
    traffic_moved: bool = False
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    restored: bool = False
    restoration: dict[str, Any] | None = None
    probes: int = 0
    other_alarms: list[str] = field(default_factory=list)
    final_states: dict[str, str] = field(default_factory=dict)
    cost_usd: float = 0.0
    final_reason: str = ""
    traces_file: str | None = None

    @property
    def passed(self) -> bool:
        return self.detected and self.demoted and self.traffic_moved and self.restored

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def lines(self) -> list[str]:
        r = self.regressed
        out = [
            f"scenario: {self.scenario} on {r} ({self.regression}) from {self.injected_at_s:.1f} s to "
            f"{self.recovered_at_s:.1f} s of {self.duration_s:.0f} s; {self.calls} calls; router: {self.router}"
        ]
        d = self.detection
        detected = "no"
        if d:
            detected = (
                f"yes ({d['signal']} alarm on {d['stream']} at {d['at']:.1f} s, {d['delay_s']:.1f} s after "
                f"injection: {d['explanation']})"
            )
        out.append(f"regression detected: {detected}")
        m = self.demotion
        demoted = f"yes ({r} {m['old']} -> {m['new']} at {m['at']:.1f} s: {m['reason']})" if m else "no"
        out.append(f"provider demoted: {demoted}")
        s = self.shares
        parts = ", ".join(f"{s[p].get(r, 0.0) * 100:.0f} % {p}" for p in ("before", "during", "after") if p in s)
        out.append(f"traffic moved: {'yes' if self.traffic_moved else 'no'} ({r}'s share of requests: {parts})")
        x = self.restoration
        restored = f"no (final state {self.final_states.get(r, '?')}" + (
            f": {self.final_reason})" if self.final_reason else ")"
        )
        if self.restored and x:
            restored = (
                f"yes ({r} healthy again at {x['at']:.1f} s, {x['at'] - self.recovered_at_s:.1f} s after the "
                f"regression ended; {self.probes} probes)"
            )
        out.append(f"provider restored: {restored}")
        if self.other_alarms:
            out.append(f"other alarms: {len(self.other_alarms)} ({'; '.join(self.other_alarms[:3])})")
        out.append(f"cost of the run at list prices: ${self.cost_usd:.4f} (simulated, nothing spent)")
        if self.traces_file:
            out.append(f"traces: {self.traces_file} (OTLP JSON lines; try `routewatch replay {self.traces_file}`)")
        out.append(f"result: {'PASS' if self.passed else 'FAIL'}")
        return out


def summarise(summary: Summary, tally: Tally, states: dict[str, str]) -> Summary:
    """Fill the verdicts of `summary` from the run's events and routing counts."""
    r = summary.regressed
    events = list(tally.events)
    mine = [e for e in events if e.target == r]
    alarms = [e for e in mine if e.kind == "alarm" and e.at >= summary.injected_at_s]
    # an alarm the monitor itself marked as a traffic shift is not the provider's regression
    alarm = next((e for e in alarms if "traffic shift" not in e.text), None)
    if alarm is not None:
        signal, _, explanation = alarm.text.partition(": ")
        stream = next((t for t in tally.targets if t.name == r), None)
        summary.detected = True
        summary.detection = {
            "signal": signal,
            "stream": f"{stream.provider}/{stream.model}" if stream else r,
            "at": alarm.at,
            "delay_s": round(alarm.at - summary.injected_at_s, 2),
            "explanation": explanation,
        }
    moves = [e for e in mine if e.kind == "transition" and e.at >= summary.injected_at_s]
    # demoted: moved into a worse state after the injection (from healthy, or further down when a
    # noise alarm before the injection had already cost it some weight)
    demotion = next((e for e in moves if _worse(*_old_new(e)[:2])), None)
    if demotion is not None:
        old, new, reason = _old_new(demotion)
        summary.demoted = True
        summary.demotion = {"at": demotion.at, "old": old, "new": new, "reason": reason}
    back = [e for e in moves if demotion is not None and e.at > demotion.at and _old_new(e)[1] == _HEALTHY]
    if back and states.get(r) == _HEALTHY:
        summary.restored = True
        summary.restoration = {"at": back[-1].at, "reason": _old_new(back[-1])[2]}
    end = summary.duration_s + 60.0
    during_start = demotion.at if demotion else summary.injected_at_s
    during_end = back[0].at if back else (summary.recovered_at_s if demotion is None else end)
    after_start = back[-1].at if back else summary.recovered_at_s
    windows = {
        "before": (0.0, summary.injected_at_s),
        "during": (during_start, during_end),
        "after": (after_start, end),
    }
    counts = {}
    for label, (a, b) in windows.items():
        shares, n = tally.shares(a, b)
        summary.shares[label] = {k: round(v, 4) for k, v in shares.items()}
        counts[label] = n
    before, during = summary.shares["before"].get(r, 0.0), summary.shares["during"].get(r, 0.0)
    summary.traffic_moved = summary.demoted and counts["during"] > 0 and during < 0.5 * before
    summary.probes = tally.probes(r)
    summary.other_alarms = [
        f"{e.target} {e.text.split(': ')[0]}"
        + (" (traffic shift: nobody demoted)" if "traffic shift" in e.text else "")
        for e in events
        if e.kind == "alarm" and e.target != r
    ]
    summary.final_states = dict(states)
    return summary


_RANK = {"healthy": 0, "ramping": 1, "degraded": 2, "probing": 3, "ejected": 4}


def _worse(old: str, new: str) -> bool:
    return _RANK.get(new, 0) > _RANK.get(old, 0) and new in ("degraded", "ejected")


def _old_new(event: Event) -> tuple[str, str, str]:
    """A transition event's text is `old -> new: reason`."""
    head, _, reason = event.text.partition(": ")
    old, _, new = head.partition(" -> ")
    return old.strip(), new.strip(), reason
