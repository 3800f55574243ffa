"""Shadow traffic: mirrored in the background, compared and recorded, never felt by the caller."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from routewatch.router import Router
from routewatch.simulator import ProviderSettings, Scenario, Simulator

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def config(sim: Simulator, sample_rate: float = 1.0) -> dict[str, Any]:
    targets = [
        {"name": name, "provider": "openai", "model": f"model-{name}", "base_url": f"{sim.url}/{name}/v1",
         "timeout_s": 5.0}
        for name in ("live", "candidate")
    ]  # fmt: skip
    shadow = {"target": "candidate", "sample_rate": sample_rate, "max_concurrent": 2}
    return {"targets": targets, "tasks": {"default": {"strategy": "priority", "shadow": shadow}}}


def chat(client: Any, model: str) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES)


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_shadow_is_compared_without_delaying_the_caller(sim: Simulator) -> None:
    sim.set_scenario(Scenario(providers={"/candidate/v1": ProviderSettings(latency_s=1.0)}))
    router = Router(config(sim), rng=random.Random(1), listen=False)
    reply = router.run(chat)
    assert reply.model == "model-live"
    assert router.shadows.in_flight == 1  # the caller has its answer; the candidate is still thinking
    wait_for(lambda: len(router.shadows.recent) == 1)
    comparison = router.shadows.recent[0]
    assert (comparison.primary, comparison.shadow, comparison.shadow_ok) == ("live", "candidate", True)
    assert comparison.shadow_latency_s is not None and comparison.shadow_latency_s >= 1.0
    assert comparison.latency_ratio is not None
    assert "same_output" in comparison.details
    assert router.status()["candidate"]["shadow"]["compared"] == 1


def test_a_failing_shadow_never_affects_the_caller(sim: Simulator) -> None:
    sim.set_scenario(Scenario(providers={"/candidate/v1": ProviderSettings(faults={"http_500": 1.0})}))
    router = Router(config(sim), rng=random.Random(1), listen=False)
    for _ in range(3):
        assert router.run(chat).model == "model-live"
        wait_for(lambda: router.shadows.in_flight == 0)
    assert len(router.shadows.recent) == 3
    assert all(not c.shadow_ok and c.shadow_error == "500" for c in router.shadows.recent)
    assert router.status()["candidate"]["stats"]["errors"] == 3
    assert router.status()["live"]["stats"]["errors"] == 0


def test_shadow_concurrency_is_bounded(sim: Simulator) -> None:
    sim.set_scenario(Scenario(providers={"/candidate/v1": ProviderSettings(latency_s=2.0)}))
    router = Router(config(sim), rng=random.Random(1), listen=False)
    for _ in range(5):
        router.run(chat)
    assert router.shadows.in_flight == 2
    assert router.shadows.skipped_busy == 3
    wait_for(lambda: router.shadows.in_flight == 0)


def test_sample_rate_selects_a_share_of_requests(sim: Simulator) -> None:
    sim.set_scenario(Scenario())
    router = Router(config(sim, sample_rate=0.25), rng=random.Random(7), listen=False)
    for _ in range(40):
        router.run(chat)
    wait_for(lambda: router.shadows.in_flight == 0)
    sampled = len(router.shadows.recent) + router.shadows.skipped_busy  # busy slots skip, timing-dependent
    assert 3 <= sampled <= 18


def test_shadow_span_is_linked_to_the_routing_span(sim: Simulator, telemetry: Any) -> None:
    sim.set_scenario(Scenario())
    router = Router(config(sim), tracer_provider=telemetry.tracer_provider, rng=random.Random(1), listen=False)
    router.run(chat)
    wait_for(lambda: len(router.shadows.recent) == 1)
    wait_for(lambda: any(s.name == "routewatch.shadow default" for s in telemetry.spans()))
    spans = telemetry.spans()
    route = next(s for s in spans if s.name == "routewatch.route default")
    shadow = next(s for s in spans if s.name == "routewatch.shadow default")
    assert shadow.context.trace_id != route.context.trace_id
    assert [link.context.span_id for link in shadow.links] == [route.context.span_id]
    assert shadow.attributes["routewatch.shadow.target"] == "candidate"
    assert shadow.attributes["routewatch.shadow.ok"] is True


async def test_async_shadow_runs_as_a_background_task(sim: Simulator) -> None:
    import asyncio

    sim.set_scenario(Scenario(providers={"/candidate/v1": ProviderSettings(latency_s=0.3)}))
    router = Router(config(sim), rng=random.Random(1), listen=False)

    async def achat(client: Any, model: str) -> Any:
        return await client.chat.completions.create(model=model, messages=MESSAGES)

    reply = await router.arun(achat)
    assert reply.model == "model-live"
    assert router.shadows.in_flight == 1
    for _ in range(250):  # bounded: up to 5 s
        if router.shadows.recent:
            break
        await asyncio.sleep(0.02)
    (comparison,) = router.shadows.recent
    assert comparison.shadow_ok and comparison.shadow == "candidate"
