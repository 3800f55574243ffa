"""The digest's text-delta template reads a stream exactly as framing and feeding every event does.

Once a stream's parser says where the text lies in one whole text-delta chunk, the digest cuts the
text out of the next chunks that repeat its bytes around the text. These tests digest the same
chunks with the template and without it (framing and feeding every event) and compare what the
call learned: every response fact, the output timings, and what the parser was handed.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import routewatch.call as call_module
from routewatch.bus import SignalBus
from routewatch.call import Call
from routewatch.classify import Route
from routewatch.providers import get_parser
from routewatch.ratelimits import read_response_headers
from routewatch.records import RequestFacts

PIECES = st.sampled_from(["a", " ", "word", '"', "\\", "\n", "\r", "é", "日本", "\u2028", ":", "{}", "\t"])
TEXTS = st.lists(st.lists(PIECES, max_size=3).map("".join), max_size=30)


class _Inst:
    max_body_bytes = 1 << 20

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.bus = SignalBus()  # `pause()` is a no-op off the worker, as here

    def response_headers(self, raw: Any) -> tuple[Any, str, str]:
        return read_response_headers(raw, 0.0)

    def internal_error(self, doing: str) -> None:
        self.errors.append(doing)


def _openai_chunks(texts: list[str], extra: dict[int, dict[str, Any]]) -> list[bytes]:
    head = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "usage": None}
    out = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for i, text in enumerate(texts):
        choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        out.append({**head, "choices": [choice], **extra.get(i, {})})
    out.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": len(texts)}})
    events = [b"data: " + json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n" for o in out]
    return [*events, b"data: [DONE]\n\n"]


def _anthropic_chunks(texts: list[str], extra: dict[int, dict[str, Any]]) -> list[bytes]:
    def event(name: str, obj: dict[str, Any]) -> bytes:
        data = json.dumps({"type": name, **obj}, separators=(",", ":"), ensure_ascii=False).encode()
        return f"event: {name}\n".encode() + b"data: " + data + b"\n\n"

    out = [
        event("message_start", {"message": {"id": "m1", "model": "claude", "usage": {"input_tokens": 3}}}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    for i, text in enumerate(texts):
        delta = {"index": 0, "delta": {"type": "text_delta", "text": text}, **extra.get(i, {})}
        out.append(event("content_block_delta", delta))
    out.append(event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(texts)}}))
    out.append(event("message_stop", {}))
    return out


STREAMS = {"openai.chat_completions": _openai_chunks, "anthropic.messages": _anthropic_chunks}


def _digest(api: str, chunks: list[bytes], *, template: bool, batches: int = 1) -> tuple[Any, ...]:
    call = Call(
        _Inst(), Route("p", api, "chat"), get_parser(api), RequestFacts(model="m", stream=True),  # type: ignore[arg-type]
        "host", 443, SimpleNamespace(), True, {}, (),
    )  # fmt: skip
    call.on_headers(200, httpx2.Headers({"content-type": "text/event-stream"}))
    raw = [(chunk, float(i)) for i, chunk in enumerate(chunks)]
    tries = call_module._TEMPLATE_TRIES
    call_module._TEMPLATE_TRIES = tries if template else 0
    try:
        step = max(1, len(raw) // batches)
        for start in range(0, len(raw), step):
            call._digest(raw[start : start + step])
    finally:
        call_module._TEMPLATE_TRIES = tries
    facts = call._response_facts("read")
    return facts, call._first_out, tuple(call._intervals), call._inst.errors, call._template != (b"", b"")


# (output chunks, first output at): Anthropic counts an empty text delta as output, OpenAI does not.
PLAIN = {"openai.chat_completions": (4, 1.0), "anthropic.messages": (5, 2.0)}


@pytest.mark.parametrize("api", sorted(STREAMS))
def test_a_plain_stream_learns_the_template_and_reads_the_same(api: str) -> None:
    chunks = STREAMS[api](["Hello", " world", ",", " again", ""], {})
    with_template, without = _digest(api, chunks, template=True), _digest(api, chunks, template=False)
    assert with_template[:4] == without[:4]
    assert with_template[4] is True and without[4] is False
    facts, first_out, intervals, errors, _ = with_template
    outputs, first = PLAIN[api]
    assert (facts.output_text, facts.output_chunks, facts.completed) == ("Hello world, again", outputs, True)
    assert (first_out, intervals, errors) == (first, (1.0,) * (outputs - 1), [])  # chunk i arrived at i s


@settings(max_examples=150, deadline=None)
@given(
    api=st.sampled_from(sorted(STREAMS)),
    texts=TEXTS,
    odd=st.dictionaries(st.integers(0, 30), st.sampled_from([{"x": 1}, {"index": 1}, {"logprobs": []}]), max_size=3),
    split=st.sampled_from([0, 0, 7, 97, 1000]),
    batches=st.integers(1, 4),
)
def test_any_stream_reads_the_same_with_or_without_the_template(
    api: str, texts: list[str], odd: dict[int, dict[str, Any]], split: int, batches: int
) -> None:
    chunks = STREAMS[api](texts, odd)
    if split:  # events cut across network chunks, or several in one
        wire = b"".join(chunks)
        chunks = [wire[i : i + split] for i in range(0, len(wire), split)]
    with_template = _digest(api, chunks, template=True, batches=batches)
    without = _digest(api, chunks, template=False, batches=batches)
    assert with_template[:4] == without[:4]
    assert with_template[3] == []
