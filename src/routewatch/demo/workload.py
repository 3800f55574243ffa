"""The demo's application: chat, streaming, structured output and tool calls, through the official SDKs.

`Workload.call(target, kind)` makes one request the way an app would and raises what the SDK raises;
routewatch sees it only through its transport wrapper, like in any instrumented app.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .scenarios import Target

__all__ = ["KINDS", "Workload"]

#: request kind -> share of the traffic
KINDS: dict[str, float] = {"chat": 0.3, "stream": 0.2, "structured": 0.35, "tools": 0.15}

_TICKET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "question"]},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string"},
    },
    "required": ["category", "urgent", "summary"],
    "additionalProperties": False,
}
_WEATHER_TOOL: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}
_PROMPTS = (
    "Summarise this support ticket in one sentence: the invoice shows a double charge.",
    "Explain what a p95 latency is to a new engineer.",
    "Write a two-line release note for a bug fix in the login page.",
    "What should I check first when an API starts returning 503?",
)


class Workload:
    """SDK clients for every target, built once, and one function per request kind."""

    def __init__(self, sim_url: str, targets: tuple[Target, ...], seed: int) -> None:
        import anthropic
        import openai

        self._rng = random.Random(seed)
        self._clients: dict[str, Any] = {}
        self._targets = targets
        for t in targets:
            if t.sdk == "openai":
                self._clients[t.name] = openai.OpenAI(
                    base_url=sim_url + t.base_path, api_key="sk-demo", max_retries=0, timeout=10.0
                )
            else:
                self._clients[t.name] = anthropic.Anthropic(
                    base_url=sim_url + t.base_path, api_key="sk-ant-demo", max_retries=0, timeout=10.0
                )
        self._kinds = list(KINDS)
        self._weights = list(KINDS.values())

    def next_kind(self) -> str:
        return self._rng.choices(self._kinds, self._weights)[0]

    @property
    def clients(self) -> dict[str, Any]:
        """SDK clients by target name (the Router takes them as they are)."""
        return dict(self._clients)

    def call(self, target: Target, kind: str, client: Any = None) -> None:
        prompt = self._rng.choice(_PROMPTS)
        client = self._clients[target.name] if client is None else client
        calls: dict[str, Callable[[Any, Target, str], None]] = (
            _OPENAI_CALLS if target.sdk == "openai" else _ANTHROPIC_CALLS
        )
        calls[kind](client, target, prompt)

    def warm_up(self) -> None:
        """One call of every kind to every target, at once: first calls pay for imports and set-up."""
        with ThreadPoolExecutor(max_workers=len(self._targets) * len(KINDS)) as pool:
            for future in [pool.submit(self.call, t, k) for t in self._targets for k in KINDS]:
                future.result()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _messages(prompt: str) -> Any:
    return [{"role": "user", "content": prompt}]


def _openai_chat(client: Any, t: Target, prompt: str) -> None:
    client.chat.completions.create(model=t.model, messages=_messages(prompt), max_tokens=200)


def _openai_stream(client: Any, t: Target, prompt: str) -> None:
    stream = client.chat.completions.create(
        model=t.model, messages=_messages(prompt), stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass


def _openai_structured(client: Any, t: Target, prompt: str) -> None:
    reply = client.chat.completions.create(
        model=t.model,
        messages=_messages(prompt),
        response_format={"type": "json_schema", "json_schema": {"name": "ticket", "schema": _TICKET_SCHEMA}},
    )
    _parse_json(reply.choices[0].message.content)


def _openai_tools(client: Any, t: Target, prompt: str) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": _WEATHER_TOOL}}
    client.chat.completions.create(model=t.model, messages=_messages(prompt), tools=[tool], tool_choice="required")


def _anthropic_chat(client: Any, t: Target, prompt: str) -> None:
    client.messages.create(model=t.model, max_tokens=200, messages=_messages(prompt))


def _anthropic_stream(client: Any, t: Target, prompt: str) -> None:
    with client.messages.stream(model=t.model, max_tokens=200, messages=_messages(prompt)) as stream:
        for _ in stream.text_stream:
            pass


def _anthropic_structured(client: Any, t: Target, prompt: str) -> None:
    reply = client.messages.create(
        model=t.model,
        max_tokens=300,
        messages=_messages(prompt),
        # A request field rather than the SDK argument, so SDK versions from before it was added work too.
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": _TICKET_SCHEMA}}},
    )
    _parse_json(next((b.text for b in reply.content if b.type == "text"), None))


def _anthropic_tools(client: Any, t: Target, prompt: str) -> None:
    tool = {"name": "get_weather", "description": "Current weather in a city", "input_schema": _WEATHER_TOOL}
    client.messages.create(
        model=t.model, max_tokens=200, messages=_messages(prompt), tools=[tool], tool_choice={"type": "any"}
    )


def _parse_json(text: str | None) -> None:
    """What an app does with structured output; a parse failure is the app's problem, not an SDK error."""
    with contextlib.suppress(ValueError):
        json.loads(text or "")


_OPENAI_CALLS: dict[str, Callable[[Any, Target, str], None]] = {
    "chat": _openai_chat,
    "stream": _openai_stream,
    "structured": _openai_structured,
    "tools": _openai_tools,
}
_ANTHROPIC_CALLS: dict[str, Callable[[Any, Target, str], None]] = {
    "chat": _anthropic_chat,
    "stream": _anthropic_stream,
    "structured": _anthropic_structured,
    "tools": _anthropic_tools,
}
