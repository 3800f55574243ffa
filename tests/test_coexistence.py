"""routewatch beside other instrumentations: HTTP spans nest under ours, and where an SDK or an
SDK-patching instrumentation already made the GenAI span, routewatch enriches it instead of adding
a duplicate, and leaves the metrics that instrumentation records to it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor

CHAT = [{"role": "user", "content": "hello"}]


@pytest.fixture
def httpx2_instrumentor(mapped) -> Iterator[None]:
    instrumentor = HTTPX2ClientInstrumentor()
    instrumentor.instrument(tracer_provider=mapped.tracer_provider)
    yield
    instrumentor.uninstrument()


def _by_scope(spans, prefix: str):
    return [s for s in spans if s.instrumentation_scope.name.startswith(prefix)]


def test_httpx2_http_span_is_a_child_of_the_genai_span(simulator, mapped, httpx2_instrumentor) -> None:
    client = openai.OpenAI(base_url=simulator.url + "/v1", api_key="sk-test", max_retries=0)
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True):
        pass
    spans = mapped.spans()
    (genai,) = mapped.genai_spans()
    (http,) = _by_scope(spans, "opentelemetry.instrumentation.httpx")
    assert http.parent is not None and http.parent.span_id == genai.context.span_id
    assert http.context.trace_id == genai.context.trace_id
    assert http.end_time < genai.end_time  # the HTTP span stops at the headers; ours at the last chunk


def test_httpx_http_span_is_a_child_of_the_genai_span(simulator, mapped) -> None:
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=mapped.tracer_provider)
    try:
        with httpx.Client() as client:
            client.post(
                simulator.url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": CHAT},
                headers={"authorization": "Bearer sk-test"},
            )
    finally:
        instrumentor.uninstrument()
    (genai,) = mapped.genai_spans()
    (http,) = _by_scope(mapped.spans(), "opentelemetry.instrumentation.httpx")
    assert http.parent.span_id == genai.context.span_id


def _anthropic_with_native_tracing(simulator, telemetry) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=simulator.url,
        api_key="sk-ant-test",
        max_retries=0,
        open_telemetry={"tracer_provider": telemetry.tracer_provider},
    )


def test_anthropic_native_span_is_enriched_not_duplicated(simulator, telemetry) -> None:
    client = _anthropic_with_native_tracing(simulator, telemetry)
    client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=CHAT)
    (span,) = telemetry.genai_spans()
    assert span.instrumentation_scope.name != "routewatch"
    assert span.attributes["routewatch.cost.priced"] is True
    assert span.attributes["routewatch.cost.usd"] > 0
    assert [e.name for e in span.events] == ["routewatch.attempt"]
    (record,) = telemetry.wait_records(1)
    assert record.provider == "anthropic" and record.span_scope == span.instrumentation_scope.name


def test_anthropic_native_stream_gets_time_to_first_chunk_from_the_bytes(simulator, telemetry) -> None:
    client = _anthropic_with_native_tracing(simulator, telemetry)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=CHAT) as stream:
        text = "".join(stream.text_stream)
    assert text
    (span,) = telemetry.genai_spans()
    assert span.attributes["routewatch.stream.completed"] is True
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0


@pytest.fixture
def openai_v2(mapped) -> Iterator[None]:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=mapped.tracer_provider, meter_provider=mapped.meter_provider)
    yield
    instrumentor.uninstrument()


def test_openai_v2_span_is_enriched_not_duplicated(simulator, mapped, openai_v2) -> None:
    client = openai.OpenAI(base_url=simulator.url + "/v1", api_key="sk-test", max_retries=0)
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, stream=True, stream_options={"include_usage": True}
    ):
        pass
    (span,) = mapped.genai_spans()
    assert span.instrumentation_scope.name != "routewatch"
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert span.attributes["routewatch.cost.usd"] > 0
    assert span.attributes["routewatch.stream.completed"] is True


def test_openai_v2_keeps_its_duration_metric_and_routewatch_adds_no_duplicate(simulator, mapped, openai_v2) -> None:
    client = openai.OpenAI(base_url=simulator.url + "/v1", api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    points = mapped.metric_points("gen_ai.client.operation.duration")
    assert sum(p.count for p in points) == 1
    assert sum(p.value for p in mapped.metric_points("routewatch.client.cost")) > 0
