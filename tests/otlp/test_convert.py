"""A GenAI span, however it travels (SDK ReadableSpan, OTLP protobuf, OTLP JSON), becomes the same
CallRecord the in-process path builds, as far as a span can tell; spans of other instrumentations
(openai-v2 / util-genai, OpenLLMetry, the anthropic SDK, older attribute names) are understood too;
everything else is skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

import routewatch
from routewatch.otlp.convert import (
    is_genai_span,
    record_from_json_span,
    record_from_readable_span,
    records_from_json_request,
    records_from_request,
)
from routewatch.otlp.file_exporter import read_records
from routewatch.otlp.json_format import request_to_json
from routewatch.otlp.wire import records_from_bytes
from routewatch.pricing import PriceBook
from routewatch.records import RateLimits, Usage
from routewatch.simulator import ProviderSettings, Scenario

MODEL = "gpt-4o-mini"
CHAT = [{"role": "user", "content": "hello"}]

# What a span carries of a CallRecord (timings are compared separately: the span starts a few
# microseconds before the record's clock does).
SUBSTANCE = (
    "provider", "operation", "api", "request_model", "response_model", "server_address", "server_port",
    "status_code", "error_type", "stream", "stream_completed", "time_to_first_chunk_s", "usage", "cost_usd",
    "priced", "output_tokens_per_s", "finish_reasons", "response_id", "rate_limits", "tags", "trace_id",
    "span_id", "span_scope",
)  # fmt: skip


def substance(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in SUBSTANCE}


@pytest.fixture
def client(simulator, mapped) -> Iterator[openai.OpenAI]:
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=12, per_token_s=0.001)))
    with openai.OpenAI(base_url=simulator.url + "/v1", api_key="sk-test", max_retries=0) as c:
        yield c


def _three_ways(spans: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """Records from the ReadableSpans, from their OTLP protobuf, and from their OTLP JSON."""
    readable = [r for r in (record_from_readable_span(s) for s in spans) if r is not None]
    request = encode_spans(spans)
    proto = records_from_request(request).records
    from_json = records_from_json_request(json.loads(json.dumps(request_to_json(request)))).records
    return readable, proto, from_json


def test_routewatch_spans_become_the_in_process_records(client, mapped) -> None:
    client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=50, temperature=0.5, seed=7)
    for _ in client.chat.completions.create(
        model=MODEL, messages=CHAT, stream=True, stream_options={"include_usage": True}
    ):
        pass
    in_process = sorted(mapped.wait_records(2), key=lambda r: r.start_time_unix_nano)
    spans = sorted(mapped.genai_spans(), key=lambda s: s.start_time)
    readable, proto, from_json = _three_ways(spans)

    assert readable == proto == from_json  # the three routes agree exactly
    assert [substance(r) for r in proto] == [substance(r) for r in in_process]
    for mine, theirs in zip(proto, in_process, strict=True):
        assert abs(mine.start_time_unix_nano - theirs.start_time_unix_nano) < 5_000_000
        assert mine.duration_s == pytest.approx(theirs.duration_s, abs=0.005)
        assert mine.request.max_tokens == theirs.request.max_tokens
        assert mine.response.system_fingerprint == theirs.response.system_fingerprint == "fp_sim0001"
    plain, streamed = proto
    assert plain.request.temperature == 0.5 and plain.request.seed == 7
    assert streamed.stream and streamed.stream_completed is True
    assert streamed.time_to_first_chunk_s is not None and streamed.time_to_first_chunk_s > 0
    # Only the mean chunk interval survives a span: one value, near the in-process mean.
    assert len(streamed.chunk_intervals_s) == 1
    assert streamed.chunk_intervals_s[0] > 0


def test_a_failed_call_keeps_its_error_and_status(client, mapped, simulator) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(fault_every_n={"http_429": 1}, retry_after_s=0)))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=CHAT)
    (theirs,) = mapped.wait_records(1)
    (mine,) = records_from_request(encode_spans(mapped.genai_spans())).records
    assert substance(mine) == substance(theirs)
    assert mine.status_code == 429 and mine.rate_limited and not mine.ok


def test_tags_and_rate_limits_travel(client, mapped) -> None:
    with routewatch.tags(tenant="acme", feature="search"):
        client.chat.completions.create(model=MODEL, messages=CHAT)
    (mine,) = records_from_request(encode_spans(mapped.genai_spans())).records
    assert mine.tag("tenant") == "acme" and mine.tag("feature") == "search"
    assert mine.rate_limits.limit_requests == 10_000


# --- other instrumentations ------------------------------------------------------------------------


def _span(attributes: dict[str, Any], *, name: str = "chat gpt-4o-mini", scope: str = "other", error: bool = False,
          duration_ns: int = 800_000_000) -> Any:  # fmt: skip
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer(scope).start_span(name, kind=SpanKind.CLIENT, attributes=attributes, start_time=10**18)
    if error:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    span.end(end_time=10**18 + duration_ns)
    (finished,) = exporter.get_finished_spans()
    return finished


def _via_otlp(span: Any) -> Any:
    (record,) = records_from_request(encode_spans([span])).records
    assert record == record_from_readable_span(span)
    return record


def test_openllmetry_spans_with_old_attribute_names() -> None:
    record = _via_otlp(_span({
        "gen_ai.system": "openai", "llm.request.type": "chat", "gen_ai.request.model": MODEL,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.prompt_tokens": 100,
        "gen_ai.usage.completion_tokens": 40, "gen_ai.usage.cache_read_input_tokens": 30,
        "llm.is_streaming": True, "gen_ai.openai.api_base": "https://api.openai.com/v1/",
        "gen_ai.response.finish_reason": "length", "gen_ai.openai.system_fingerprint": "fp_1",
    }, scope="opentelemetry.instrumentation.openai.v1"))  # fmt: skip
    assert (record.provider, record.operation, record.api) == ("openai", "chat", "openai.chat_completions")
    assert record.usage == Usage(input_tokens=100, output_tokens=40, cache_read_input_tokens=30)
    assert record.stream is True and record.stream_completed is None  # nobody said whether it finished
    assert record.finish_reasons == ("length",)
    assert (record.server_address, record.server_port) == ("api.openai.com", 443)
    assert record.response.system_fingerprint == "fp_1"
    assert record.span_scope == "opentelemetry.instrumentation.openai.v1"
    assert record.duration_s == pytest.approx(0.8)
    assert record.output_tokens_per_s == pytest.approx(40 / 0.8)
    # Priced here, from the price book, since the span carries no cost.
    expected = PriceBook().cost("openai", "gpt-4o-mini-2024-07-18", record.usage)
    assert record.priced and record.cost_usd == pytest.approx(expected.usd)


def test_openai_v2_service_tiers_under_their_gen_ai_openai_names() -> None:
    """opentelemetry-instrumentation-openai-v2 (2.x) writes both tiers under the older
    `gen_ai.openai.*` names; the current `openai.*` spelling wins when both are there."""
    record = _via_otlp(_span({
        "gen_ai.system": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL,
        "gen_ai.openai.request.service_tier": "auto", "gen_ai.openai.response.service_tier": "default",
    }, scope="opentelemetry.instrumentation.openai_v2"))  # fmt: skip
    assert (record.request.service_tier, record.response.service_tier) == ("auto", "default")
    both = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.openai.response.service_tier": "default",
                            "openai.response.service_tier": "flex"}))  # fmt: skip
    assert both.response.service_tier == "flex"


def test_openllmetry_completion_and_embedding_request_types() -> None:
    completion = _via_otlp(_span({"gen_ai.system": "OpenAI", "llm.request.type": "completion"}))
    embedding = _via_otlp(_span({"gen_ai.system": "openai", "llm.request.type": "embedding"}))
    assert (completion.operation, completion.api) == ("text_completion", "openai.completions")
    assert (embedding.operation, embedding.api) == ("embeddings", "openai.embeddings")


def test_anthropic_sdk_native_span_attributes() -> None:
    record = _via_otlp(_span({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.2, "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_write.input_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 50, "anthropic.message.stop_reason": "end_turn",
        "anthropic.response.service_tier": "standard",
    }, scope="anthropic"))  # fmt: skip
    assert (record.provider, record.api) == ("anthropic", "anthropic.messages")
    assert record.usage.cache_creation_input_tokens == 20 and record.usage.cache_read_input_tokens == 50
    assert record.finish_reasons == ("end_turn",)
    assert record.time_to_first_chunk_s == 0.2
    assert record.output_tokens_per_s == pytest.approx(30 / (0.8 - 0.2))
    assert record.response.service_tier == "standard"


def test_deprecated_provider_names_are_mapped_to_current_ones() -> None:
    for old, new in (("vertex_ai", "gcp.vertex_ai"), ("az.ai.openai", "azure.ai.openai"), ("gemini", "gcp.gemini")):
        record = _via_otlp(_span({"gen_ai.system": old, "gen_ai.operation.name": "chat"}))
        assert record.provider == new


def test_unknown_usage_stays_unknown_and_unpriced_is_not_free() -> None:
    record = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "gen_ai.request.model": MODEL}))  # fmt: skip
    assert record.usage == Usage() and not record.usage.known
    assert record.cost_usd is None
    odd = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "acme-llm",
                           "gen_ai.request.model": "acme-1", "gen_ai.usage.input_tokens": 5,
                           "gen_ai.usage.output_tokens": 5}))  # fmt: skip
    assert odd.cost_usd is None and odd.priced is False


def test_error_without_error_type_is_other_and_http_status_counts() -> None:
    failed = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}, error=True))
    assert failed.error_type == "_OTHER" and not failed.ok
    assert failed.response.error_message == "boom"
    overloaded = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                                  "http.status_code": 529}))  # fmt: skip
    assert overloaded.error_type == "529" and overloaded.server_error
    typed = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                             "error.type": "RateLimitError", "http.response.status_code": 429}))  # fmt: skip
    assert typed.error_type == "RateLimitError" and typed.rate_limited


def test_captured_output_messages_give_output_text_and_tool_calls() -> None:
    parts = [{"type": "text", "content": "hi "}, {"type": "text", "content": "there"},
             {"type": "tool_call", "name": "f", "id": "1"}]  # fmt: skip
    messages = [{"role": "assistant", "parts": parts}]
    record = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "gen_ai.output.messages": json.dumps(messages)}))  # fmt: skip
    assert record.response.output_text == "hi there" and record.response.tool_call_count == 1


def test_fetch_response_reports_no_usage() -> None:
    record = _via_otlp(_span({"gen_ai.operation.name": "fetch_response", "gen_ai.provider.name": "openai",
                              "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 9}))  # fmt: skip
    assert record.usage == Usage() and record.api == "openai.responses"


def test_rate_limits_are_read_only_from_routewatch_spans() -> None:
    record = _via_otlp(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "routewatch.ratelimit.remaining_requests": 5}))  # fmt: skip
    assert record.rate_limits == RateLimits()


# --- what is skipped ---------------------------------------------------------------------------------


def test_non_genai_and_non_inference_spans_are_skipped() -> None:
    spans = [
        _span({"http.request.method": "POST", "url.full": "https://api.openai.com/v1/chat/completions"}, name="POST"),
        _span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, name="execute_tool search"),
        _span({"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"}, name="invoke_agent"),
        _span({"gen_ai.provider.name": "anthropic"}, name="anthropic.messages.count_tokens"),
        _span({}, name="bare"),
        _span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}),
    ]
    batch = records_from_request(encode_spans(spans))
    assert (batch.spans, batch.skipped, batch.errors, len(batch.records)) == (6, 5, 0, 1)
    assert not is_genai_span(["http.request.method", "url.full"])
    assert is_genai_span(["x", "gen_ai.system"])


def test_a_span_that_cannot_be_converted_is_counted_and_the_rest_still_are() -> None:
    good = _span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"})
    request = encode_spans([good, good])
    bad = request.resource_spans[0].scope_spans[0].spans[0]
    bad.start_time_unix_nano = 5
    bad.end_time_unix_nano = 1  # ends before it starts: still converted, its duration unknown (not 0)
    batch = records_from_request(request)
    assert len(batch.records) == 2 and batch.records[0].duration_s is None
    assert batch.no_duration == 1
    broken = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"name": "x", "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
         "startTimeUnixNano": "not a number", "status": "not an object"},
        {"name": "chat", "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]},
    ]}]}]}  # fmt: skip
    batch = records_from_json_request(broken)
    assert (batch.spans, batch.errors, len(batch.records)) == (2, 1, 1)


def _unended_spans() -> Any:
    """A streamed call's span with no end time, and the same span ending before it starts."""
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 40, "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.1, "routewatch.stream.output_chunks": 5,
    }  # fmt: skip
    request = encode_spans([_span(attributes), _span(attributes)])
    no_end, backwards = request.resource_spans[0].scope_spans[0].spans
    no_end.end_time_unix_nano = 0  # never ended (or the exporter did not say)
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1
    return request


