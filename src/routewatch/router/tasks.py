"""Which task class a request belongs to: the caller's word first, then cheap rules on the request.

Order: an explicit `task=` argument; the `task` tag of the enclosing `routewatch.tags(task=...)`
block (or baggage); the configured rules; the built-in rules (`tools` -> tool_use, a JSON response
format -> structured_output, a long prompt -> long_context); else the config's default task.
Rules read only keys and sizes, never interpret text, so classifying costs microseconds.

>>> from routewatch.router.config import ClassifierConfig
>>> classify = TaskClassifier(ClassifierConfig())
>>> classify({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]})
'tool_use'
>>> classify({"response_format": {"type": "json_schema", "json_schema": {}}})
'structured_output'
>>> classify({"messages": [{"role": "user", "content": "hi"}]})
'default'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..tags import current_tags
from .config import ClassifierConfig, Rule

__all__ = ["TaskClassifier", "estimate_prompt_tokens"]

_TOOL_KEYS = ("tools", "functions", "tool_config")
_PROMPT_KEYS = ("messages", "input", "prompt", "contents", "system", "system_instruction", "instructions")
_CHARS_PER_TOKEN = 4


def estimate_prompt_tokens(request: Mapping[str, Any] | None) -> int:
    """A rough prompt size (characters / 4) from the request's message fields; 0 without a request."""
    if not request:
        return 0
    return sum(_text_size(request.get(key)) for key in _PROMPT_KEYS) // _CHARS_PER_TOKEN


def _text_size(value: Any, depth: int = 0) -> int:
    if value is None or depth > 8:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_text_size(v, depth + 1) for k, v in value.items() if k not in ("role", "type", "name"))
    if isinstance(value, (list, tuple)):
        return sum(_text_size(v, depth + 1) for v in value)
    return 0


def _present(request: Mapping[str, Any], key: str) -> bool:
    value = request.get(key)
    return value is not None and value != [] and value != {} and value != ""


def _wants_json(request: Mapping[str, Any]) -> bool:
    fmt = request.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_schema", "json_object"):
        return True
    if isinstance(fmt, type):  # openai's .parse(response_format=SomeModel)
        return True
    text = request.get("text")  # OpenAI Responses: text.format
    if isinstance(text, Mapping) and isinstance(text.get("format"), Mapping):
        return text["format"].get("type") in ("json_schema", "json_object")
    config = request.get("config") or request.get("generation_config") or request.get("generationConfig")
    if isinstance(config, Mapping):  # Gemini
        mime = config.get("response_mime_type") or config.get("responseMimeType")
        if mime == "application/json" or _present(config, "response_schema") or _present(config, "responseSchema"):
            return True
    output = request.get("output_config") or request.get("output_format")  # Anthropic structured outputs
    return isinstance(output, Mapping) and bool(output)


class TaskClassifier:
    """Names the task class of a request; built from a `ClassifierConfig`, immutable."""

    def __init__(self, config: ClassifierConfig, default_task: str = "default") -> None:
        self.config = config
        self.default_task = default_task

    def __call__(self, request: Mapping[str, Any] | None = None, task: str | None = None) -> str:
        if task:
            return task
        tagged = dict(current_tags()).get("task")
        if tagged:
            return tagged
        if not request:
            return self.default_task
        tokens = estimate_prompt_tokens(request)
        for rule in self.config.rules:
            if _matches(rule, request, tokens):
                return rule.task
        if self.config.builtin:
            if any(_present(request, key) for key in _TOOL_KEYS):
                return "tool_use"
            if _wants_json(request):
                return "structured_output"
            if tokens >= self.config.long_context_tokens:
                return "long_context"
        return self.default_task


def _matches(rule: Rule, request: Mapping[str, Any], tokens: int) -> bool:
    if rule.has and not any(_present(request, key) for key in rule.has):
        return False
    if any(request.get(key) != value for key, value in rule.equals.items()):
        return False
    if rule.min_prompt_tokens is not None and tokens < rule.min_prompt_tokens:
        return False
    return rule.max_prompt_tokens is None or tokens <= rule.max_prompt_tokens
