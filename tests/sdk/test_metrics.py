"""GenAI client metrics from real SDK calls: the convention's instruments and buckets, streaming-only
timing histograms, cost for priced models and a count of unpriced ones, and bounded attributes."""

from __future__ import annotations

import json

import openai
import pytest

import routewatch
from routewatch import semconv
from routewatch.simulator import ProviderSettings

MODEL = "gpt-4o-mini"  # genai-prices knows it
UNKNOWN_MODEL = "acme-private-model-7"
PROMPT = "a distinctive prompt about zebra crossings"
MESSAGES = [{"role": "user", "content": PROMPT}]

DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
TPOC = "gen_ai.client.operation.time_per_output_chunk"
COST = "routewatch.client.cost"
UNPRICED = "routewatch.client.unpriced_calls"


def _chat(client, model: str = MODEL, **extra):
    return client.chat.completions.create(model=model, messages=MESSAGES, **extra)


def _stream(client, include_usage: bool = True) -> list:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    return list(_chat(client, stream=True, **options))


def _count(points) -> int:
    return sum(p.count for p in points)


def test_duration_is_recorded_once_per_call_with_the_call_attributes(client, tel, sim) -> None:
    _chat(client)
    (point,) = tel.metric_points(DURATION)
    span = tel.only_span()
    assert point.count == 1
    assert point.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=0.02)
    assert point.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": sim.port,
    }


def test_duration_carries_error_type_on_failures_only(client, tel, sim) -> None:
    _chat(client)
    sim.set_scenario(ProviderSettings(fault_every_n={"http_429": 1}))
    with pytest.raises(openai.RateLimitError):
        _chat(client)
    points = tel.metric_points(DURATION)
    assert sorted(p.attributes.get("error.type", "") for p in points) == ["", "rate_limit_exceeded"]
    assert all(p.count == 1 for p in points)


def test_token_usage_by_token_type(client, tel) -> None:
    completion = _chat(client)
    points = {p.attributes["gen_ai.token.type"]: p for p in tel.metric_points(TOKENS)}
    assert set(points) == {"input", "output"}
    assert points["input"].sum == completion.usage.prompt_tokens
    assert points["output"].sum == completion.usage.completion_tokens
    assert points["input"].count == points["output"].count == 1


def test_unknown_usage_records_no_token_usage(client, tel) -> None:
    _stream(client, include_usage=False)
    assert tel.metric_points(TOKENS) == []
    assert _count(tel.metric_points(DURATION)) == 1


def test_streaming_histograms_are_for_streams_only(client, tel) -> None:
    _chat(client)
    assert tel.metric_points(TTFC) == []
    assert tel.metric_points(TPOC) == []


def test_time_to_first_chunk_is_recorded_once_per_stream(client, tel) -> None:
    _stream(client)
    (point,) = tel.metric_points(TTFC)
    assert point.count == 1
    assert point.sum == pytest.approx(tel.only_span().attributes["gen_ai.response.time_to_first_chunk"])


def test_time_per_output_chunk_defaults_to_one_point_per_stream_the_mean_gap(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(output_tokens=8, per_token_s=0.002))
    _stream(client)
    (record,) = tel.wait_records(1)
    (point,) = tel.metric_points(TPOC)
    assert point.count == 1
    assert len(record.chunk_intervals_s) == 7  # every gap is still on the CallRecord
    assert point.sum == pytest.approx(sum(record.chunk_intervals_s) / 7)


def test_per_chunk_metrics_records_every_chunk_after_the_first(client, tel, sim, instrument) -> None:
    instrument(providers={sim.url + "/v1": "openai"}, per_chunk_metrics=True)
    sim.set_scenario(ProviderSettings(output_tokens=8, per_token_s=0.002))
    _stream(client)
    chunks = tel.only_span().attributes["routewatch.stream.output_chunks"]
    assert chunks == 8
    (point,) = tel.metric_points(TPOC)
    assert point.count == chunks - 1
    span = tel.only_span()
    assert point.min >= 0
    assert point.sum < (span.end_time - span.start_time) / 1e9  # the gaps lie within the call


