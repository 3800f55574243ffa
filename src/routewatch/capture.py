"""Opt-in content capture: messages as the GenAI convention's JSON, only when the user asked.

Off by default. `capture_content=True` or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` set
to `SPAN_ONLY`, `SPAN_AND_EVENT` or `true` turns it on. Text parts are kept; other parts (images,
audio, tool payloads) are recorded by type only, so binary data never lands on a span.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from . import semconv as sc
from .records import CallRecord

__all__ = ["capture_enabled", "content_attributes", "input_messages"]

log = logging.getLogger("routewatch")
_ON = {"span_only", "span_and_event", "true"}
_OFF = {"", "no_content", "event_only", "false"}
_MAX_CHARS = 64 * 1024


def capture_enabled(explicit: bool | None) -> bool:
    """Explicit argument wins; else the environment variable; a bad value logs and means off."""
    if explicit is not None:
        return explicit
    value = os.environ.get(sc.ENV_CAPTURE_CONTENT, "").strip().lower()
    if value in _ON:
        return True
    if value not in _OFF:
        log.warning("%s=%r is not a known value; content capture stays off", sc.ENV_CAPTURE_CONTENT, value)
    return False


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content[:_MAX_CHARS]}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "content": item[:_MAX_CHARS]})
            elif isinstance(item, dict):
                text = item.get("text")
                if isinstance(text, str):
                    parts.append({"type": "text", "content": text[:_MAX_CHARS]})
                else:
                    parts.append({"type": str(item.get("type", "unknown"))})
    return parts


def input_messages(api: str, body: bytes) -> tuple[str | None, str | None]:
    """(input messages JSON, system instructions JSON) from a request body; (None, None) if unreadable."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    messages: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    if api.startswith("gemini."):
        for item in payload.get("contents") or []:
            if isinstance(item, dict):
                messages.append({"role": item.get("role", "user"), "parts": _text_parts(item.get("parts"))})
        instruction = payload.get("systemInstruction") or payload.get("system_instruction")
        if isinstance(instruction, dict):
            system = _text_parts(instruction.get("parts"))
    elif api == "openai.responses" or (api.endswith("completions") and "prompt" in payload):
        raw = payload.get("input", payload.get("prompt"))
        if isinstance(raw, str):
            messages.append({"role": "user", "parts": _text_parts(raw)})
        elif isinstance(raw, list):
            for item in raw:
                if isinstance(item, dict):
                    messages.append({"role": item.get("role", "user"), "parts": _text_parts(item.get("content"))})
        if isinstance(payload.get("instructions"), str):
            system = _text_parts(payload["instructions"])
    else:
        if api == "ollama.generate":
            messages.append({"role": "user", "parts": _text_parts(payload.get("prompt"))})
        for item in payload.get("messages") or []:
            if isinstance(item, dict):
                role = item.get("role", "user")
                parts = _text_parts(item.get("content"))
                if role in ("system", "developer"):
                    system.extend(parts)
                else:
                    messages.append({"role": role, "parts": parts})
        if "system" in payload:
            system.extend(_text_parts(payload["system"]))
    return (json.dumps(messages) if messages else None), (json.dumps(system) if system else None)


def content_attributes(record: CallRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if record.request.input_messages:
        attrs[sc.GEN_AI_INPUT_MESSAGES] = record.request.input_messages
    if record.request.system_instructions:
        attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = record.request.system_instructions
    text = record.response.output_text
    if text is not None:
        message = {
            "role": "assistant",
            "parts": [{"type": "text", "content": text}],
            "finish_reason": record.finish_reasons[0] if record.finish_reasons else "",
        }
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps([message])
    return attrs
