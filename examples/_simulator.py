"""Where the examples send their calls: $ROUTEWATCH_SIMULATOR_URL if set, else a simulator started here.

Point the examples at your own simulator (`routewatch simulator --port 8000`) with
`ROUTEWATCH_SIMULATOR_URL=http://127.0.0.1:8000 python examples/instrument_app.py`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from routewatch.simulator import ProviderSettings, Scenario, Simulator


@contextlib.contextmanager
def simulator(scenario: Scenario | ProviderSettings | None = None) -> Iterator[str]:
    """The base URL of a provider simulator (an embedded one when the environment names none)."""
    url = os.environ.get("ROUTEWATCH_SIMULATOR_URL")
    if url:
        yield url.rstrip("/")
        return
    with Simulator(scenario=scenario or ProviderSettings(latency_s=0.02, ttft_s=0.01, per_token_s=0.001)) as sim:
        yield sim.url
