"""Shared fixtures: an in-memory OpenTelemetry pipeline, routewatch instrumented into it, and the
provider simulator on loopback. No test touches the global OpenTelemetry providers.

System tools some tests drive (promtool, prometheus, chromium) are declared with
`@pytest.mark.requires_tool("promtool")`: missing, the test is skipped on a laptop, and fails when
the environment variable CI is set (CI runs `CI=true bash .ci/run`) or ROUTEWATCH_REQUIRE_TOOLS=1,
so a failed install cannot turn those tests into silent skips.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import routewatch
from routewatch.records import CallRecord

# Where Debian puts them when PATH lacks them; chromium has two names.
_TOOL_NAMES = {"chromium": ("chromium", "chromium-browser")}


def find_tool(name: str) -> str | None:
    """The path of system tool `name`, or None."""
    for candidate in _TOOL_NAMES.get(name, (name,)):
        found = shutil.which(candidate)
        if found:
            return found
        if os.path.exists(f"/usr/bin/{candidate}"):
            return f"/usr/bin/{candidate}"
    return None


def tools_required(environ: dict[str, str] | None = None) -> bool:
    """Whether a missing system tool fails a test (CI, or ROUTEWATCH_REQUIRE_TOOLS=1) instead of skipping it."""
    env = os.environ if environ is None else environ
    ci = env.get("CI", "").strip().lower()
    return (ci not in ("", "0", "false", "no")) or env.get("ROUTEWATCH_REQUIRE_TOOLS", "").strip() == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_tool(*names): system tools the test runs; missing: skip, or fail under CI"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = [name for mark in item.iter_markers("requires_tool") for name in mark.args if find_tool(name) is None]
    if not missing:
        return
    what = f"{', '.join(missing)} not installed (scripts/test installs it when run as root)"
    if tools_required():
        pytest.fail(f"{what}; required because CI or ROUTEWATCH_REQUIRE_TOOLS=1 is set", pytrace=False)
    pytest.skip(what)


@dataclass
class Telemetry:
    """What one test's instrumented world exported."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    records: list[CallRecord] = field(default_factory=list)

    def spans(self) -> list[ReadableSpan]:
        routewatch.flush()
        return list(self.exporter.get_finished_spans())

    def genai_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.attributes and "gen_ai.operation.name" in s.attributes]

    def only_span(self) -> ReadableSpan:
        spans = self.genai_spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self, name: str) -> list[Any]:
        routewatch.flush()
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def wait_records(self, n: int) -> list[CallRecord]:
        routewatch.flush()
        return list(self.records)


def make_telemetry() -> Telemetry:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Telemetry(exporter, reader, tracer_provider, meter_provider)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """routewatch instrumented into a fresh in-memory pipeline, removed afterwards."""
    tel = make_telemetry()
    routewatch.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    routewatch.add_listener(tel.records.append)
    try:
        yield tel
    finally:
        routewatch.flush()
        routewatch.remove_listener(tel.records.append)
        routewatch.uninstrument()
        gc.collect()


@pytest.fixture(scope="session")
def simulator() -> Iterator[Any]:
    from routewatch.simulator import Simulator

    with Simulator() as sim:
        yield sim


@pytest.fixture
def mapped(telemetry: Telemetry, simulator: Any) -> Telemetry:
    """Instrumentation re-done with the simulator's /v1 routes named the `openai` provider."""
    routewatch.uninstrument()
    routewatch.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        providers={simulator.url + "/v1": "openai"},
    )
    return telemetry


@pytest.fixture(autouse=True)
def _no_sdk_native_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The anthropic SDK traces itself whenever a tracer provider exists; tests opt in explicitly."""
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
