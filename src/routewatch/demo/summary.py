"""The demo's verdict: was the regression detected, the provider demoted, traffic moved away, the provider
restored once the regression ended, and did its traffic come back?

Each answer is computed from what happened (alarms, router transitions, routed requests), never
assumed, and printed as one `question: yes|no (evidence)` line so a test or a script can check it.
A detection is an alarm on one of the signals the regression moves (`Regression.expected_signals`);
shares count ordinary requests only (a probe is the router's choice, not traffic moving).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .tally import Event, Tally

__all__ = ["Summary", "summarise"]

_HEALTHY = "healthy"
_MIN_AFTER = 30  # ordinary requests after the restoration before a share is worth judging
_RETURNED = 0.6  # of the share before the injection: back, give or take the weighted draw's noise


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
    traffic_returned: bool = False
    probes: int = 0
    other_alarms: list[str] = field(default_factory=list)
    final_states: dict[str, str] = field(default_factory=dict)
    cost_usd: float = 0.0
    final_reason: str = ""
    traces_file: str | None = None
    expected_signals: tuple[str, ...] = ()  # empty: any alarm on the regressed provider counts
    requests: dict[str, int] = field(default_factory=dict)  # ordinary requests in each share window

    @property
    def passed(self) -> bool:
        return self.detected and self.demoted and self.traffic_moved and self.restored and self.traffic_returned

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
        elif self.expected_signals:
            detected = f"no (no {' or '.join(self.expected_signals)} alarm on {r} after the injection)"
        out.append(f"regression detected: {detected}")
        m = self.demotion
        demoted = f"yes ({r} {m['old']} -> {m['new']} at {m['at']:.1f} s: {m['reason']})" if m else "no"
        out.append(f"provider demoted: {demoted}")
        s = self.shares
        parts = ", ".join(f"{s[p].get(r, 0.0) * 100:.0f} % {p}" for p in ("before", "during", "after") if p in s)
        out.append(f"traffic moved: {'yes' if self.traffic_moved else 'no'} ({r}'s share of requests: {parts})")
        x = self.restoration
        final = self.final_states.get(r, "?")
        restored = f"no (final state {final}" + (f": {self.final_reason})" if self.final_reason else ")")
        if self.restored and x:
            again = x.get("demoted_again")
            later = f"; demoted again at {again['at']:.1f} s: {again['reason']}" if again else ""
            restored = (
                f"yes ({r} healthy again at {x['at']:.1f} s, {x['at'] - self.recovered_at_s:.1f} s after the "
                f"regression ended; {self.probes} probes{later})"
            )
        elif x and x["at"] < self.recovered_at_s:
            restored = f"no (healthy again at {x['at']:.1f} s, before the regression ended; final state {final})"
        out.append(f"provider restored: {restored}")
        before, after = s.get("before", {}).get(r, 0.0), s.get("after", {}).get(r, 0.0)
        n_after = self.requests.get("after", 0)
        back = "yes" if self.traffic_returned else "no"
        if not self.restored:
            out.append(f"traffic returned: no ({r} was not restored)")
        else:
            out.append(
                f"traffic returned: {back} ({r}'s share {after * 100:.0f} % of {n_after} requests after its "
                f"restoration, {before * 100:.0f} % before the injection)"
            )
        if self.other_alarms:
            shown = self.other_alarms[:3]
            more = len(self.other_alarms) - len(shown)
            listed = "; ".join(shown) + (f"; and {more} more" if more else "")
            out.append(f"other alarms: {len(self.other_alarms)} ({listed})")
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
    # an alarm the monitor itself marked as a traffic shift is not the provider's regression, nor is
    # one on a signal this regression does not move
    expected = summary.expected_signals
    alarm = next(
        (e for e in alarms if "traffic shift" not in e.text and (not expected or _signal(e) in expected)), None
    )
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
    # restored: healthy again once the regression was over (a restoration while the provider still
    # regressed is the router giving up, not a recovery); a later demotion, e.g. by a busy host's
    # latency noise, is reported but does not undo it
    after_recovery = [e for e in back if e.at >= summary.recovered_at_s]
    restoration = after_recovery[0] if after_recovery else (back[-1] if back else None)
    summary.restored = bool(after_recovery)
    again = None
    if restoration is not None:
        summary.restoration = {"at": restoration.at, "reason": _old_new(restoration)[2]}
        again = next((e for e in moves if e.at > restoration.at and _worse(*_old_new(e)[:2])), None)
        if again is not None:
            summary.restoration["demoted_again"] = {"at": again.at, "reason": _old_new(again)[2]}
    end = summary.duration_s + 60.0
    during_start = demotion.at if demotion else summary.injected_at_s
    during_end = min(back[0].at if back else end, summary.recovered_at_s)
    # after: from the restoration until the end, or until it was demoted again
    after_start = restoration.at if restoration is not None else summary.recovered_at_s
    after_end = again.at if again is not None else end
    windows = {
        "before": (0.0, summary.injected_at_s),
        "during": (during_start, during_end),
        "after": (after_start, after_end),
    }
    counts = summary.requests
    for label, (a, b) in windows.items():
        shares, n = tally.shares(a, b)
        summary.shares[label] = {k: round(v, 4) for k, v in shares.items()}
        counts[label] = n
    before, during = summary.shares["before"].get(r, 0.0), summary.shares["during"].get(r, 0.0)
    after = summary.shares["after"].get(r, 0.0)
    summary.traffic_moved = summary.demoted and counts["during"] > 0 and during < 0.5 * before
    summary.traffic_returned = summary.restored and counts["after"] >= _MIN_AFTER and after >= _RETURNED * before
    summary.probes = tally.probes(r)
    summary.other_alarms = [
        f"{e.target} {_signal(e)}" + (" (traffic shift: nobody demoted)" if "traffic shift" in e.text else "")
        for e in events
        if e.kind == "alarm" and e is not alarm
    ]
    summary.final_states = dict(states)
    return summary


_RANK = {"healthy": 0, "ramping": 1, "degraded": 2, "probing": 3, "ejected": 4}


def _worse(old: str, new: str) -> bool:
    return _RANK.get(new, 0) > _RANK.get(old, 0) and new in ("degraded", "ejected")


def _signal(event: Event) -> str:
    """An alarm event's text is `signal: explanation`."""
    return event.text.partition(": ")[0]


def _old_new(event: Event) -> tuple[str, str, str]:
    """A transition event's text is `old -> new: reason`."""
    head, _, reason = event.text.partition(": ")
    old, _, new = head.partition(" -> ")
    return old.strip(), new.strip(), reason
