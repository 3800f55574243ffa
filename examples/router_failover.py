"""routewatch.Router with failover: the primary starts failing with 503s, requests fail over to the
backup at once, the primary is ejected after five failures in a row, and the ledger says why.

    python examples/router_failover.py
"""

from __future__ import annotations

import os

os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")

import anthropic
import openai
from _simulator import simulator
from opentelemetry.sdk.trace import TracerProvider

import routewatch
from routewatch.simulator import Phase, ProviderSettings, Scenario

# From the 20th request on, every OpenAI chat completion answers 503 (with no Retry-After pause).
scenario = Scenario(
    default=ProviderSettings(latency_s=0.01),
    phases=(
        Phase(
            start_after_requests=20, providers={"openai": ProviderSettings(faults={"http_503": 1.0}, retry_after_s=0.0)}
        ),
    ),
)

with simulator(scenario) as url:
    monitor = routewatch.DriftMonitor()
    routewatch.instrument(tracer_provider=TracerProvider(), providers={url + "/v1/chat": "openai"}, monitor=monitor)
    router = routewatch.Router(
        {
            "targets": [
                {"name": "primary", "provider": "openai", "model": "gpt-4o-mini"},
                {"name": "backup", "provider": "anthropic", "model": "claude-haiku-4-5", "priority": 1},
            ],
            "tasks": {"default": {"strategy": "priority"}},
        },
        clients={
            "primary": openai.OpenAI(base_url=url + "/v1", api_key="sk-example", max_retries=0),
            "backup": anthropic.Anthropic(base_url=url, api_key="sk-ant-example", max_retries=0),
        },
    )
    attachment = routewatch.attach(monitor, router)  # drift alarms demote too, not only failures

    def ask(client: object, model: str) -> str:
        """One call, whichever SDK the router hands over."""
        messages = [{"role": "user", "content": "One sentence, please."}]
        if isinstance(client, openai.OpenAI):
            return client.chat.completions.create(model=model, messages=messages).model
        assert isinstance(client, anthropic.Anthropic)
        return client.messages.create(model=model, max_tokens=100, messages=messages).model

    served: list[str] = []
    for _ in range(40):
        served.append(router.run(ask))

    print("answered by:", {m: served.count(m) for m in sorted(set(served))})
    for name, line in router.status().items():
        print(f"{name:8s} {line.get('state')!s:9s} weight={line.get('weight_factor')} reason={line.get('reason')}")
    attachment.detach()
    router.close()
    routewatch.uninstrument()

assert served.count("claude-haiku-4-5") >= 20, "requests did not fail over to the backup"
assert router.health.state("primary").value in ("ejected", "probing"), router.health.state("primary")
