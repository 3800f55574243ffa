"""What counts as a reason to fail over, across SDKs, and the retry budget's arithmetic."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from routewatch.router import Router
from routewatch.router.budget import RetryBudget, classify_error
from routewatch.simulator import ProviderSettings, Scenario, Simulator

REQUEST = httpx.Request("POST", "https://api.example.test/v1/chat/completions")


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST, json={"error": {"message": "x"}})


@pytest.mark.parametrize(
    ("exc", "failover", "label"),
    [
        (openai.RateLimitError("slow down", response=response(429), body=None), True, "429"),
        (openai.InternalServerError("boom", response=response(500), body=None), True, "500"),
        (openai.APITimeoutError(REQUEST), True, "timeout"),
        (openai.APIConnectionError(request=REQUEST), True, "connection"),
        (openai.BadRequestError("bad", response=response(400), body=None), False, "400"),
        (openai.NotFoundError("no model", response=response(404), body=None), True, "404"),
        (anthropic.APIStatusError("overloaded", response=response(529), body=None), True, "529"),
        (anthropic.RateLimitError("slow", response=response(429), body=None), True, "429"),
        (httpx.ReadTimeout("read", request=REQUEST), True, "timeout"),
        (httpx.ConnectError("refused", request=REQUEST), True, "connection"),
        (httpx.RemoteProtocolError("peer closed", request=REQUEST), True, "connection"),
        (httpx.HTTPStatusError("503", request=REQUEST, response=response(503)), True, "503"),
        (TimeoutError(), True, "timeout"),
        (ConnectionResetError(), True, "connection"),
        (ValueError("app bug"), False, "ValueError"),
    ],
)
def test_classification(exc: BaseException, failover: bool, label: str) -> None:
    failure = classify_error(exc)
    assert (failure.failover, failure.error_type) == (failover, label)


def test_google_genai_errors_are_classified_by_code() -> None:
    from google.genai import errors

    failure = classify_error(errors.ServerError(503, {"error": {"code": 503, "message": "unavailable"}}))
    assert (failure.failover, failure.status_code) == (True, 503)
    failure = classify_error(errors.ClientError(400, {"error": {"code": 400, "message": "bad"}}))
    assert (failure.failover, failure.status_code) == (False, 400)


def test_an_sdk_error_before_the_first_chunk_fails_over() -> None:
    generic = openai.APIError("error event in stream", request=REQUEST, body=None)
    assert classify_error(generic).failover is False
    assert classify_error(generic, before_first_chunk=True).failover is True


def test_the_callers_own_errors_are_not_the_targets() -> None:
    assert classify_error(KeyError("x")).provider_error is False


def test_retry_after_is_read_from_seconds_and_milliseconds() -> None:
    exc = openai.RateLimitError("slow", response=response(429, **{"retry-after": "7"}), body=None)
    assert classify_error(exc).retry_after_s == 7.0
    exc = openai.RateLimitError("slow", response=response(429, **{"retry-after-ms": "250"}), body=None)
    assert classify_error(exc).retry_after_s == 0.25


def test_retry_budget_allows_ratio_plus_minimum_per_window() -> None:
    now = [0.0]
    budget = RetryBudget(ratio=0.2, min_retries=2, window_s=10, clock=lambda: now[0])
    for _ in range(50):
        budget.on_request()
    granted = sum(budget.try_retry() for _ in range(100))
    assert granted == 12  # 2 + 20 % of 50
    assert budget.denied == 88
    now[0] += 11  # the window slid past all of it
    assert budget.try_retry() is True


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def test_mixed_fleet_anthropic_overloaded_fails_over_to_gemini(sim: Simulator, monkeypatch: Any) -> None:
    monkeypatch.setenv("SIM_ANTHROPIC_KEY", "sk-ant-test")
    monkeypatch.setenv("SIM_GEMINI_KEY", "gemini-test")
    sim.set_scenario(Scenario(providers={"anthropic": ProviderSettings(faults={"http_529": 1.0}, retry_after_s=0)}))
    config = {
        "targets": [
            {"name": "claude", "provider": "anthropic", "model": "claude-test", "base_url": sim.url,
             "api_key_env": "SIM_ANTHROPIC_KEY"},
            {"name": "gemini", "provider": "gcp.gemini", "model": "gemini-test", "base_url": sim.url,
             "api_key_env": "SIM_GEMINI_KEY", "priority": 1},
        ]
    }  # fmt: skip
    router = Router(config, rng=random.Random(1), listen=False)

    def ask(client: Any, model: str) -> str:
        if isinstance(client, anthropic.Anthropic):
            reply = client.messages.create(model=model, max_tokens=32, messages=[{"role": "user", "content": "hi"}])
            return "anthropic:" + reply.content[0].text
        return "gemini:" + (client.models.generate_content(model=model, contents="hi").text or "")

    answer = router.run(ask)
    assert answer.startswith("gemini:")
    status = router.status()
    assert status["claude"]["stats"]["errors"] == 1
    assert status["gemini"]["stats"]["calls"] == 1


def test_a_missing_key_variable_fails_over_and_names_only_the_variable(sim: Simulator, monkeypatch: Any) -> None:
    monkeypatch.delenv("ROUTEWATCH_NO_SUCH_KEY", raising=False)
    sim.set_scenario(Scenario())
    config = {
        "targets": [
            {"name": "a", "provider": "openai", "model": "m", "base_url": sim.url + "/v1",
             "api_key_env": "ROUTEWATCH_NO_SUCH_KEY"},
            {"name": "b", "provider": "openai", "model": "m", "base_url": sim.url + "/v1", "priority": 1},
        ]
    }  # fmt: skip
    router = Router(config, rng=random.Random(1), listen=False)
    reply = router.run(lambda client, model: client.chat.completions.create(model=model, messages=[]))
    assert reply.choices
    assert router.status()["a"]["stats"]["errors"] == 1


def test_an_error_event_after_a_200_is_classified_by_its_body() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    exc = anthropic.APIStatusError("overloaded", response=response(200), body=body)
    failure = classify_error(exc)
    assert (failure.failover, failure.error_type, failure.status_code) == (True, "overloaded_error", None)
    invalid = anthropic.APIStatusError("bad", response=response(200), body={"error": {"type": "invalid_request_error"}})
    assert classify_error(invalid).failover is False
    assert classify_error(invalid, before_first_chunk=True).failover is True