def test_a_span_without_a_usable_end_time_keeps_its_facts_but_has_no_latency() -> None:
    """Unknown is unknown, never 0: a span with no end time, or one that ends before it starts, says
    nothing of how long the call took. Its record keeps every other fact but has no duration, and
    nothing derived from one (tokens per second, the mean chunk interval), so no latency detector or
    recent figure takes it for a 0-second call. Every front end agrees, the counts say how many."""
    request = _unended_spans()
    from_json = records_from_json_request(json.loads(json.dumps(request_to_json(request))))
    for batch in (records_from_request(request), records_from_bytes(request.SerializeToString()), from_json):
        assert (len(batch.records), batch.no_duration, batch.errors) == (2, 2, 0)
        for record in batch.records:
            assert record.duration_s is None
            assert record.output_tokens_per_s is None and record.chunk_intervals_s == ()
            assert record.ok and record.usage.output_tokens == 40 and record.time_to_first_chunk_s == 0.1
            assert record.start_time_unix_nano == 10**18
    # OTLP JSON may leave the end time out altogether; an SDK span that was never ended has none.
    span_json = request_to_json(request)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span_json.pop("endTimeUnixNano", None)
    assert record_from_json_span(span_json).duration_s is None  # type: ignore[union-attr]
    provider = TracerProvider()
    open_span = provider.get_tracer("other").start_span("chat", attributes={"gen_ai.operation.name": "chat"},
                                                        start_time=10**18)  # fmt: skip
    assert record_from_readable_span(open_span).duration_s is None  # type: ignore[union-attr]
    # A span that does end keeps its duration, however short.
    (short,) = records_from_request(encode_spans([_span({"gen_ai.operation.name": "chat"}, duration_ns=1)])).records
    assert short.duration_s == 1e-9


