"""Router end to end: the real openai SDK against the provider simulator, faults on one target."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from routewatch.router import NoTargetAvailable, Router, TargetState
from routewatch.simulator import ProviderSettings, Scenario, Simulator

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _calm(sim: Simulator) -> Iterator[None]:
    sim.set_scenario(Scenario())
    yield
    sim.set_scenario(Scenario())


def fleet(sim: Simulator, **task: Any) -> dict[str, Any]:
    """Three openai-compatible targets on the simulator, told apart by route prefix."""
    targets = [
        {"name": name, "provider": "openai", "model": f"model-{name}", "base_url": f"{sim.url}/{name}/v1",
         "priority": i, "timeout_s": 2.0}
        for i, name in enumerate(("a", "b", "c"))
    ]  # fmt: skip
    return {"targets": targets, "tasks": {"default": {"strategy": "priority", **task}}}


def chat(client: Any, model: str) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES)


def faulty(sim: Simulator, target: str, **settings: Any) -> None:
    sim.set_scenario(Scenario(providers={f"/{target}/v1": ProviderSettings(**settings)}))


def served_by(sim: Simulator) -> list[str]:
    return [r.path.split("/")[1] for r in sim.requests]


def test_run_calls_the_preferred_target_through_the_sdk(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    sim.clear_requests()
    reply = router.run(chat, request={"messages": MESSAGES})
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert reply.model == "model-a"
    assert served_by(sim) == ["a"]


@pytest.mark.parametrize("fault", ["http_429", "http_500", "http_503", "http_529"])
def test_fails_over_on_rate_limits_and_server_errors(sim: Simulator, fault: str) -> None:
    faulty(sim, "a", faults={fault: 1.0}, retry_after_s=0)
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    sim.clear_requests()
    reply = router.run(chat)
    assert reply.model == "model-b"
    assert served_by(sim) == ["a", "b"]
    assert router.status()["a"]["stats"]["errors"] == 1


def test_fails_over_on_timeout(sim: Simulator) -> None:
    faulty(sim, "a", faults={"stall": 1.0}, stall_s=3.0)
    config = fleet(sim)
    config["targets"][0]["timeout_s"] = 0.2
    router = Router(config, rng=random.Random(1), listen=False)
    reply = router.run(chat)
    assert reply.model == "model-b"
    assert router.status()["a"]["stats"]["errors"] == 1


def test_fails_over_on_connection_error(sim: Simulator) -> None:
    config = fleet(sim)
    config["targets"][0]["base_url"] = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    router = Router(config, rng=random.Random(1), listen=False)
    assert router.run(chat).model == "model-b"


def test_client_errors_are_the_callers_and_do_not_fail_over(sim: Simulator) -> None:
    faulty(sim, "a", faults={"http_400": 1.0})
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    sim.clear_requests()
    with pytest.raises(openai.BadRequestError):
        router.run(chat)
    assert served_by(sim) == ["a"]


def test_the_callers_own_exception_propagates_unchanged(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)

    class Mine(Exception):
        pass

    def broken(client: Any, model: str) -> Any:
        raise Mine("app bug")

    with pytest.raises(Mine, match="app bug"):
        router.run(broken)
    assert router.status()["a"]["stats"]["calls"] == 0  # not the target's failure


def test_max_attempts_bounds_one_request(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(faults={"http_503": 1.0}, retry_after_s=0))
    router = Router(fleet(sim, max_attempts=2), rng=random.Random(1), listen=False)
    sim.clear_requests()
    with pytest.raises(openai.InternalServerError):
        router.run(chat)
    assert served_by(sim) == ["a", "b"]


def test_retry_budget_caps_failovers_under_a_storm(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(faults={"http_503": 1.0}, retry_after_s=0))
    config = fleet(sim, max_attempts=3)
    config["retry_budget"] = {"ratio": 0.2, "min_retries": 3, "window_s": 60}
    config["health"] = {"consecutive_failures": 1000}  # keep every target in rotation: only the budget acts
    router = Router(config, rng=random.Random(1), listen=False)
    sim.clear_requests()
    requests = 40
    for _ in range(requests):
        with pytest.raises(openai.InternalServerError):
            router.run(chat)
    sent = len(sim.requests)
    retries = sent - requests
    assert retries <= 3 + 0.2 * requests  # without the budget it would be 2 x 40
    assert retries >= 3
    assert router.retry_budget.denied > 0


def test_ejected_target_is_skipped_and_a_due_probe_goes_to_it(sim: Simulator) -> None:
    now = [1000.0]
    config = fleet(sim)
    config["health"] = {"consecutive_failures": 2, "base_ejection_s": 30, "probe_interval_s": 0}
    router = Router(config, rng=random.Random(1), listen=False, clock=lambda: now[0])
    faulty(sim, "a", faults={"http_503": 1.0}, retry_after_s=0)
    for _ in range(2):
        assert router.run(chat).model == "model-b"
    assert router.health.state("a") is TargetState.EJECTED
    sim.set_scenario(Scenario())
    sim.clear_requests()
    assert router.run(chat).model == "model-b"
    assert served_by(sim) == ["b"]
    now[0] += 31  # ejection over: probing
    choice = router.choose()
    assert (choice.target, choice.probe, choice.decision.reason) == ("a", True, "probe")


def test_honours_retry_after_by_skipping_the_target_meanwhile(sim: Simulator) -> None:
    now = [1000.0]
    faulty(sim, "a", faults={"http_429": 1.0}, retry_after_s=5)
    router = Router(fleet(sim), rng=random.Random(1), listen=False, clock=lambda: now[0])
    router.run(chat)
    sim.set_scenario(Scenario())
    choice = router.choose()
    assert choice.target == "b"
    assert ("a", "retry-after: 5.0 s left") in choice.decision.skipped
    now[0] += 6
    assert router.choose().target == "a"


def test_no_target_available_when_every_candidate_failed(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    with pytest.raises(NoTargetAvailable):
        router.choose(exclude=("a", "b", "c"))


def test_decision_span_carries_candidates_skips_and_failovers(sim: Simulator, telemetry: Any) -> None:
    faulty(sim, "a", faults={"http_503": 1.0}, retry_after_s=0)
    router = Router(fleet(sim), tracer_provider=telemetry.tracer_provider, rng=random.Random(1), listen=False)
    router.run(chat, task="summarise")
    spans = telemetry.spans()
    route = next(s for s in spans if s.name == "routewatch.route summarise")
    attrs = route.attributes
    assert attrs["routewatch.router.task"] == "summarise"
    assert attrs["routewatch.router.policy"] == "priority"
    assert attrs["routewatch.router.target"] == "b"
    assert attrs["routewatch.router.attempt"] == 2
    assert attrs["routewatch.router.probe"] is False
    candidates = json.loads(attrs["routewatch.router.candidates"])
    assert {c["target"] for c in candidates} == {"b", "c"}
    assert all({"state", "weight", "score"} <= set(c) for c in candidates)
    assert json.loads(attrs["routewatch.router.skipped"]) == [
        {"target": "a", "reason": "already failed in this request"}
    ]
    (event,) = [e for e in route.events if e.name == "routewatch.failover"]
    assert event.attributes["routewatch.router.target"] == "a"
    assert event.attributes["http.response.status_code"] == 503
    provider_spans = telemetry.genai_spans()
    assert len(provider_spans) == 2
    assert all(s.parent is not None and s.parent.span_id == route.context.span_id for s in provider_spans)


def test_instrumented_calls_feed_cost_and_quality_to_live_stats(sim: Simulator, telemetry: Any) -> None:
    import routewatch

    config = fleet(sim)
    config["targets"][0]["model"] = "gpt-4o-mini"  # priced by the genai-prices table
    router = Router(config, rng=random.Random(1))
    for _ in range(3):
        router.run(chat)
    routewatch.flush()
    stats = router.status()["a"]["stats"]
    assert stats["calls"] == 3
    assert stats["judged"] == 3 and stats["quality_failure_rate"] == 0.0
    router.close()


def test_update_swaps_config_atomically_and_keeps_health(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    faulty(sim, "a", faults={"http_503": 1.0}, retry_after_s=0)
    router.run(chat)
    assert router.status()["a"]["stats"]["errors"] == 1
    sim.set_scenario(Scenario())
    new = fleet(sim)
    new["targets"][0]["priority"] = 5  # a becomes the last resort
    new["targets"].pop(2)
    router.update(new)
    assert set(router.status()) == {"a", "b"}
    assert router.status()["a"]["stats"]["errors"] == 1
    assert router.run(chat).model == "model-b"


def test_bad_update_raises_and_keeps_the_old_config(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    bad = fleet(sim, targets=["a", "nope"])
    with pytest.raises(ValueError, match=r"tasks.default.targets\[1\]: unknown target 'nope'"):
        router.update(bad)
    assert router.run(chat).model == "model-a"


def test_choice_gives_client_and_model_and_learns_from_record(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)
    choice = router.choose({"messages": MESSAGES})
    assert (choice.target, choice.model, choice.task) == ("a", "model-a", "default")
    reply = chat(choice.client, choice.model)
    choice.record(ok=True, latency_s=0.01)
    assert reply.model == "model-a"
    assert router.status()["a"]["stats"]["calls"] == 1
    assert router.choose().client is choice.client  # built once per target


async def test_arun_fails_over_with_the_async_sdk(sim: Simulator) -> None:
    faulty(sim, "a", faults={"http_429": 1.0}, retry_after_s=0)
    router = Router(fleet(sim), rng=random.Random(1), listen=False)

    async def achat(client: Any, model: str) -> Any:
        return await client.chat.completions.create(model=model, messages=MESSAGES)

    reply = await router.arun(achat)
    assert reply.model == "model-b"


def test_latency_strategy_learns_from_its_own_outcomes(sim: Simulator) -> None:
    sim.set_scenario(Scenario(providers={"/a/v1": ProviderSettings(latency_s=0.2)}))
    config = fleet(sim, strategy="latency", explore=0.0)
    config["targets"] = config["targets"][:2]
    router = Router(config, rng=random.Random(1), listen=False)
    for _ in range(12):  # five warm-up calls each, then the faster one wins
        router.run(chat)
    sim.clear_requests()
    for _ in range(5):
        router.run(chat)
    assert served_by(sim) == ["b"] * 5
    assert router.status()["a"]["stats"]["p95_latency_s"] >= 0.2


def test_package_exports_are_sorted_and_reachable_from_routewatch() -> None:
    import routewatch
    import routewatch.router as package

    assert package.__all__ == sorted(package.__all__)
    assert routewatch.Router is Router
    assert routewatch.RouterConfig is package.RouterConfig
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_failover_events_never_carry_keys(sim: Simulator, telemetry: Any) -> None:
    import httpx

    router = Router(fleet(sim), tracer_provider=telemetry.tracer_provider, rng=random.Random(1), listen=False)

    def leaky(client: Any, model: str) -> Any:
        if model == "model-a":  # a network error that quotes a URL with its key
            raise httpx.ConnectError("cannot reach https://gw.example/v1?key=AIzaSyA-secret-key-material-123456")
        return chat(client, model)

    assert router.run(leaky).model == "model-b"
    route = next(s for s in telemetry.spans() if s.name.startswith("routewatch.route"))
    (event,) = [e for e in route.events if e.name == "routewatch.failover"]
    assert "cannot reach https://gw.example/v1?key=[REDACTED]" in event.attributes["exception.message"]
    text = json.dumps([dict(e.attributes or {}) for e in route.events]) + json.dumps(dict(route.attributes or {}))
    assert "secret-key-material" not in text


def test_a_failed_probe_never_costs_the_caller_an_attempt(sim: Simulator) -> None:
    now = [1000.0]
    config = fleet(sim, max_attempts=1)
    config["health"] = {"consecutive_failures": 1, "base_ejection_s": 30, "probe_interval_s": 0}
    router = Router(config, rng=random.Random(1), listen=False, clock=lambda: now[0])
    faulty(sim, "a", faults={"http_503": 1.0}, retry_after_s=0)
    with pytest.raises(openai.InternalServerError):
        router.run(chat)  # one attempt allowed, and it failed: the caller sees the error
    assert router.health.state("a") is TargetState.EJECTED
    now[0] += 31
    sim.clear_requests()
    assert router.run(chat).model == "model-b"  # the probe to a failed; the request still got its one attempt
    assert served_by(sim) == ["a", "b"]


def test_run_refuses_an_async_function_with_a_pointer_to_arun(sim: Simulator) -> None:
    router = Router(fleet(sim), rng=random.Random(1), listen=False)

    async def achat(client: Any, model: str) -> Any:
        return None

    with pytest.raises(TypeError, match="arun"):
        router.run(achat)
