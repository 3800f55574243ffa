"""One simulated call: what every provider responder receives, and the machinery they share to
build JSON replies and play streams with pacing and mid-stream faults."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import AsyncGenerator, MutableMapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from .content import Output, estimate_tokens, plan_output
from .http import HttpRequest, HttpResponse, StreamAbort
from .limits import LimitSnapshot
from .scenario import ProviderSettings, jittered

__all__ = [
    "Call",
    "StreamPlan",
    "Template",
    "dumps",
    "json_reply",
    "mapping",
    "ndjson",
    "retry_headers",
    "sse",
    "stream_reply",
]

_MID_STREAM_FAULTS = frozenset({"truncate", "error_after_200", "malformed_body"})


def mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (request bodies are untrusted)."""
    return value if isinstance(value, dict) else {}


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps(value: Any) -> bytes:
    """Compact JSON, as bytes (one shared encoder: building one per call costs more than encoding)."""
    if type(value) is str:
        return encode_basestring_ascii(value).encode()
    return _ENCODER.encode(value).encode()


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already bytes."""
    payload = data if isinstance(data, bytes) else dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


def ndjson(data: Any) -> bytes:
    return dumps(data) + b"\n"


class Template:
    """A JSON frame with holes, serialized once: `Template(value)(a, b)` is the frame of `value` with
    its `HOLE`s replaced, in order, by `a` and `b`, without re-encoding the rest (streams send one
    frame per token)."""

    HOLE = "\x00hole\x00"
    _HOLE_JSON = dumps(HOLE)

    def __init__(self, value: Any, event: str | None = None, framing: str = "sse") -> None:
        encoded = sse(value, event) if framing == "sse" else ndjson(value)
        self._parts = encoded.split(self._HOLE_JSON)
        if len(self._parts) < 2:
            raise ValueError("template has no hole")

    def __call__(self, *values: Any) -> bytes:
        parts = self._parts
        out = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            out.append(dumps(value))
            out.append(part)
        return b"".join(out)


def retry_headers(settings: ProviderSettings, status: int) -> list[tuple[str, str]]:
    """`retry-after` (and `retry-after-ms`, which the OpenAI and Anthropic SDKs prefer) on 429/503/529."""
    if status not in (429, 503, 529):
        return []
    seconds = settings.retry_after_s
    return [("retry-after", str(math.ceil(seconds))), ("retry-after-ms", str(round(seconds * 1000)))]


@dataclass(slots=True)
class Call:
    """One request as a responder sees it: the parsed body, the settings and fault drawn for it, a
    seeded RNG (ids, jitter) and a content seed that depends only on the body."""

    provider: str
    request: HttpRequest
    body: dict[str, Any]
    settings: ProviderSettings
    fault: str | None
    seq: int
    rng: random.Random
    seed: int
    limits: LimitSnapshot
    #: Responses kept for `GET /v1/responses/{id}`, shared by the simulator.
    store: MutableMapping[str, bytes] = field(default_factory=dict)
    #: The (jittered) delay before a non-streamed reply, drawn once so headers can report it.
    delay_s: float = 0.0
    created: int = field(default_factory=lambda: int(time.time()))

    def model(self, requested: str) -> str:
        """The model a response reports: the override when the scenario sets one, else `requested`."""
        return self.settings.model_override or requested

    @property
    def input_tokens(self) -> int:
        given = self.settings.input_tokens
        return given if given is not None else estimate_tokens(self.request.body)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def new_id(self, prefix: str, hex_digits: int = 24) -> str:
        return prefix + format(self.rng.getrandbits(4 * hex_digits), f"0{hex_digits}x")

    def jitter(self, seconds: float) -> float:
        return jittered(seconds, self.settings.jitter_sigma, self.rng)

    def output(
        self,
        max_tokens: Any = None,
        *,
        json_mode: bool = False,
        schema: dict[str, Any] | None = None,
        tool: tuple[str, dict[str, Any] | None] | None = None,
    ) -> Output:
        """Plan the reply; `max_tokens` is the request's cap (ignored unless an int)."""
        return plan_output(
            seed=self.seed,
            output_tokens=self.settings.output_tokens,
            max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
            fault=self.fault,
            json_mode=json_mode,
            schema=schema if isinstance(schema, dict) else None,
            tool=tool,
        )


@dataclass(slots=True)
class StreamPlan:
    """The frames of one stream: `prelude` (sent at once, or at the first token when
    `prelude_at_first_token`), one frame per content `chunks`, then `coda` (the terminal events).
    `error` is the provider's mid-stream error frame (None when it has none) and `garbage` what a
    malformed stream sends instead of a frame."""

    chunks: list[bytes]
    prelude: list[bytes] = field(default_factory=list)
    coda: list[bytes] = field(default_factory=list)
    error: bytes | None = None
    garbage: bytes = b'data: {"choices":[{"delta":{"content":tru\n\n'
    prelude_at_first_token: bool = False


def json_reply(status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json"), *(headers or ())], dumps(value))


def stream_reply(
    call: Call, plan: StreamPlan, headers: list[tuple[str, str]], content_type: str = "text/event-stream"
) -> HttpResponse:
    head = [("content-type", content_type), ("cache-control", "no-cache"), *headers]
    return HttpResponse(200, head, stream=_play(call, plan))


async def _play(call: Call, plan: StreamPlan) -> AsyncGenerator[bytes, None]:
    loop = asyncio.get_running_loop()
    settings = call.settings
    fault = call.fault if call.fault in _MID_STREAM_FAULTS else None
    if fault == "error_after_200" and plan.error is None:
        fault = None
    cut_at = min(settings.fault_after_chunks, len(plan.chunks)) if fault else -1
    paced = settings.per_token_s > 0
    due = loop.time() + call.jitter(settings.ttft_s)
    if not plan.prelude_at_first_token:
        for frame in plan.prelude:
            yield frame
    await _sleep_until(loop, due)
    if plan.prelude_at_first_token:
        for frame in plan.prelude:
            yield frame
    for index in range(len(plan.chunks) + 1):
        if index == cut_at:
            if fault == "error_after_200" and plan.error is not None:
                yield plan.error
            elif fault == "malformed_body":
                yield plan.garbage
            elif settings.truncate_mode == "close":
                raise StreamAbort
            return
        if index == len(plan.chunks):
            break
        if index and paced:
            due += call.jitter(settings.per_token_s)
            await _sleep_until(loop, due)
        yield plan.chunks[index]
    for frame in plan.coda:
        yield frame


async def _sleep_until(loop: asyncio.AbstractEventLoop, due: float) -> None:
    delay = due - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
