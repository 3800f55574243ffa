"""Parsers never raise: random bytes, random JSON, fixtures with values swapped for wrong types,
and fixtures cut at (sampled) byte offsets all yield well-typed facts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routewatch.providers import PARSERS, ApiParser
from routewatch.records import RequestFacts, ResponseFacts, Usage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Keys and strings the parsers look for, so random JSON reaches deep into their code paths.
VOCABULARY = [
    "choices", "delta", "content", "text", "tool_calls", "refusal", "finish_reason", "usage", "error",
    "type", "message", "model", "id", "index", "response", "output", "status", "item", "code",
    "prompt_tokens", "completion_tokens", "prompt_tokens_details", "input_tokens", "output_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens_details", "candidates",
    "parts", "finishReason", "usageMetadata", "promptFeedback", "blockReason", "functionCall",
    "thought", "tokens", "billed_units", "done", "done_reason", "eval_count", "prompt_eval_count",
    "stop", "stream", "tools", "tool_choice", "response_format", "json_schema", "schema",
    "generationConfig", "options", "format", "stream_options", "n", "incomplete_details",
    "message_start", "message_delta", "message_stop", "content_block_delta", "content_block_start",
    "text_delta", "response.completed", "response.failed", "response.output_text.delta",
    "response.output_item.added", "function_call", "message-start", "content-delta", "message-end",
    "tool-call-start", "required", "json_object", "[DONE]",
]  # fmt: skip
KEYS = st.sampled_from(VOCABULARY) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(VOCABULARY)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
PARSER_LIST = [PARSERS[api] for api in sorted(PARSERS)]
PATHS = st.sampled_from(
    ["", "/", "/v1/chat/completions", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "::", "/a/b:"]
) | st.text(max_size=30)

FIXTURE_FILES = sorted(path for path in FIXTURES.rglob("*") if path.is_file())
PROVIDER_APIS = {
    provider: [parser for parser in PARSER_LIST if parser.api.startswith(provider + ".")]
    for provider in ("openai", "anthropic", "gemini", "cohere", "ollama")
}


def apis_for(path: Path) -> list[ApiParser]:
    return PROVIDER_APIS[path.parent.name]


def check_usage(usage: Usage) -> None:
    assert isinstance(usage, Usage)
    for value in (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        usage.reasoning_output_tokens,
    ):
        assert value is None or (isinstance(value, int) and not isinstance(value, bool))


def check_response(facts: ResponseFacts) -> None:
    assert isinstance(facts, ResponseFacts)
    check_usage(facts.usage)
    assert isinstance(facts.finish_reasons, tuple)
    assert all(isinstance(reason, str) and reason for reason in facts.finish_reasons)
    assert isinstance(facts.shape, tuple) and all(isinstance(key, str) for key in facts.shape)
    assert list(facts.shape) == sorted(facts.shape)
    for value in (
        facts.response_id,
        facts.response_model,
        facts.error_type,
        facts.error_message,
        facts.output_text,
        facts.system_fingerprint,
        facts.service_tier,
    ):
        assert value is None or isinstance(value, str)
    assert facts.output_text is None or len(facts.output_text) <= 64 * 1024
    assert isinstance(facts.output_chunks, int) and facts.output_chunks >= 0
    assert isinstance(facts.tool_call_count, int) and facts.tool_call_count >= 0
    for flag in (facts.completed, facts.refusal, facts.parsed):
        assert isinstance(flag, bool)


def check_request(facts: RequestFacts) -> None:
    assert isinstance(facts, RequestFacts)
    assert isinstance(facts.stream, bool)
    assert isinstance(facts.has_tools, bool) and isinstance(facts.tool_choice_required, bool)
    for value in (facts.model, facts.output_type, facts.service_tier):
        assert value is None or isinstance(value, str)
    for value in (facts.max_tokens, facts.seed, facts.choice_count):
        assert value is None or (isinstance(value, int) and not isinstance(value, bool))
    for number in (facts.temperature, facts.top_p, facts.top_k, facts.frequency_penalty, facts.presence_penalty):
        assert number is None or isinstance(number, float)
    assert facts.stop_sequences is None or all(isinstance(stop, str) for stop in facts.stop_sequences)
    assert facts.json_schema is None or isinstance(facts.json_schema, dict)
    assert facts.include_usage is None or isinstance(facts.include_usage, bool)


def exercise(parser: ApiParser, body: bytes, path: str = "", query: str = "") -> None:
    """Every entry point over `body`, and `body` as a stream both whole and split into lines."""
    check_request(parser.parse_request(body, path, query))
    check_response(parser.parse_response(body))
    check_response(parser.parse_error(500, body))
    stream = parser.stream_parser()
    assert isinstance(stream.feed(None, body), bool)
    assert isinstance(stream.feed("error", body), bool)
    for line in body.split(b"\n"):
        assert isinstance(stream.feed(None, line), bool)
    check_response(stream.finish())


def mutate(value: Any, data: st.DataObject) -> Any:
    """`value` with some nodes replaced by random JSON (so right keys hold wrong types)."""
    if data.draw(st.integers(0, 9), label="replace") == 0:
        return data.draw(JSON_VALUES, label="replacement")
    if isinstance(value, dict):
        return {key: mutate(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [mutate(item, data) for item in value]
    return value


Framer = Callable[[bytes, str], list[tuple[str | None, bytes]]]
StreamRunner = Callable[[ApiParser, list[tuple[str | None, bytes]]], tuple[ResponseFacts, list[bool]]]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=st.binary(max_size=300), path=PATHS, query=st.text(max_size=20))
def test_random_bytes(body: bytes, path: str, query: str) -> None:
    for parser in PARSER_LIST:
        exercise(parser, body, path, query)


@FAST
@given(value=JSON_VALUES, path=PATHS)
def test_random_json(value: Any, path: str) -> None:
    body = json.dumps(value).encode()
    for parser in PARSER_LIST:
        exercise(parser, body, path, "alt=sse")


@FAST
@given(data=st.data(), fixture=st.sampled_from(FIXTURE_FILES))
def test_fixtures_with_values_of_wrong_types(
    data: st.DataObject, fixture: Path, frame: Framer, run_stream: StreamRunner
) -> None:
    for parser in apis_for(fixture):
        events = frame(fixture.read_bytes(), parser.stream_format)
        if fixture.suffix == ".json":
            mutated = json.dumps(mutate(json.loads(fixture.read_bytes()), data)).encode()
            check_response(parser.parse_response(mutated))
            check_response(parser.parse_error(400, mutated))
            check_request(parser.parse_request(mutated, "/v1beta/models/m:generateContent", ""))
            events = [(None, mutated)]
        mutated_events = []
        for name, payload in events:
            try:
                mutated_events.append((name, json.dumps(mutate(json.loads(payload), data)).encode()))
            except ValueError:
                mutated_events.append((name, payload))
        facts, outputs = run_stream(parser, mutated_events)
        check_response(facts)
        assert all(isinstance(output, bool) for output in outputs)


def offsets(size: int) -> range:
    return range(0, size + 1, max(1, size // 150))


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_fixture_truncated_at_byte_offsets(fixture: Path, frame: Framer, run_stream: StreamRunner) -> None:
    raw = fixture.read_bytes()
    for parser in apis_for(fixture):
        for cut in offsets(len(raw)):
            body = raw[:cut]
            check_response(parser.parse_response(body))
            check_response(parser.parse_error(502, body))
            facts, outputs = run_stream(parser, frame(body, parser.stream_format))
            check_response(facts)
            assert all(isinstance(output, bool) for output in outputs)


def test_request_fixtures_never_raise_when_truncated() -> None:
    body = json.dumps(
        {
            "model": "m",
            "stream": True,
            "max_tokens": 5,
            "stop": ["a"],
            "tools": [{"type": "function"}],
            "tool_choice": "required",
            "response_format": {"type": "json_schema", "json_schema": {"schema": {}}},
            "generationConfig": {"maxOutputTokens": 3, "responseSchema": {}},
            "options": {"num_predict": 4},
        }
    ).encode()
    for parser in PARSER_LIST:
        for cut in range(len(body) + 1):
            check_request(parser.parse_request(body[:cut], "/v1/models/m:streamGenerateContent", "alt=sse"))


def test_an_unexpected_exception_in_an_entry_point_returns_the_fallback() -> None:
    from routewatch.providers._json import guarded, status_error

    class Exploding:
        @guarded(status_error)
        def parse_error(self, status_code: int, body: bytes) -> ResponseFacts:
            raise RuntimeError("bug")

    assert Exploding().parse_error(429, b"") == ResponseFacts(error_type="429", parsed=False)
    assert Exploding().parse_error(status_code=503, body=b"").error_type == "503"
