"""Helpers for the command-line tests: run `routewatch ...` in process and capture what it printed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from routewatch.cli import main
from routewatch.otlp.file_exporter import OTLPJsonFileExporter


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """`run("prices", "gpt-4o-mini")`: the exit status and output of one command, help included."""

    def invoke(*argv: str) -> Result:
        try:
            code = main(list(argv))
        except SystemExit as exc:  # --help exits through argparse
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def trace_file(tmp_path: Path) -> Callable[..., Path]:
    """`trace_file(n=600, slow_from=300)`: an OTLP-JSON file of GenAI spans (see `write_genai_spans`)."""

    def make(n: int = 600, slow_from: int | None = 300, name: str = "spans.jsonl") -> Path:
        return write_genai_spans(tmp_path / name, n, slow_from)

    return make


def write_genai_spans(path: Path, n: int = 600, slow_from: int | None = 300, seed: int = 1) -> Path:
    """An OTLP-JSON trace file of `n` chat calls to openai/gpt-4o-mini, latency x2 from call `slow_from`."""
    rng = random.Random(seed)
    provider = TracerProvider()
    exporter = OTLPJsonFileExporter(path)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    t = 1_700_000_000 * 10**9
    for i in range(n):
        latency = 0.2 * rng.lognormvariate(0.0, 0.2) * (2.0 if slow_from is not None and i >= slow_from else 1.0)
        span = tracer.start_span("chat gpt-4o-mini", start_time=t)
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.output_tokens": 30,
        })  # fmt: skip
        span.end(end_time=t + int(latency * 1e9))
        t += 10**9
    provider.shutdown()
    return path