# --- real third-party instrumentations (routewatch not instrumented) ---------------------------------
# Each runs in its own process: OpenLLMetry's uninstrument() leaves wrappers behind that would send
# later tests' spans to this test's tracer provider. Spans come back through an OTLP JSON-lines file.

_APP = """
import sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from routewatch.otlp.file_exporter import OTLPJsonFileExporter

url, out, package = sys.argv[1:4]
if package == "openai_v2":
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
else:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileExporter(out)))
OpenAIInstrumentor().instrument(tracer_provider=provider)
with openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
print(completion.id, completion.usage.prompt_tokens, completion.usage.completion_tokens)
provider.shutdown()
"""


@pytest.mark.parametrize("package", ["openai_v2", "openllmetry"])
def test_spans_of_real_openai_instrumentations(simulator, tmp_path, package) -> None:
    simulator.set_scenario(Scenario(default=ProviderSettings(output_tokens=12)))
    out = tmp_path / "spans.jsonl"
    done = subprocess.run([sys.executable, "-c", _APP, simulator.url, str(out), package],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    response_id, prompt_tokens, completion_tokens = done.stdout.split()
    (record,) = read_records(out)
    assert (record.provider, record.operation, record.api) == ("openai", "chat", "openai.chat_completions")
    assert record.request_model == MODEL and record.response_id == response_id
    assert record.usage.input_tokens == int(prompt_tokens)
    assert record.usage.output_tokens == int(completion_tokens) == 12
    assert record.finish_reasons == ("stop",)
    assert record.priced and record.cost_usd is not None and record.cost_usd > 0
    assert record.span_scope is not None and record.span_scope != "routewatch"
