"""`routewatch demo`: official SDK calls against the embedded simulator, and the spans they made.

Shows what `routewatch.instrument()` records with no change at the call sites: OpenAI (httpx2),
Anthropic and Gemini calls, streamed and not, including a rate-limited attempt that the SDK retries
and a stream cut before its end. Needs the SDKs (`pip install routewatch[dev]` or `scripts/setup`).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["run_demo"]

_MESSAGES: Any = [{"role": "user", "content": "Give me one sentence about observability."}]


def _calls(sim_url: str) -> list[tuple[str, Any]]:
    import anthropic
    import openai
    from google import genai
    from google.genai import types

    oa = openai.OpenAI(base_url=sim_url + "/v1", api_key="sk-demo", max_retries=2)
    an = anthropic.Anthropic(base_url=sim_url, api_key="sk-ant-demo", max_retries=0)
    gm = genai.Client(api_key="demo-key", http_options=types.HttpOptions(base_url=sim_url))

    def openai_stream() -> None:
        for _ in oa.chat.completions.create(
            model="gpt-4o-mini", messages=_MESSAGES, stream=True, stream_options={"include_usage": True}
        ):
            pass

    def anthropic_stream() -> None:
        with an.messages.stream(model="claude-haiku-4-5", max_tokens=256, messages=_MESSAGES) as stream:
            for _ in stream.text_stream:
                pass

    def gemini_stream() -> None:
        for _ in gm.models.generate_content_stream(model="gemini-2.5-flash", contents="One sentence, please."):
            pass

    return [
        ("openai chat", lambda: oa.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)),
        ("openai chat, streamed", openai_stream),
        ("openai responses", lambda: oa.responses.create(model="gpt-4.1-mini", input="One sentence, please.")),
        (
            "anthropic messages",
            lambda: an.messages.create(model="claude-haiku-4-5", max_tokens=256, messages=_MESSAGES),
        ),
        ("anthropic messages, streamed", anthropic_stream),
        ("gemini generateContent", lambda: gm.models.generate_content(model="gemini-2.5-flash", contents="Hi")),
        ("gemini streamGenerateContent", gemini_stream),
    ]


def _row(span: Any) -> str:
    a = span.attributes or {}
    duration_ms = (span.end_time - span.start_time) / 1e6
    ttfc = a.get("gen_ai.response.time_to_first_chunk")
    tokens = (
        f"{a['gen_ai.usage.input_tokens']}/{a['gen_ai.usage.output_tokens']}"
        if "gen_ai.usage.output_tokens" in a
        else "unknown"
    )
    if "routewatch.cost.usd" in a:
        cost = f"${a['routewatch.cost.usd']:.6f}"
    else:
        cost = "unknown" if a.get("routewatch.cost.priced") else "unpriced"
    status = a.get("error.type", "ok")
    return (
        f"{span.name:28.28s} {a.get('gen_ai.provider.name', ''):11s} {duration_ms:8.1f} "
        f"{'-' if ttfc is None else f'{ttfc * 1e3:.1f}':>7s} {tokens:>9s} {cost:>11s}  {status}"
    )


def run_demo(calls: int = 1) -> int:
    os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")  # show routewatch's own spans
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import routewatch

    from .simulator import Phase, ProviderSettings, Scenario, Simulator

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    # The first OpenAI request is rate limited (the SDK retries it); then a normal service.
    scenario = Scenario(
        default=ProviderSettings(ttft_s=0.05, per_token_s=0.004, latency_s=0.08, jitter_sigma=0.2, output_tokens=24),
        providers={"openai": ProviderSettings(fault_every_n={"http_429": 1}, retry_after_s=0.05)},
        phases=(Phase(start_after_requests=1, providers={"openai": ProviderSettings(fault_every_n={"http_429": 0})}),),
    )
    with Simulator(scenario=scenario) as sim:
        routewatch.instrument(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[reader]),
            # The simulator serves every provider on one loopback port: name the OpenAI paths.
            providers={sim.url + "/v1/chat": "openai", sim.url + "/v1/responses": "openai"},
        )
        try:
            for _ in range(calls):
                for label, call in _calls(sim.url):
                    try:
                        call()
                    except Exception as exc:  # the demo shows failures as spans, not tracebacks
                        print(f"{label}: the SDK raised {type(exc).__name__}")
            routewatch.flush()
        finally:
            routewatch.uninstrument()
    spans = [s for s in exporter.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})]
    print(f"\nroutewatch recorded {len(spans)} GenAI spans (one per provider attempt):\n")
    print(f"{'span':28s} {'provider':11s} {'ms':>8s} {'ttfc ms':>7s} {'in/out':>9s} {'cost':>11s}  status")
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        print(_row(span))
    total = 0.0
    for span in spans:
        cost = (span.attributes or {}).get("routewatch.cost.usd")
        total += cost if isinstance(cost, float) else 0.0
    print(f"\ntotal priced cost: ${total:.6f}   (prices: genai-prices; simulator responses, no real spend)")
    return 0 if spans else 1
