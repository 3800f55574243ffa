"""A loopback simulator of LLM provider APIs, for tests, demos and overhead benchmarks.

`Simulator` serves the OpenAI (chat completions, completions, embeddings, responses; also under any
`.../v1` prefix and Azure deployment paths), Anthropic (messages), Gemini (AI Studio and Vertex
paths), Cohere v2 (chat) and Ollama (chat, generate) wire formats on 127.0.0.1, from a background
thread. What it answers is a `Scenario`: `ProviderSettings` (latency, time to first token, pace,
jitter, reply length, token accounting, fault probabilities) per provider or route prefix, and
`Phase`s that change them after a number of requests or seconds.

    with Simulator(scenario=ProviderSettings(ttft_s=0.05, per_token_s=0.01)) as sim:
        client = openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test")
        ...
        sim.set_scenario(Scenario(default=ProviderSettings(faults={"http_429": 0.1})))

`fixtures/drift.json` is an example scenario file (`python -m routewatch.simulator --scenario ...`):
from request 200 to 400 latency and pace double and 10 % of replies violate their JSON schema.
"""

from __future__ import annotations

from .scenario import FAULTS, Phase, ProviderSettings, Scenario
from .server import RecordedRequest, Simulator

__all__ = ["FAULTS", "Phase", "ProviderSettings", "RecordedRequest", "Scenario", "Simulator"]