def test_cost_counter_for_a_priced_model(client, tel) -> None:
    _chat(client)
    _chat(client)
    usd = sum(span.attributes["routewatch.cost.usd"] for span in tel.genai_spans())
    (point,) = tel.metric_points(COST)
    assert point.value == pytest.approx(usd)
    assert usd > 0
    assert tel.metric_points(UNPRICED) == []


def test_cost_instrument_is_in_usd(client, tel) -> None:
    _chat(client)
    routewatch.flush()
    data = tel.reader.get_metrics_data()
    units = {m.name: m.unit for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert units[COST] == "USD"
    assert units[DURATION] == "s"
    assert units[TOKENS] == "{token}"


def test_unknown_model_counts_as_unpriced_not_free(client, tel) -> None:
    _chat(client, model=UNKNOWN_MODEL)
    (point,) = tel.metric_points(UNPRICED)
    assert point.value == 1
    assert point.attributes["gen_ai.request.model"] == UNKNOWN_MODEL
    assert tel.metric_points(COST) == []
    assert tel.only_span().attributes["routewatch.cost.priced"] is False


def test_unknown_usage_of_a_priced_model_counts_as_unpriced(client, tel) -> None:
    _stream(client, include_usage=False)
    assert tel.metric_points(COST) == []
    (point,) = tel.metric_points(UNPRICED)
    assert point.value == 1


def test_failed_calls_are_neither_costed_nor_unpriced(client, tel, sim) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"http_500": 1}))
    with pytest.raises(openai.InternalServerError):
        _chat(client)
    assert tel.metric_points(COST) == []
    assert tel.metric_points(UNPRICED) == []


def test_histogram_buckets_are_the_conventions(client, tel) -> None:
    _stream(client)
    for name in (DURATION, TTFC, TPOC):
        (point,) = tel.metric_points(name)
        assert tuple(point.explicit_bounds) == semconv.DURATION_BUCKETS, name
    for point in tel.metric_points(TOKENS):
        assert tuple(point.explicit_bounds) == semconv.TOKEN_BUCKETS


def test_metric_attributes_hold_no_response_id_and_no_prompt(client, tel) -> None:
    completion = _chat(client)
    _stream(client)
    names = (DURATION, TOKENS, TTFC, TPOC, COST)
    attributes = [dict(p.attributes) for name in names for p in tel.metric_points(name)]
    assert attributes
    text = json.dumps(attributes)
    assert completion.id not in text
    assert "chatcmpl" not in text
    assert "zebra" not in text
    assert not [key for attrs in attributes for key in attrs if key == "gen_ai.response.id"]


def test_tags_label_the_span_and_the_metrics(client, tel) -> None:
    with routewatch.tags(tenant="acme"):
        _chat(client)
    assert tel.only_span().attributes["routewatch.tag.tenant"] == "acme"
    for name in (DURATION, TOKENS, COST):
        points = tel.metric_points(name)
        assert points and all(p.attributes["routewatch.tag.tenant"] == "acme" for p in points), name


def test_only_low_cardinality_tags_reach_the_metrics(client, tel) -> None:
    with routewatch.tags(tenant="acme", task="summarise", user_id="u-12345"):
        _chat(client)
    assert tel.only_span().attributes["routewatch.tag.user_id"] == "u-12345"
    (point,) = tel.metric_points(DURATION)
    assert point.attributes["routewatch.tag.tenant"] == "acme"
    assert point.attributes["routewatch.tag.task"] == "summarise"
    assert "routewatch.tag.user_id" not in point.attributes


def test_calls_with_different_tags_are_separate_series(client, tel) -> None:
    for tenant in ("acme", "globex", "acme"):
        with routewatch.tags(tenant=tenant):
            _chat(client)
    counts = {p.attributes["routewatch.tag.tenant"]: p.count for p in tel.metric_points(DURATION)}
    assert counts == {"acme": 2, "globex": 1}


def test_metrics_can_be_turned_off(instrument, client, sim) -> None:
    tel = instrument(providers={sim.url + "/v1": "openai"}, metrics=False)
    _chat(client)
    assert len(tel.genai_spans()) == 1
    assert tel.metric_points(DURATION) == []
