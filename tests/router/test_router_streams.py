"""Streams: a stream that fails before any output reached the caller fails over; after that, it cannot."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from routewatch.router import Router
from routewatch.router.streams import PeekedStream
from routewatch.simulator import ProviderSettings, Scenario, Simulator

MESSAGES = [{"role": "user", "content": "Tell me a story"}]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def router_for(sim: Simulator) -> Router:
    targets = [
        {"name": name, "provider": "openai", "model": f"model-{name}", "base_url": f"{sim.url}/{name}/v1",
         "priority": i, "timeout_s": 2.0}
        for i, name in enumerate(("a", "b"))
    ]  # fmt: skip
    return Router({"targets": targets}, rng=random.Random(1), listen=False)


def stream_chat(client: Any, model: str) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES, stream=True)


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def on_a(sim: Simulator, **settings: Any) -> None:
    sim.set_scenario(Scenario(providers={"/a/v1": ProviderSettings(**settings)}))


def test_a_healthy_stream_is_passed_through_whole(sim: Simulator) -> None:
    sim.set_scenario(Scenario())
    router = router_for(sim)
    with router.run(stream_chat) as stream:
        assert isinstance(stream, PeekedStream)
        chunks = list(stream)
    direct = list(stream_chat(openai.OpenAI(base_url=f"{sim.url}/a/v1", api_key="k"), "model-a"))
    assert text_of(chunks) == text_of(direct) and text_of(chunks)
    assert len(chunks) == len(direct)
    assert chunks[0].model == "model-a"
    assert router.status()["a"]["stats"]["calls"] == 1  # recorded when the stream ended


def test_stream_failing_before_its_first_output_fails_over(sim: Simulator) -> None:
    # A 200, the role-only opening chunk, then an error event: nothing the caller could use yet.
    on_a(sim, faults={"error_after_200": 1.0}, fault_after_chunks=0)
    router = router_for(sim)
    sim.clear_requests()
    chunks = list(router.run(stream_chat))
    assert {c.model for c in chunks} == {"model-b"}
    assert text_of(chunks)
    assert [r.path.split("/")[1] for r in sim.requests] == ["a", "b"]
    assert router.status()["a"]["stats"]["errors"] == 1


def test_stream_cut_before_its_first_output_fails_over(sim: Simulator) -> None:
    on_a(sim, faults={"truncate": 1.0}, fault_after_chunks=0, truncate_mode="close")
    router = router_for(sim)
    chunks = list(router.run(stream_chat))
    assert {c.model for c in chunks} == {"model-b"}


def test_stream_failing_after_output_reached_the_caller_raises_and_counts(sim: Simulator) -> None:
    on_a(sim, faults={"error_after_200": 1.0}, fault_after_chunks=3)
    router = router_for(sim)
    stream = router.run(stream_chat)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert text_of(received)  # the caller saw output: switching targets now would garble it
    assert {c.model for c in received} == {"model-a"}
    assert router.status()["a"]["stats"]["errors"] == 1


async def test_async_stream_failing_before_output_fails_over(sim: Simulator) -> None:
    on_a(sim, faults={"error_after_200": 1.0}, fault_after_chunks=0)
    router = router_for(sim)

    async def astream(client: Any, model: str) -> Any:
        return await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)

    stream = await router.arun(astream)
    chunks = [chunk async for chunk in stream]
    assert {c.model for c in chunks} == {"model-b"}
    assert text_of(chunks)


def test_anthropic_stream_failing_before_its_first_text_fails_over(sim: Simulator, monkeypatch: Any) -> None:
    import anthropic

    # Prefixes tell the two targets apart; message_start arrives, then an error event.
    sim.set_scenario(Scenario(providers={"/a": ProviderSettings(faults={"error_after_200": 1.0},
                                                                fault_after_chunks=0)}))  # fmt: skip
    monkeypatch.setenv("SIM_ANTHROPIC_KEY", "sk-ant-test")
    targets = [
        {"name": name, "provider": "anthropic", "model": f"claude-{name}", "base_url": f"{sim.url}/{name}",
         "api_key_env": "SIM_ANTHROPIC_KEY", "priority": i}
        for i, name in enumerate(("a", "b"))
    ]  # fmt: skip
    router = Router({"targets": targets}, rng=random.Random(1), listen=False)

    def stream(client: Any, model: str) -> Any:
        assert isinstance(client, anthropic.Anthropic)
        return client.messages.create(model=model, max_tokens=32, stream=True,
                                      messages=[{"role": "user", "content": "hi"}])  # fmt: skip

    events = list(router.run(stream))
    start = next(e for e in events if e.type == "message_start")
    assert start.message.model == "claude-b"
    assert any(e.type == "content_block_delta" for e in events)
