"""Cohere v2 and Ollama, read with raw httpx / httpx2 as their SDKs would."""

from __future__ import annotations

import json

import httpx
import httpx2

from routewatch.simulator import ProviderSettings, Simulator

MESSAGES = [{"role": "user", "content": "hi"}]


def sse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_cohere_chat_json(sim: Simulator) -> None:
    reply = httpx.post(sim.url + "/v2/chat", json={"model": "command-r-plus", "messages": MESSAGES}).json()
    assert reply["finish_reason"] == "COMPLETE" and reply["message"]["content"][0]["text"]
    assert reply["usage"]["billed_units"]["output_tokens"] == 24


def test_cohere_chat_stream(sim: Simulator) -> None:
    with httpx2.Client() as http:
        body = {"model": "command-r-plus", "messages": MESSAGES, "stream": True, "max_tokens": 5}
        response = http.post(sim.url + "/v2/chat", json=body)
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[:2] == ["message-start", "content-start"] and names[-2:] == ["content-end", "message-end"]
    assert names.count("content-delta") == 5
    end = events[-1][1]["delta"]
    assert end["finish_reason"] == "MAX_TOKENS"  # type: ignore[index]
    assert end["usage"]["billed_units"]["output_tokens"] == 5  # type: ignore[index]


def test_cohere_required_tool_call(sim: Simulator) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        }
    ]
    body = {"model": "c", "messages": MESSAGES, "tools": tools, "tool_choice": "REQUIRED"}
    reply = httpx.post(sim.url + "/v2/chat", json=body).json()
    assert reply["finish_reason"] == "TOOL_CALL"
    assert json.loads(reply["message"]["tool_calls"][0]["function"]["arguments"]).keys() == {"x"}


def test_ollama_chat_streams_ndjson_by_default(sim: Simulator) -> None:
    response = httpx.post(sim.url + "/api/chat", json={"model": "llama3.2", "messages": MESSAGES})
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 25 and not any(line["done"] for line in lines[:-1])
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["eval_count"] == 24 and final["prompt_eval_count"] > 0 and final["total_duration"] > 0
    assert "".join(line["message"]["content"] for line in lines[:-1])


def test_ollama_generate_without_stream_and_with_num_predict(sim: Simulator) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "stream": False, "options": {"num_predict": 4}}
    reply = httpx.post(sim.url + "/api/generate", json=body).json()
    assert reply["done"] is True and reply["done_reason"] == "length" and reply["eval_count"] == 4
    assert reply["response"]


def test_ollama_error_after_200_is_an_error_line(sim: Simulator) -> None:
    sim.set_scenario(ProviderSettings(fault_every_n={"error_after_200": 1}))
    lines = httpx.post(sim.url + "/api/chat", json={"model": "llama3.2", "messages": MESSAGES}).text.splitlines()
    assert "error" in json.loads(lines[-1]) and len(lines) == 4
