"""Fixtures for the official-SDK tests: the shared simulator reset to a short default reply, and
routewatch re-instrumented into the test's in-memory pipeline with the options a test needs."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

import routewatch
from routewatch.simulator import ProviderSettings, Scenario


@pytest.fixture(autouse=True)
def _collect_only_this_tests_garbage() -> Iterator[None]:
    """The `telemetry` fixture runs `gc.collect()` after each test (to finish abandoned streams). With
    three SDKs imported that walks ~250k long-lived objects, a quarter of a second per test; frozen,
    they are skipped and the collection sees only what the test created."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def sim(simulator):
    """The session simulator with a fresh default scenario (6-token replies) and an empty request log;
    the scenario it had before is put back afterwards, for the tests that share it."""
    before = simulator.scenario
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=6)))
    simulator.clear_requests()
    yield simulator
    simulator.set_scenario(before)


@pytest.fixture
def instrument(telemetry) -> Callable[..., Any]:
    """`instrument(**options)`: routewatch re-instrumented into this test's pipeline with `options`
    (providers, include_usage, capture_content, ...); returns the test's `Telemetry`."""

    def _instrument(**options: Any) -> Any:
        routewatch.uninstrument()
        routewatch.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **options
        )
        return telemetry

    return _instrument


@pytest.fixture
def span_text() -> Callable[[list[ReadableSpan]], str]:
    """Every name, attribute, event and status description of `spans`, as one searchable text."""

    def _text(spans: list[ReadableSpan]) -> str:
        parts: list[Any] = []
        for span in spans:
            parts.append(span.name)
            parts.append(span.status.description or "")
            parts.append({k: str(v) for k, v in (span.attributes or {}).items()})
            for event in span.events:
                parts.append(event.name)
                parts.append({k: str(v) for k, v in (event.attributes or {}).items()})
        return json.dumps(parts)

    return _text


@pytest.fixture
def tel(instrument, sim):
    """Instrumented, with the simulator's /v1 routes named the `openai` provider."""
    return instrument(providers={sim.url + "/v1": "openai"})


@pytest.fixture
def client(sim):
    """A sync openai client on the simulator, no retries."""
    import openai

    with openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0) as c:
        yield c
