"""Selection strategies: pure functions from scored candidates and a random source to one choice.

Every strategy reads a candidate's *effective weight* (configured weight x health weight factor), so a
demoted target loses traffic in proportion to its demotion under any strategy, and ejected targets
(factor 0) get none. Each strategy writes the figure it ranked by into `Candidate.score`, which the
decision span reports.

- `priority`: Envoy-style priority levels. A level's health is overprovision x (effective / configured
  weight), capped at 1; the level takes that share of traffic and the rest spills to the next level.
- `weighted`: random by effective weight.
- `cost`: cheapest expected cost among targets meeting the objectives, accepted with probability
  equal to its weight factor (else the next cheapest); `explore` of the traffic goes elsewhere so
  every target's statistics stay fresh.
- `latency`: like `cost`, ranked by time-to-first-token p95 in the request's prompt-length bucket.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Objectives, Target, TaskPolicy
from .stats import TargetStats

__all__ = ["WARMUP_SAMPLES", "Candidate", "Selection", "expected_cost", "meets_objectives", "score", "select"]

WARMUP_SAMPLES = 5  # below this a target's latency is unknown, and it is tried first to learn it


@dataclass
class Candidate:
    """A target as the decision sees it."""

    target: Target
    state: str
    factor: float
    stats: TargetStats = field(default_factory=TargetStats)
    cost_usd: float | None = None  # expected cost of one request, None when unpriced
    score: float | None = None
    note: str = ""

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def weight(self) -> float:
        return self.target.weight * self.factor

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.name, "state": self.state, "weight": round(self.weight, 4)}
        if self.score is not None:
            out["score"] = round(self.score, 6) if math.isfinite(self.score) else str(self.score)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Selection:
    candidate: Candidate
    reason: str  # "priority", "weighted", "cost", "latency", "explore"


def _weighted(candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
    total = sum(c.weight for c in candidates)
    if total <= 0:
        return None
    draw = rng.random() * total
    for candidate in candidates:
        draw -= candidate.weight
        if draw < 0:
            return candidate
    return next(c for c in reversed(candidates) if c.weight > 0)


def _score_weighted(candidates: Sequence[Candidate]) -> None:
    total = sum(c.weight for c in candidates)
    for candidate in candidates:
        candidate.score = candidate.weight / total if total > 0 else 0.0


def select_weighted(candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
    _score_weighted(candidates)
    return _weighted(candidates, rng)


def _priority_shares(
    candidates: Sequence[Candidate], overprovision: float
) -> list[tuple[float, list[Candidate], float]]:
    """(share of traffic, members, effective weight) per priority level, best first; scores each candidate."""
    levels: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        levels.setdefault(candidate.target.priority, []).append(candidate)
    remaining, shares = 1.0, []
    for level in sorted(levels):
        members = levels[level]
        configured = sum(c.target.weight for c in members)
        effective = sum(c.weight for c in members)
        health = min(1.0, overprovision * effective / configured) if configured > 0 else 0.0
        share = min(remaining, health)
        remaining -= share
        shares.append((share, members, effective))
    total = sum(s for s, _, _ in shares)
    for share, members, effective in shares:
        for c in members:
            c.score = (share / total) * (c.weight / effective) if total > 0 and effective > 0 else 0.0
    return shares


def select_priority(candidates: Sequence[Candidate], rng: random.Random, overprovision: float) -> Candidate | None:
    shares = _priority_shares(candidates, overprovision)
    total = sum(s for s, _, _ in shares)
    if total <= 0:
        return None
    draw = rng.random() * total
    for share, members, _ in shares:
        if draw < share:
            return _weighted(members, rng)
        draw -= share
    return _weighted(next(m for s, m, _ in reversed(shares) if s > 0), rng)


def expected_cost(target: Target, stats: TargetStats, policy: TaskPolicy, table_cost: float | None) -> float | None:
    """Live mean cost once a few priced calls were seen, else the configured or table price."""
    if stats.mean_cost_usd is not None and stats.priced >= WARMUP_SAMPLES:
        return stats.mean_cost_usd
    if target.prices is not None:
        p = target.prices
        tokens_in, tokens_out = policy.expected_input_tokens, policy.expected_output_tokens
        return (tokens_in * p.input_per_mtok + tokens_out * p.output_per_mtok) / 1e6
    return table_cost


def meets_objectives(stats: TargetStats, objectives: Objectives) -> str | None:
    """None when the target meets every objective (or has too few samples to say), else why not."""
    enough = stats.calls >= objectives.min_samples
    if enough and objectives.max_error_rate is not None and (stats.error_rate or 0.0) > objectives.max_error_rate:
        return f"error rate {stats.error_rate:.3f} > {objectives.max_error_rate:g}"
    p95 = stats.p95_latency_s
    if enough and objectives.max_p95_latency_s is not None and p95 is not None and p95 > objectives.max_p95_latency_s:
        return f"p95 latency {p95:.3f} s > {objectives.max_p95_latency_s:g} s"
    q, limit = stats.quality_failure_rate, objectives.max_quality_failure_rate
    if stats.judged >= objectives.min_samples and limit is not None and q is not None and q > limit:
        return f"quality failure rate {q:.3f} > {limit:g}"
    return None


def _cascade(ranked: Sequence[Candidate], rng: random.Random) -> Candidate | None:
    """The best-ranked target, accepted with probability equal to its weight factor, else the next."""
    for candidate in ranked:
        if candidate.weight > 0 and rng.random() < candidate.factor:
            return candidate
    return next((c for c in ranked if c.weight > 0), None)


def _ranked_select(
    candidates: Sequence[Candidate], rng: random.Random, explore: float, key: Callable[[Candidate], tuple[Any, ...]]
) -> tuple[Candidate | None, str]:
    ranked = sorted(candidates, key=key)
    routable = [c for c in ranked if c.weight > 0]
    if len(routable) > 1 and explore > 0 and rng.random() < explore:
        return _weighted(routable[1:], rng), "explore"
    return _cascade(ranked, rng), ""


def _score_cost(candidates: Sequence[Candidate], policy: TaskPolicy) -> None:
    for c in candidates:
        c.score = c.cost_usd if c.cost_usd is not None else math.inf
        failing = meets_objectives(c.stats, policy.objectives)
        if failing:
            c.note = f"misses objective: {failing}"
        elif c.cost_usd is None:
            c.note = "unpriced"


def select_cost(
    candidates: Sequence[Candidate], rng: random.Random, policy: TaskPolicy
) -> tuple[Candidate | None, str]:
    _score_cost(candidates, policy)
    order = {c.name: i for i, c in enumerate(candidates)}
    return _ranked_select(candidates, rng, policy.explore,
                          lambda c: (bool(c.note.startswith("misses")), c.score, order[c.name]))  # fmt: skip


def _score_latency(candidates: Sequence[Candidate], bucket: int) -> None:
    for c in candidates:
        s = c.stats
        if s.ttft_samples.get(bucket, 0) >= WARMUP_SAMPLES:
            c.score = s.ttft_p95_s[bucket]
        elif s.calls < WARMUP_SAMPLES:
            c.score, c.note = -1.0, "warming up"
        elif s.p95_latency_s is not None:
            c.score, c.note = s.p95_latency_s, "no bucket samples; overall p95"
        else:
            c.score, c.note = math.inf, "no successful calls"


def select_latency(
    candidates: Sequence[Candidate], rng: random.Random, policy: TaskPolicy, bucket: int
) -> tuple[Candidate | None, str]:
    _score_latency(candidates, bucket)
    order = {c.name: i for i, c in enumerate(candidates)}
    return _ranked_select(candidates, rng, policy.explore, lambda c: (c.score, order[c.name]))


def score(policy: TaskPolicy, candidates: Sequence[Candidate], *, bucket: int = 0) -> None:
    """Write the strategy's ranking figure into each candidate without choosing (no random draw), for
    decisions taken before the strategy runs (a probe, a canary), so their spans still show the ranking."""
    strategy = policy.strategy
    if strategy == "priority":
        _priority_shares(candidates, policy.overprovision)
    elif strategy == "weighted":
        _score_weighted(candidates)
    elif strategy == "cost":
        _score_cost(candidates, policy)
    else:
        _score_latency(candidates, bucket)


def select(
    policy: TaskPolicy, candidates: Sequence[Candidate], rng: random.Random, *, bucket: int = 0
) -> Selection | None:
    """Run the policy's strategy; None when no candidate has weight left."""
    strategy = policy.strategy
    reason: str = strategy
    if strategy == "priority":
        chosen = select_priority(candidates, rng, policy.overprovision)
    elif strategy == "weighted":
        chosen = select_weighted(candidates, rng)
    elif strategy == "cost":
        chosen, extra = select_cost(candidates, rng, policy)
        reason = extra or reason
    else:
        chosen, extra = select_latency(candidates, rng, policy, bucket)
        reason = extra or reason
    return Selection(chosen, reason) if chosen is not None else None
