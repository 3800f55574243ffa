"""What an app gets besides spans and metrics: one `CallRecord` per attempt for its listeners, tags
(from `routewatch.tags` or baggage) on spans and records, and content capture only when asked."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

import routewatch
from routewatch.bus import bus
from routewatch.simulator import Phase, ProviderSettings, Scenario

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "system", "content": "answer briefly"}, {"role": "user", "content": "what is a zebra?"}]
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


@pytest.fixture
def listen():
    """`listen(fn)`: add a listener for this test only."""
    added = []

    def _listen(fn):
        routewatch.add_listener(fn)
        added.append(fn)
        return fn

    yield _listen
    for fn in added:
        routewatch.remove_listener(fn)


def _chat(client, **extra):
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, **extra)


# --- listeners -------------------------------------------------------------------------------------


def test_listener_gets_a_record_that_matches_the_span(client, tel) -> None:
    completion = _chat(client)
    (record,) = tel.wait_records(1)
    span = tel.only_span()
    attrs = span.attributes
    assert (record.provider, record.operation, record.api) == ("openai", "chat", "openai.chat_completions")
    assert record.request_model == MODEL
    assert record.response_model == completion.model
    assert record.response_id == completion.id
    assert record.status_code == 200 and record.ok
    assert record.usage.input_tokens == attrs["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert record.usage.output_tokens == attrs["gen_ai.usage.output_tokens"]
    assert record.cost_usd == attrs["routewatch.cost.usd"] and record.priced
    assert record.finish_reasons == ("stop",)
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    assert record.stream is False and record.time_to_first_chunk_s is None
    assert record.duration_s == pytest.approx((span.end_time - span.start_time) / 1e9, abs=0.02)


def test_stream_record_has_time_to_first_chunk_and_chunk_intervals(client, tel) -> None:
    list(_chat(client, stream=True, stream_options={"include_usage": True}))
    (record,) = tel.wait_records(1)
    attrs = tel.only_span().attributes
    assert record.stream and record.stream_completed
    assert record.time_to_first_chunk_s == attrs["gen_ai.response.time_to_first_chunk"]
    assert len(record.chunk_intervals_s) == attrs["routewatch.stream.output_chunks"] - 1
    assert record.cost_usd == attrs["routewatch.cost.usd"]


def test_one_record_per_attempt(tel, sim) -> None:
    sim.set_scenario(
        Scenario(
            default=ProviderSettings(output_tokens=6, retry_after_s=0.05, fault_every_n={"http_429": 1}),
            phases=[Phase(start_after_requests=1, default=ProviderSettings(fault_every_n={"http_429": 0}))],
        )
    )
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=2) as retrying:
        _chat(retrying)
    first, second = sorted(tel.wait_records(2), key=lambda r: r.start_time_unix_nano)
    assert first.status_code == 429 and first.rate_limited and first.cost_usd is None
    assert first.rate_limits.retry_after_s == 0.05
    assert second.ok and second.retry_count == 1
    assert second.cost_usd is not None


def test_anthropic_record_counts_cached_input(instrument, sim) -> None:
    tel = instrument(providers={sim.url: "anthropic"})
    sim.set_scenario(ProviderSettings(output_tokens=6, input_tokens=40, cached_input_tokens=10))
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as claude:
        claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES[1:])
    (record,) = tel.wait_records(1)
    assert record.provider == "anthropic"
    assert record.usage.input_tokens == 40
    assert record.usage.cache_read_input_tokens == 10
    assert record.cost_usd is not None and record.cost_usd > 0


def test_a_failing_listener_affects_neither_the_app_nor_other_listeners(client, tel, listen) -> None:
    def broken(record):
        raise RuntimeError("listener bug")

    received = []
    errors_before = bus.listener_errors
    listen(broken)
    listen(received.append)
    completion = _chat(client)  # the app's call is unaffected
    assert completion.choices[0].message.content
    routewatch.flush()
    assert len(received) == 1 and received[0].response_id == completion.id
    assert len(tel.records) == 1
    assert bus.listener_errors == errors_before + 1


def test_remove_listener_stops_delivery(client, tel, listen) -> None:
    received = []
    listen(received.append)
    _chat(client)
    routewatch.flush()
    routewatch.remove_listener(received.append)
    _chat(client)
    routewatch.flush()
    assert len(received) == 1
    assert len(tel.records) == 2


# --- tags ------------------------------------------------------------------------------------------


def test_tags_reach_the_span_and_the_record(client, tel) -> None:
    with routewatch.tags(tenant="acme", task="faq"):
        _chat(client)
    attrs = tel.only_span().attributes
    assert attrs["routewatch.tag.tenant"] == "acme"
    assert attrs["routewatch.tag.task"] == "faq"
    (record,) = tel.wait_records(1)
    assert record.tag("tenant") == "acme" and record.tag("task") == "faq"


def test_calls_outside_a_tags_block_are_untagged(client, tel) -> None:
    with routewatch.tags(tenant="acme"):
        pass
    _chat(client)
    assert not [key for key in tel.only_span().attributes if key.startswith("routewatch.tag.")]


def test_nested_tags_add_and_override(client, tel) -> None:
    with routewatch.tags(tenant="acme", task="faq"), routewatch.tags(task="summarise", route="fast"):
        _chat(client)
    (record,) = tel.wait_records(1)
    assert dict(record.tags) == {"tenant": "acme", "task": "summarise", "route": "fast"}


async def test_tags_follow_each_asyncio_task(tel, sim) -> None:
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0) as aclient:

        async def call(tenant: str) -> str:
            with routewatch.tags(tenant=tenant):
                await asyncio.sleep(0)
                completion = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
                return completion.id

        ids = await asyncio.gather(call("acme"), call("globex"))
    by_id = {s.attributes["gen_ai.response.id"]: s.attributes["routewatch.tag.tenant"] for s in tel.genai_spans()}
    assert by_id == {ids[0]: "acme", ids[1]: "globex"}


def test_baggage_tenant_is_read_as_a_tag(client, tel) -> None:
    token = otel_context.attach(baggage.set_baggage("tenant", "globex"))
    try:
        _chat(client)
    finally:
        otel_context.detach(token)
    assert tel.only_span().attributes["routewatch.tag.tenant"] == "globex"
    (record,) = tel.wait_records(1)
    assert record.tag("tenant") == "globex"


def test_explicit_tags_win_over_baggage(client, tel) -> None:
    token = otel_context.attach(baggage.set_baggage("tenant", "globex"))
    try:
        with routewatch.tags(tenant="acme"):
            _chat(client)
    finally:
        otel_context.detach(token)
    assert tel.only_span().attributes["routewatch.tag.tenant"] == "acme"


def test_unrelated_baggage_is_not_a_tag(client, tel) -> None:
    token = otel_context.attach(baggage.set_baggage("session.secret", "s3cr3t"))
    try:
        _chat(client)
    finally:
        otel_context.detach(token)
    assert "s3cr3t" not in json.dumps({k: str(v) for k, v in tel.only_span().attributes.items()})


# --- content capture -------------------------------------------------------------------------------


def test_content_is_not_captured_by_default(client, tel, monkeypatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    _chat(client)
    attrs = tel.only_span().attributes
    assert not [key for key in CONTENT_KEYS if key in attrs]
    assert "zebra" not in json.dumps({k: str(v) for k, v in attrs.items()})


def test_capture_content_true_records_the_messages(instrument, client, sim, monkeypatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    tel = instrument(providers={sim.url + "/v1": "openai"}, capture_content=True)
    completion = _chat(client)
    attrs = tel.only_span().attributes
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "what is a zebra?"}]}
    ]
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "answer briefly"}]
    (output,) = json.loads(attrs["gen_ai.output.messages"])
    assert output["role"] == "assistant"
    assert output["parts"] == [{"type": "text", "content": completion.choices[0].message.content}]
    assert output["finish_reason"] == "stop"


def test_captured_stream_output_is_the_whole_text(instrument, client, sim) -> None:
    tel = instrument(providers={sim.url + "/v1": "openai"}, capture_content=True)
    chunks = list(_chat(client, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    (output,) = json.loads(tel.only_span().attributes["gen_ai.output.messages"])
    assert output["parts"][0]["content"] == text


def test_capture_env_span_only_turns_capture_on(instrument, client, sim, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    tel = instrument(providers={sim.url + "/v1": "openai"})
    _chat(client)
    attrs = tel.only_span().attributes
    assert all(key in attrs for key in CONTENT_KEYS)


def test_capture_env_no_content_keeps_capture_off(instrument, client, sim, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    tel = instrument(providers={sim.url + "/v1": "openai"})
    _chat(client)
    assert not [key for key in CONTENT_KEYS if key in tel.only_span().attributes]


def test_explicit_capture_false_beats_the_environment(instrument, client, sim, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    tel = instrument(providers={sim.url + "/v1": "openai"}, capture_content=False)
    _chat(client)
    assert not [key for key in CONTENT_KEYS if key in tel.only_span().attributes]


def test_anthropic_system_prompt_is_captured_as_system_instructions(instrument, sim) -> None:
    tel = instrument(providers={sim.url: "anthropic"}, capture_content=True)
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as claude:
        claude.messages.create(model="claude-haiku-4-5", max_tokens=50, system="answer briefly", messages=MESSAGES[1:])
    attrs = tel.only_span().attributes
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "answer briefly"}]
    assert json.loads(attrs["gen_ai.input.messages"])[0]["role"] == "user"
