"""A LiteLLM Router steered by routewatch: a deployment that starts failing is ejected (LiteLLM stops
sending it requests), probes test it once it is fixed, and it comes back through a slow start.

Two deployments of one model group on the simulator: `primary` (gpt-4o-mini) answers 503 from the
30th request to the 80th. routewatch sees LiteLLM's provider calls through `instrument()`, and
`attach_litellm` applies the health decisions through LiteLLM's own extension points. The health
policy is compressed to seconds for the example; production defaults are in minutes.

    pip install 'routewatch[litellm]'
    python examples/litellm_router.py
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before importing litellm: no download

import asyncio
import time

import litellm
from _simulator import simulator
from opentelemetry.sdk.trace import TracerProvider

import routewatch
from routewatch.integrations.litellm import attach_litellm
from routewatch.router import HealthPolicy
from routewatch.simulator import Phase, ProviderSettings, Scenario

failing = ProviderSettings(faults={"http_503": 1.0}, retry_after_s=0.0)
scenario = Scenario(
    default=ProviderSettings(latency_s=0.01),
    phases=(
        Phase(start_after_requests=30, providers={"/primary": failing}),
        Phase(start_after_requests=80),  # fixed
    ),
)
policy = HealthPolicy(base_ejection_s=0.5, probe_interval_s=0.05, probe_min_successes=3, ramp_s=0.5, min_dwell_s=0.5)

with simulator(scenario) as url:
    monitor = routewatch.DriftMonitor()
    routewatch.instrument(tracer_provider=TracerProvider(), monitor=monitor,
                          providers={url + "/primary/v1": "openai", url + "/backup/v1": "openai"})  # fmt: skip
    router = litellm.Router(
        model_list=[
            {"model_name": "chat", "model_info": {"id": "primary"},
             "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": url + "/primary/v1", "api_key": "sk-x"}},
            {"model_name": "chat", "model_info": {"id": "backup"},
             "litellm_params": {"model": "openai/gpt-4.1-mini", "api_base": url + "/backup/v1", "api_key": "sk-x"}},
        ],
        num_retries=0,
        disable_cooldowns=True,  # routewatch decides who is out, not LiteLLM's cooldown
    )  # fmt: skip
    feedback = attach_litellm(router, monitor, policy=policy, tick_interval_s=0.05)
    states: list[str] = []

    async def traffic(n: int) -> list[str]:
        """n requests, one at a time (LiteLLM's filter hooks run on acompletion, not completion)."""
        served = []
        for _ in range(n):
            try:
                reply = await router.acompletion(model="chat", messages=[{"role": "user", "content": "hi"}])
                served.append(reply._hidden_params["model_id"])
            except litellm.ServiceUnavailableError:
                served.append("503")
            state = feedback.health.state("primary").value
            if not states or states[-1] != state:
                states.append(state)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # LiteLLM reports results from logging tasks on this loop
        return served

    served = asyncio.run(traffic(120))
    deadline = time.monotonic() + 20  # bounded: the slow start ends within a second or two
    while feedback.health.state("primary").value != "healthy" and time.monotonic() < deadline:
        served += asyncio.run(traffic(10))
    print("served by:", {name: served.count(name) for name in ("primary", "backup", "503")})
    print("primary went:", " -> ".join(states))
    for name, health in feedback.status().items():
        print(f"{name:8s} {health.state.value:8s} weight={health.weight_factor:.2f} reason={health.reason}")
    final = feedback.health.state("primary").value
    feedback.detach()
    routewatch.uninstrument()

assert "ejected" in states and "probing" in states, states
# Without routewatch about half the ~50 requests of the failing window would get a 503; with it, the five
# that eject it and a few failed probes.
assert served.count("503") < 20, "the failing deployment kept getting traffic"
assert final == "healthy", final
