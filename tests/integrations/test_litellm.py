"""attach_litellm: the health state machine driving a real LiteLLM Router whose deployments are the
provider simulator on loopback. One deployment gets a fault; alarms and failures exclude or weight it
down, probes bring it back through a slow start."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: never fetch from the internet

import asyncio
import contextlib
import random
import time
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, ClassVar

import litellm
import pytest

import routewatch
from routewatch.classify import RouteTable
from routewatch.drift import DriftMonitor, MonitorConfig
from routewatch.integrations.litellm import LiteLLMFeedback, attach_litellm, deployment_target, deployments_of
from routewatch.router import HealthPolicy, TargetState
from routewatch.router.probes import SyntheticProber
from routewatch.simulator import ProviderSettings, Scenario, Simulator

MESSAGES = [{"role": "user", "content": "hi"}]


class Clock:
    def __init__(self) -> None:
        self.now = 3_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def router(sim: Simulator) -> Iterator[Any]:
    """Two deployments of one model group, 'east' and 'west', on separate simulator route prefixes.
    LiteLLM's own cooldown is off so each test sees routewatch's decisions alone."""
    sim.set_scenario(Scenario())
    sim.clear_requests()
    model_list = [
        {"model_name": "chat", "model_info": {"id": name},
         "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": f"{sim.url}/{name}/v1", "api_key": "sk-test"}}
        for name in ("east", "west")
    ]  # fmt: skip
    yield litellm.Router(model_list=model_list, num_retries=0, disable_cooldowns=True)


@pytest.fixture
def monitor() -> DriftMonitor:
    return DriftMonitor(MonitorConfig(detector_overrides={"latency": {"warm_up": 40}}), sinks=[])


def providers(sim: Simulator) -> dict[str, str]:
    return {f"{sim.url}/east/v1": "east", f"{sim.url}/west/v1": "west"}


def calls(router: Any, n: int, clock: Clock | None = None, step_s: float = 0.0) -> list[str]:
    """Send n chat calls; the id of the deployment that answered each (or 'error:<status>')."""

    async def run() -> list[str]:
        served: list[str] = []
        for _ in range(n):
            try:
                reply = await router.acompletion(model="chat", messages=MESSAGES)
                served.append(reply._hidden_params["model_id"])
            except Exception as exc:
                served.append(f"error:{getattr(exc, 'status_code', type(exc).__name__)}")
            if clock is not None:
                clock.now += step_s
        await asyncio.sleep(0.05)  # let LiteLLM's logging tasks (our result hooks) finish on this loop
        return served

    return asyncio.run(run())


def send_until_ejected(router: Any, feedback: Any, rounds: int, batch: int = 5) -> None:
    """Send batches of calls until routewatch ejects "east" (at most `rounds` batches)."""
    for _ in range(rounds):
        calls(router, batch)
        if feedback.health.state("east") is TargetState.EJECTED:
            return


def hold_in_cooldown(cooldowns: Any, deployment_id: str, seconds: float) -> None:
    """Put a deployment in LiteLLM's cooldown for `seconds`, and wait until that entry is the one that
    holds: LiteLLM records the failures' own short cooldowns from its logging tasks, and one that lags
    behind on a busy machine would otherwise replace this entry with its 0.5 s."""
    deadline = time.monotonic() + 10
    while True:
        cooldowns.add_deployment_to_cooldown(deployment_id, Exception("held by the test"), 503, cooldown_time=seconds)
        time.sleep(0.3)
        held = [value for _, value in cooldowns.get_active_cooldowns([deployment_id], None)]
        if (held and held[0]["cooldown_time"] == seconds) or time.monotonic() > deadline:
            return


def paths(sim: Simulator) -> list[str]:
    return [r.path.split("/")[1] for r in sim.requests if r.path.endswith("/chat/completions")]


def deployments(router: Any) -> list[dict[str, Any]]:
    return router.registry().all()  # type: ignore[no-any-return]  # LiteLLM 1.110: model_list is deprecated


def weights(router: Any) -> dict[str, Any]:
    return {d["model_info"]["id"]: d["litellm_params"].get("weight") for d in deployments(router)}


def test_deployments_map_to_the_streams_routewatch_sees(sim: Simulator) -> None:
    east = {"litellm_params": {"model": "openai/gpt-4o-mini", "api_base": f"{sim.url}/east/v1"}}
    assert deployment_target(east, RouteTable(providers(sim))) == ("east", "gpt-4o-mini")
    assert deployment_target(east, RouteTable()) == ("openai_compatible", "gpt-4o-mini")
    assert deployment_target({"litellm_params": {"model": "anthropic/claude-haiku-4-5"}}) == (
        "anthropic", "claude-haiku-4-5")  # fmt: skip
    assert deployment_target({"litellm_params": {"model": "gpt-4o"}}) == ("openai", "gpt-4o")
    proxied = {"litellm_params": {"model": "anthropic/claude-x", "api_base": "https://api.anthropic.com"}}
    assert deployment_target(proxied, RouteTable()) == ("anthropic", "claude-x")


def test_a_latency_drift_weights_the_slow_deployment_down(sim: Simulator, router: Any, monitor: DriftMonitor) -> None:
    routewatch.instrument(providers=providers(sim), monitor=monitor)  # routewatch sees LiteLLM's openai SDK calls
    feedback = attach_litellm(router, monitor, tick_interval_s=None)
    try:
        assert weights(router) == {"east": 1000, "west": 1000}
        random.seed(1)
        calls(router, 100)  # about 50 each: past the 40-call warm-up of east's latency baseline
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(latency_s=0.05)}))
        for _ in range(10):  # bounded: the alarm comes after a few dozen slow calls to east
            calls(router, 20)
            routewatch.flush()
            if feedback.health.state("east") is TargetState.DEGRADED:
                break
        health = feedback.status()["east"]
        assert health.state is TargetState.DEGRADED and health.open_alarms == ("latency",)
        assert health.reason.startswith("p95 latency of east/gpt-4o-mini rose from")
        assert weights(router)["east"] < 1000 * 0.5 and weights(router)["west"] == 1000
        share = weights(router)["east"] / (weights(router)["east"] + 1000)
        routewatch.uninstrument()  # hold the weights still: no further alarm (a busy host can slow west too)
        sim.clear_requests()
        random.seed(7)
        calls(router, 40)
        # simple-shuffle now sends east its weighted share: at most the binomial mean + 3 sd of 40 draws
        assert share < 1 / 3 and paths(sim).count("east") <= 40 * share + 3 * (40 * share * (1 - share)) ** 0.5 + 1
    finally:
        feedback.detach()
        routewatch.uninstrument()


def test_failures_eject_a_deployment_and_probes_restore_it_through_a_slow_start(sim: Simulator, router: Any) -> None:
    clock = Clock()
    policy = HealthPolicy(ramp_s=60, probe_interval_s=5, base_ejection_s=30)
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), policy=policy, clock=clock, tick_interval_s=None)
    try:
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(fault_every_n={"http_503": 1})}))
        random.seed(2)
        send_until_ejected(router, feedback, 10)
        health = feedback.status()["east"]
        assert health.state is TargetState.EJECTED
        assert health.reason == "5 consecutive 503s; ejected for 30 s (ejection #1)"

        sim.clear_requests()
        assert set(calls(router, 20)) == {"west"}  # excluded, not just weighted down
        assert "east" not in paths(sim) and feedback.filtered_out >= 20

        sim.set_scenario(Scenario())  # east is fixed
        clock.now += 30
        sim.clear_requests()
        served = calls(router, 10, clock, step_s=5)  # one probe due every 5 s
        # LiteLLM reports results from a logging task, so a sixth probe may leave before the fifth answer lands.
        assert 5 <= feedback.probes_sent <= policy.probe_budget and served.count("east") == feedback.probes_sent
        health = feedback.status()["east"]
        assert health.state is TargetState.RAMPING and health.reason.startswith("probes passed (5 of 5")
        assert 100 <= weights(router)["east"] < 1000  # slow start from the floor
        clock.now += 60
        feedback.tick()
        assert feedback.health.state("east") is TargetState.HEALTHY and weights(router)["east"] == 1000
    finally:
        feedback.detach()


def test_probes_that_fail_eject_again_for_longer(sim: Simulator, router: Any) -> None:
    clock = Clock()
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), clock=clock, tick_interval_s=None)
    try:
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(fault_every_n={"http_500": 1})}))
        for _ in range(5):
            feedback.health.on_result("east", ok=False, status_code=500)
        clock.now += 30
        served = calls(router, 3, clock, step_s=5)
        assert served[:2] == ["error:500", "error:500"]  # the probes went to east and failed
        health = feedback.status()["east"]
        assert health.state is TargetState.EJECTED and "ejected again for 60 s" in health.reason
    finally:
        feedback.detach()


def test_an_empty_200_counts_as_a_failure(sim: Simulator, router: Any) -> None:
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), clock=Clock(), tick_interval_s=None)
    try:
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(fault_every_n={"empty_output": 1})}))
        random.seed(3)
        send_until_ejected(router, feedback, 10)
        assert feedback.status()["east"].reason.startswith("5 consecutive empty_output errors")
        assert feedback.health.state("west") is TargetState.HEALTHY
    finally:
        feedback.detach()


def test_sync_calls_are_recorded_too(sim: Simulator, router: Any) -> None:
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), clock=Clock(), tick_interval_s=None)
    try:
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(fault_every_n={"http_502": 1})}))
        random.seed(4)
        for _ in range(40):
            with contextlib.suppress(Exception):  # east's 502s reach the caller (no retries configured)
                router.completion(model="chat", messages=MESSAGES)
            if feedback.health.state("east") is TargetState.EJECTED:
                break
        assert feedback.status()["east"].reason.startswith("5 consecutive 502s")
        assert weights(router)["east"] == 1  # the sync path has no filter hook: weighted to 1/1000
    finally:
        feedback.detach()


def test_the_filter_fails_open_when_every_candidate_is_ejected(router: Any) -> None:
    policy = HealthPolicy(max_ejected_fraction=1.0)
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), policy=policy, clock=Clock(), tick_interval_s=None)
    try:
        for name in ("east", "west"):
            for _ in range(5):
                feedback.health.on_result(name, ok=False, status_code=503)
        listed = list(deployments(router))
        assert feedback.filter(listed) == listed and feedback.fail_open == 1
        foreign = {"model_info": {"id": "elsewhere"}, "litellm_params": {"model": "x"}}
        assert feedback.filter([foreign, *listed]) == [foreign]  # not ours: left alone
    finally:
        feedback.detach()


def test_detach_unregisters_and_restores_the_weights(router: Any) -> None:
    deployments(router)[1]["litellm_params"]["weight"] = 3
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), tick_interval_s=None)
    assert feedback in litellm.callbacks and weights(router) == {"east": 1000, "west": 3000}
    other = attach_litellm(router, DriftMonitor(sinks=[]), tick_interval_s=None)
    assert other in litellm.callbacks  # two feedbacks are two loggers, not de-duplicated
    other.detach()
    feedback.detach()
    for name in ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
                 "_async_failure_callback"):  # fmt: skip
        assert feedback not in getattr(litellm, name)
    assert weights(router) == {"east": None, "west": 3}
    assert "weight" not in deployments(router)[0]["litellm_params"]


def test_attach_litellm_refuses_what_it_cannot_drive(router: Any) -> None:
    with pytest.raises(TypeError, match=r"litellm\.Router"):
        attach_litellm(object(), DriftMonitor(sinks=[]))
    with pytest.raises(TypeError, match="DriftMonitor"):
        attach_litellm(router, object())
    assert issubclass(LiteLLMFeedback, litellm.integrations.custom_logger.CustomLogger)


def test_routewatch_attach_accepts_a_litellm_router(router: Any) -> None:
    attachment = routewatch.attach(DriftMonitor(sinks=[]), router, tick_interval_s=None)
    feedback = attachment.integration
    assert isinstance(feedback, LiteLLMFeedback) and attachment.health is feedback.health
    assert feedback in litellm.callbacks and set(attachment.health.status()) == {"east", "west"}
    attachment.detach()
    assert feedback not in litellm.callbacks and weights(router) == {"east": None, "west": None}


def test_an_error_rate_alarm_ejects_and_passing_probes_restore_full_weight(sim: Simulator, router: Any) -> None:
    """The whole loop with the drift engine deciding: alarm -> ejected -> probes pass and close the error
    alarm (an ejected target gets too little traffic for the monitor to close it) -> full slow start -> healthy."""
    monitor = DriftMonitor(MonitorConfig(detector_overrides={"error": {"warm_up": 50, "cooldown": 30}}), sinks=[])
    routewatch.instrument(providers=providers(sim), monitor=monitor)
    clock = Clock()
    policy = HealthPolicy(consecutive_failures=1000, critical_penalty=0.5, ramp_s=60)  # only the alarm ejects
    feedback = attach_litellm(router, monitor, policy=policy, clock=clock, tick_interval_s=None)
    try:
        random.seed(5)
        calls(router, 100)
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(faults={"http_500": 0.5})}))
        for _ in range(10):
            calls(router, 10)
            routewatch.flush()
            if feedback.health.state("east") is TargetState.EJECTED:
                break
        health = feedback.status()["east"]
        assert health.state is TargetState.EJECTED and health.open_alarms == ("error",)
        assert health.reason.startswith("error rate of east/gpt-4o-mini rose from")

        sim.set_scenario(Scenario())
        clock.now += 30
        calls(router, 7, clock, step_s=5)
        routewatch.flush()
        health = feedback.status()["east"]
        assert health.state is TargetState.RAMPING and health.open_alarms == ()  # probes passed
        assert "probes close the error alarm" in health.reason
        clock.now = health.since + 30
        assert feedback.health.weight_factor("east") == pytest.approx(0.1 + 0.9 * 30 / 60, abs=0.02)  # uncapped
        for _ in range(5):
            calls(router, 20)  # whatever the monitor says later about the closed alarm changes nothing
            routewatch.flush()
        clock.now = health.since + 60
        feedback.tick()
        assert feedback.health.state("east") is TargetState.HEALTHY and weights(router)["east"] == 1000
    finally:
        feedback.detach()
        routewatch.uninstrument()


def test_refresh_takes_in_a_new_model_list_and_keeps_health_by_deployment_id(sim: Simulator, router: Any) -> None:
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), clock=Clock(), tick_interval_s=None)
    try:
        for _ in range(5):
            feedback.health.on_result("east", ok=False, status_code=503)
        north = {"model_name": "chat", "model_info": {"id": "north"},
                 "litellm_params": {"model": "openai/gpt-4.1-mini", "api_base": f"{sim.url}/north/v1",
                                    "api_key": "sk-test", "weight": 2}}  # fmt: skip
        keep = [{k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()} for d in deployments(router)]
        for d in keep:
            d["litellm_params"].pop("weight", None)
        router.set_model_list([*keep[:1], north])  # west leaves, north arrives, east stays ejected
        feedback.refresh()
        assert set(feedback.status()) == {"east", "north"}
        assert feedback.health.state("east") is TargetState.EJECTED
        assert weights(router) == {"east": 1, "north": 2000}
        assert feedback.status()["north"].model == "gpt-4.1-mini"
    finally:
        feedback.detach()
    assert weights(router) == {"east": None, "north": 2}


def test_no_deprecated_router_member_is_read(sim: Simulator, router: Any) -> None:
    """LiteLLM 1.110 deprecates Router.model_list; routewatch reads registry().all() and warns nothing."""
    from litellm.router_deprecated import DEPRECATED_ROUTER_MEMBER_USES

    before = dict(DEPRECATED_ROUTER_MEMBER_USES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attachment = routewatch.attach(DriftMonitor(sinks=[]), router, tick_interval_s=None)
        feedback = attachment.integration
        calls(router, 4)
        feedback.filter(list(deployments(router)))
        feedback.refresh()
        feedback.status()
        attachment.detach()
    ours = [w for w in caught if issubclass(w.category, DeprecationWarning) and "/routewatch/" in w.filename]
    assert ours == [] and dict(DEPRECATED_ROUTER_MEMBER_USES) == before


def test_older_routers_without_a_registry_are_read_through_model_list() -> None:
    class OldRouter:  # litellm before the entry points: a plain model_list attribute
        model_list: ClassVar[list[dict[str, Any]]] = [{"model_info": {"id": "x"}}]

    class NewRouter:
        model_list = property(lambda self: pytest.fail("model_list read on a router that has registry()"))

        def registry(self) -> Any:
            return SimpleNamespace(all=lambda: [{"model_info": {"id": "y"}}])

    assert deployments_of(OldRouter()) == [{"model_info": {"id": "x"}}]
    assert deployments_of(NewRouter()) == [{"model_info": {"id": "y"}}]
    assert deployments_of(object()) is None


def test_with_litellms_own_cooldowns_on_probes_wait_for_the_cooldown_and_then_restore(sim: Simulator) -> None:
    """LiteLLM's cooldown and routewatch's ejection both hold a failing deployment out; while LiteLLM still
    cools it, routewatch's filter never sees it and spends no probe; once the cooldown ends the probes go."""
    sim.set_scenario(Scenario())
    model_list = [
        {"model_name": "chat", "model_info": {"id": name},
         "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": f"{sim.url}/{name}/v1", "api_key": "sk-test"}}
        for name in ("east", "west")
    ]  # fmt: skip
    router = litellm.Router(model_list=model_list, num_retries=0, cooldown_time=0.5)  # cooldowns on
    clock = Clock()
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), clock=clock, tick_interval_s=None)
    cooldowns = router.health().cooldowns
    try:
        sim.set_scenario(Scenario(providers={"/east": ProviderSettings(fault_every_n={"http_503": 1})}))
        random.seed(6)
        send_until_ejected(router, feedback, 20)
        assert feedback.health.state("east") is TargetState.EJECTED
        assert set(calls(router, 10)) == {"west"}  # no "No deployments available": west stays in

        sim.set_scenario(Scenario())  # east is fixed, but LiteLLM still holds it (a long cooldown of its own)
        hold_in_cooldown(cooldowns, "east", 60)
        clock.now += 30
        assert feedback.health.state("east") is TargetState.PROBING
        assert set(calls(router, 4, clock, step_s=5)) == {"west"}
        assert feedback.probes_sent == 0 and feedback.status()["east"].reason.startswith("ejection over; probing")

        cooldowns.add_deployment_to_cooldown("east", Exception("held by the test"), 503, cooldown_time=0.2)
        deadline = time.monotonic() + 10
        while cooldowns.get_active_cooldowns(["east"], None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not cooldowns.get_active_cooldowns(["east"], None)
        served = calls(router, 10, clock, step_s=5)
        assert served.count("east") == feedback.probes_sent >= 5
        assert feedback.health.state("east") is TargetState.RAMPING
    finally:
        feedback.detach()


def test_a_synthetic_probe_restores_a_deployment_the_sync_path_never_probes(sim: Simulator, router: Any) -> None:
    """Router.completion runs no filter callbacks, so no request ever takes a due probe; a probe function does."""
    clock = Clock()
    probed: list[str] = []

    def probe(deployment_id: str) -> bool:  # a real call to that deployment, outside the router
        params = next(d["litellm_params"] for d in deployments(router) if d["model_info"]["id"] == deployment_id)
        litellm.completion(model=params["model"], api_base=params["api_base"], api_key=params["api_key"],
                           messages=MESSAGES)  # fmt: skip
        probed.append(deployment_id)
        return True

    prober = SyntheticProber(probe, after_s=0)
    feedback = attach_litellm(router, DriftMonitor(sinks=[]), clock=clock, tick_interval_s=None, probe=prober)
    try:
        for _ in range(5):
            feedback.attachment.on_result("east", ok=False, status_code=503)
        clock.now += 30
        for _ in range(10):
            if feedback.health.state("east") is not TargetState.PROBING:
                break
            before = feedback.status()["east"].reason
            feedback.tick()
            deadline = time.monotonic() + 10
            while feedback.status()["east"].reason == before and time.monotonic() < deadline:
                time.sleep(0.01)
            clock.now += 5
        assert probed == ["east"] * 5 and feedback.health.state("east") is TargetState.RAMPING
        assert 100 <= weights(router)["east"] < 1000
    finally:
        feedback.detach()
