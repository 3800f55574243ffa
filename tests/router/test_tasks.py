"""Task classes: the caller's word, then the tags context, then rules on the request."""

from __future__ import annotations

import routewatch
from routewatch.router.config import ClassifierConfig, Rule
from routewatch.router.tasks import TaskClassifier, estimate_prompt_tokens

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def classify(request: dict | None, task: str | None = None, **config: object) -> str:
    return TaskClassifier(ClassifierConfig.model_validate(config))(request, task)


def test_an_explicit_task_wins() -> None:
    assert classify({**CHAT, "tools": [{"type": "function"}]}, task="triage") == "triage"


def test_the_tags_context_names_the_task() -> None:
    with routewatch.tags(task="summarise"):
        assert classify({**CHAT, "tools": [{"type": "function"}]}) == "summarise"


def test_tools_mean_tool_use() -> None:
    assert classify({**CHAT, "tools": [{"type": "function", "function": {"name": "f"}}]}) == "tool_use"
    assert classify({**CHAT, "tools": []}) == "default"  # an empty list offers nothing


def test_json_response_formats_mean_structured_output() -> None:
    assert classify({**CHAT, "response_format": {"type": "json_schema", "json_schema": {}}}) == "structured_output"
    assert classify({**CHAT, "response_format": {"type": "json_object"}}) == "structured_output"
    assert classify({**CHAT, "response_format": {"type": "text"}}) == "default"
    assert classify({"input": "x", "text": {"format": {"type": "json_schema"}}}) == "structured_output"
    assert classify({"contents": "x", "config": {"response_mime_type": "application/json"}}) == "structured_output"


def test_long_prompts_mean_long_context() -> None:
    long = {"messages": [{"role": "user", "content": "word " * 10_000}]}
    assert estimate_prompt_tokens(long) == 12_500
    assert classify(long) == "long_context"
    assert classify(long, long_context_tokens=20_000) == "default"


def test_no_request_and_no_tag_is_the_default_task() -> None:
    assert classify(None) == "default"
    assert TaskClassifier(ClassifierConfig(), default_task="chat")(CHAT) == "chat"


def test_custom_rules_run_before_the_built_in_ones() -> None:
    rules = [Rule(task="bulk", equals={"service_tier": "flex"}), Rule(task="agent", has=("tools",))]
    config = ClassifierConfig(rules=tuple(rules))
    classify_ = TaskClassifier(config)
    assert classify_({**CHAT, "service_tier": "flex", "tools": [{"type": "function"}]}) == "bulk"
    assert classify_({**CHAT, "tools": [{"type": "function"}]}) == "agent"


def test_prompt_size_rules() -> None:
    config = ClassifierConfig(rules=(Rule(task="tiny", max_prompt_tokens=10), Rule(task="big", min_prompt_tokens=50)))
    classify_ = TaskClassifier(config)
    assert classify_(CHAT) == "tiny"
    assert classify_({"messages": [{"role": "user", "content": "x" * 400}]}) == "big"
    assert classify_({"messages": [{"role": "user", "content": "x" * 100}]}) == "default"


def test_built_in_rules_can_be_switched_off() -> None:
    assert classify({**CHAT, "tools": [{"type": "function"}]}, builtin=False) == "default"
