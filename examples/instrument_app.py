"""Instrument an existing app in one line: official SDK calls become GenAI spans with tokens and cost.

python examples/instrument_app.py
"""

from __future__ import annotations

import os

os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")  # routewatch makes the span

import anthropic
import openai
from _simulator import simulator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import routewatch

spans = InMemorySpanExporter()  # in your app: an OTLP exporter (docs/exporting.md)
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))

with simulator() as url:
    # The simulator serves every API on one port; tell routewatch which provider the OpenAI paths are.
    routewatch.instrument(tracer_provider=tracer_provider, providers={url + "/v1/chat": "openai"})

    # --- the app, unchanged -------------------------------------------------------------------
    messages = [{"role": "user", "content": "One sentence about observability."}]
    oa = openai.OpenAI(base_url=url + "/v1", api_key="sk-example")
    oa.chat.completions.create(model="gpt-4o-mini", messages=messages)
    for _ in oa.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
    ):
        pass
    an = anthropic.Anthropic(base_url=url, api_key="sk-ant-example")
    with routewatch.tags(tenant="acme"):
        an.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=messages)
    # ------------------------------------------------------------------------------------------

    routewatch.flush()
    routewatch.uninstrument()

for span in spans.get_finished_spans():
    a = span.attributes or {}
    cost = a.get("routewatch.cost.usd")
    print(
        f"{span.name:28s} provider={a.get('gen_ai.provider.name')} "
        f"tokens={a.get('gen_ai.usage.input_tokens')}/{a.get('gen_ai.usage.output_tokens')} "
        f"cost={'unpriced' if cost is None else f'${cost:.6f}'} "
        f"ttfc={a.get('gen_ai.response.time_to_first_chunk', '-')} tenant={a.get('routewatch.tag.tenant', '-')}"
    )
assert len(spans.get_finished_spans()) == 3
