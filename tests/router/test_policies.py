"""Selection statistics of every strategy, with seeded randomness and bounded loops."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from routewatch.router import Router
from routewatch.router.config import Target, TaskPolicy
from routewatch.router.policies import Candidate, meets_objectives, select
from routewatch.router.stats import TargetStats

N = 4_000


def cand(name: str, *, weight: float = 1.0, priority: int = 0, factor: float = 1.0, **more: Any) -> Candidate:
    target = Target(name=name, provider="openai", model=name, weight=weight, priority=priority)
    return Candidate(target, "healthy" if factor == 1 else "degraded", factor, **more)


def shares(policy: TaskPolicy, candidates: list[Candidate], *, bucket: int = 0, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    for _ in range(N):
        selection = select(policy, candidates, rng, bucket=bucket)
        assert selection is not None
        counts[selection.candidate.name] += 1
    return {name: counts[name] / N for name in (c.name for c in candidates)}


def test_weighted_follows_configured_weights() -> None:
    got = shares(TaskPolicy(strategy="weighted"), [cand("a", weight=3), cand("b", weight=1)])
    assert got["a"] == pytest.approx(0.75, abs=0.03)


def test_weighted_follows_effective_weights_under_demotion() -> None:
    got = shares(TaskPolicy(strategy="weighted"), [cand("a", factor=0.25), cand("b")])
    assert got["a"] == pytest.approx(0.2, abs=0.03)


def test_priority_sends_everything_to_a_healthy_first_level() -> None:
    got = shares(TaskPolicy(strategy="priority"), [cand("a"), cand("b", priority=1)])
    assert got == {"a": 1.0, "b": 0.0}


def test_priority_spills_a_demoted_share_to_the_next_level() -> None:
    # Level 0 health = 1.4 x 0.5 = 0.7: 70 % stays, 30 % spills over.
    got = shares(TaskPolicy(strategy="priority"), [cand("a", factor=0.5), cand("b", priority=1)])
    assert got["a"] == pytest.approx(0.7, abs=0.03)


def test_priority_with_nothing_left_in_the_first_level_uses_the_second() -> None:
    got = shares(TaskPolicy(strategy="priority"), [cand("a", factor=0.0), cand("b", priority=1), cand("c", priority=1)])
    assert got["a"] == 0 and got["b"] == pytest.approx(0.5, abs=0.03)


def test_cost_picks_the_cheapest_target_meeting_objectives() -> None:
    policy = TaskPolicy(strategy="cost", explore=0.0)
    got = shares(policy, [cand("dear", cost_usd=0.01), cand("cheap", cost_usd=0.001), cand("mid", cost_usd=0.005)])
    assert got["cheap"] == 1.0


def test_cost_skips_a_cheap_target_that_misses_the_latency_objective() -> None:
    policy = TaskPolicy(strategy="cost", explore=0.0, objectives={"max_p95_latency_s": 2.0, "min_samples": 20})
    slow = TargetStats(calls=50, errors=0, error_rate=0.0, p95_latency_s=5.0)
    candidates = [cand("cheap", cost_usd=0.001, stats=slow), cand("dear", cost_usd=0.01)]
    assert shares(policy, candidates)["dear"] == 1.0
    assert "misses objective: p95 latency 5.000 s > 2 s" in candidates[0].note


def test_cost_gives_a_target_with_few_samples_the_benefit_of_the_doubt() -> None:
    policy = TaskPolicy(strategy="cost", explore=0.0, objectives={"max_p95_latency_s": 2.0, "min_samples": 20})
    slow_but_unproven = TargetStats(calls=5, errors=0, error_rate=0.0, p95_latency_s=5.0)
    got = shares(policy, [cand("cheap", cost_usd=0.001, stats=slow_but_unproven), cand("dear", cost_usd=0.01)])
    assert got["cheap"] == 1.0


def test_cost_demoted_cheapest_keeps_only_its_weight_factor() -> None:
    policy = TaskPolicy(strategy="cost", explore=0.0)
    got = shares(policy, [cand("cheap", cost_usd=0.001, factor=0.3), cand("dear", cost_usd=0.01)])
    assert got["cheap"] == pytest.approx(0.3, abs=0.03)


def test_cost_explores_a_small_share() -> None:
    policy = TaskPolicy(strategy="cost", explore=0.05)
    got = shares(policy, [cand("cheap", cost_usd=0.001), cand("dear", cost_usd=0.01)])
    assert got["dear"] == pytest.approx(0.05, abs=0.015)


def test_cost_ranks_unpriced_targets_last() -> None:
    got = shares(TaskPolicy(strategy="cost", explore=0.0), [cand("unknown"), cand("priced", cost_usd=1.0)])
    assert got["priced"] == 1.0


def test_objectives_cover_errors_and_quality() -> None:
    objectives = TaskPolicy(objectives={"max_error_rate": 0.05, "max_quality_failure_rate": 0.02}).objectives
    assert meets_objectives(TargetStats(calls=100, errors=10, error_rate=0.1), objectives) == "error rate 0.100 > 0.05"
    judged = TargetStats(calls=100, errors=0, error_rate=0.0, judged=100, quality_failure_rate=0.1)
    assert meets_objectives(judged, objectives) == "quality failure rate 0.100 > 0.02"
    assert meets_objectives(TargetStats(calls=100, errors=1, error_rate=0.01), objectives) is None


def ttft(bucket: int, p95: float, n: int = 50) -> TargetStats:
    return TargetStats(calls=n, errors=0, error_rate=0.0, p95_latency_s=p95, ttft_p95_s={bucket: p95},
                       ttft_samples={bucket: n})  # fmt: skip


def test_latency_picks_the_fastest_time_to_first_token_in_the_bucket() -> None:
    policy = TaskPolicy(strategy="latency", explore=0.0)
    short_fast = cand("a", stats=TargetStats(calls=100, error_rate=0.0, p95_latency_s=1.0,
                                             ttft_p95_s={0: 0.2, 2: 3.0}, ttft_samples={0: 50, 2: 50}))  # fmt: skip
    long_fast = cand("b", stats=TargetStats(calls=100, error_rate=0.0, p95_latency_s=1.0,
                                            ttft_p95_s={0: 0.4, 2: 1.0}, ttft_samples={0: 50, 2: 50}))  # fmt: skip
    assert shares(policy, [short_fast, long_fast], bucket=0)["a"] == 1.0
    assert shares(policy, [short_fast, long_fast], bucket=2)["b"] == 1.0


def test_latency_warms_up_targets_without_samples_first() -> None:
    policy = TaskPolicy(strategy="latency", explore=0.0)
    got = shares(policy, [cand("known", stats=ttft(0, 0.1)), cand("new")])
    assert got["new"] == 1.0


def test_latency_never_prefers_a_target_that_only_fails() -> None:
    policy = TaskPolicy(strategy="latency", explore=0.0)
    failing = TargetStats(calls=20, errors=20, error_rate=1.0)
    got = shares(policy, [cand("broken", stats=failing), cand("ok", stats=ttft(0, 2.0))])
    assert got["ok"] == 1.0


def test_no_candidate_with_weight_is_no_selection() -> None:
    for strategy in ("priority", "weighted", "cost", "latency"):
        assert select(TaskPolicy(strategy=strategy), [cand("a", factor=0.0)], random.Random(1)) is None


def router(**task: Any) -> Router:
    targets = [{"name": n, "provider": "openai", "model": n, "base_url": "http://127.0.0.1:9/v1"} for n in "abc"]
    return Router({"targets": targets, "tasks": {"default": task}}, rng=random.Random(3), listen=False)


def test_canary_takes_its_percentage() -> None:
    r = router(strategy="weighted", targets=["a", "b"], canary={"target": "c", "percent": 10})
    counts = Counter(r.choose().target for _ in range(2_000))
    assert counts["c"] / 2_000 == pytest.approx(0.10, abs=0.02)
    assert counts["a"] / 2_000 == pytest.approx(0.45, abs=0.04)


def test_a_demoted_canary_gets_proportionally_less() -> None:
    r = router(strategy="weighted", targets=["a", "b"], canary={"target": "c", "percent": 20})
    for _ in range(5):
        r.health.on_result("c", ok=False, status_code=503)  # ejected after 5 hard failures
    assert all(r.choose().target != "c" for _ in range(500))


def test_router_skips_ejected_targets_and_explains() -> None:
    r = router(strategy="weighted")
    for _ in range(5):
        r.health.on_result("a", ok=False, status_code=503)
    choices = [r.choose() for _ in range(300)]
    assert {c.target for c in choices} == {"b", "c"}
    (skip,) = choices[0].decision.skipped
    assert skip[0] == "a" and skip[1].startswith("ejected: 5 consecutive 503s")


def test_cost_strategy_prices_targets_from_the_genai_prices_table() -> None:
    targets = [
        {"name": "big", "provider": "openai", "model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1"},
        {"name": "small", "provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"},
        {"name": "own", "provider": "vllm", "model": "local-model", "base_url": "http://127.0.0.1:9/v1",
         "prices": {"input_per_mtok": 5.0, "output_per_mtok": 20.0}},
    ]  # fmt: skip
    config = {"targets": targets, "tasks": {"default": {"strategy": "cost", "explore": 0.0}}}
    choice = Router(config, rng=random.Random(1), listen=False).choose()
    assert choice.target == "small"
    scores = {c.name: c.score for c in choice.decision.candidates}
    assert scores["small"] < scores["big"]
    assert scores["own"] == pytest.approx((1_000 * 5.0 + 250 * 20.0) / 1e6)


def test_async_choice_hands_out_an_async_client() -> None:
    import openai

    choice = router(strategy="weighted").choose(asynchronous=True)
    assert isinstance(choice.client, openai.AsyncOpenAI)
