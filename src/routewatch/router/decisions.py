"""Routing decisions as values and as telemetry: what was considered, what was skipped and why,
what was chosen. One `Decision` per attempt; the request's `routewatch.route <task>` span carries
the last one as attributes, every attempt's as a `routewatch.decision` event (so a failover loses
none), every failover as a `routewatch.failover` event, and their count as `.failovers`.

Candidate and skip lists are compact JSON strings (OTel attributes cannot nest), bounded in length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span

from ..redact import scrub
from .budget import Failure
from .policies import Candidate

__all__ = ["ATTR", "DECISION_EVENT", "FAILOVER_EVENT", "Decision", "annotate", "failover_event"]

DECISION_EVENT = "routewatch.decision"
FAILOVER_EVENT = "routewatch.failover"

_MAX_JSON = 4_000


class ATTR:
    """Span attribute names of the routing span (one place, as with semconv)."""

    ROUTER = "routewatch.router.name"
    TASK = "routewatch.router.task"
    POLICY = "routewatch.router.policy"
    CANDIDATES = "routewatch.router.candidates"
    SKIPPED = "routewatch.router.skipped"
    TARGET = "routewatch.router.target"
    ATTEMPT = "routewatch.router.attempt"
    PROBE = "routewatch.router.probe"
    REASON = "routewatch.router.reason"
    FAILOVERS = "routewatch.router.failovers"
    PROVIDER = "gen_ai.provider.name"
    MODEL = "gen_ai.request.model"


@dataclass
class Decision:
    """One routing decision: where attempt `attempt` of a `task` request goes, and why."""

    task: str
    policy: str
    attempt: int
    candidates: list[Candidate]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (target, why)
    chosen: Candidate | None = None
    reason: str = ""  # strategy name, "canary", "probe", "explore", "panic"
    probe: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "policy": self.policy,
            "attempt": self.attempt,
            "candidates": [c.as_dict() for c in self.candidates],
            "skipped": [{"target": t, "reason": r} for t, r in self.skipped],
            "chosen": self.chosen.name if self.chosen is not None else None,
            "reason": self.reason,
            "probe": self.probe,
        }


def _compact(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_JSON else text[: _MAX_JSON - 3] + "..."


def annotate(span: Span, decision: Decision, router: str, failovers: int) -> None:
    """Write the decision onto the routing span (the latest attempt's wins) and add it as an event."""
    if not span.is_recording():
        return
    attributes = _attributes(decision)
    span.add_event(DECISION_EVENT, attributes)
    span.set_attributes({**attributes, ATTR.ROUTER: router, ATTR.TASK: decision.task, ATTR.POLICY: decision.policy,
                         ATTR.FAILOVERS: failovers})  # fmt: skip


def _attributes(decision: Decision) -> dict[str, Any]:
    chosen = decision.chosen
    attributes: dict[str, Any] = {
        ATTR.CANDIDATES: _compact([c.as_dict() for c in decision.candidates]),
        ATTR.SKIPPED: _compact([{"target": t, "reason": r} for t, r in decision.skipped]),
        ATTR.ATTEMPT: decision.attempt,
        ATTR.PROBE: decision.probe,
        ATTR.REASON: decision.reason,
    }
    if chosen is not None:
        attributes[ATTR.TARGET] = chosen.name
        attributes[ATTR.PROVIDER] = chosen.target.provider
        attributes[ATTR.MODEL] = chosen.target.model
    return attributes


def failover_event(span: Span, target: str, attempt: int, failure: Failure, message: str, failovers: int) -> None:
    """A `routewatch.failover` span event: which target failed, how, and that another will be tried;
    `failovers` (the request's count so far) goes on the span."""
    if span.is_recording():
        attributes = {ATTR.TARGET: target, ATTR.ATTEMPT: attempt, "exception.message": scrub(message)[:500],
                      **failure.as_attributes()}  # fmt: skip
        span.add_event(FAILOVER_EVENT, attributes)
        span.set_attribute(ATTR.FAILOVERS, failovers)
