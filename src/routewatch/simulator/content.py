"""Deterministic model output: text, JSON that fits a schema, tool arguments, and token counts.

Output is a tuple of pieces, one per token, so a streamed reply sends one chunk per token and the
reported usage always equals what was sent. Text pieces are words; JSON is cut into 4-character
pieces (about what a tokenizer makes of JSON). The same request body always yields the same output.

>>> plan_output(seed=7, output_tokens=5).text == plan_output(seed=7, output_tokens=5).text
True
>>> out = plan_output(seed=7, output_tokens=30, max_tokens=4)
>>> (len(out.pieces), out.truncated)
(4, True)
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

__all__ = ["REFUSAL", "Output", "body_seed", "estimate_tokens", "instance", "plan_output", "violate"]

REFUSAL = "I'm sorry, but I can't help with that request."
_WORDS = (
    "the",
    "model",
    "answer",
    "data",
    "signal",
    "route",
    "latency",
    "token",
    "stream",
    "provider",
    "cache",
    "request",
    "reply",
    "window",
    "drift",
    "metric",
    "span",
    "trace",
    "value",
    "quality",
    "budget",
    "cost",
    "system",
    "user",
    "prompt",
    "context",
    "result",
    "error",
    "retry",
    "limit",
    "chunk",
    "event",
    "window",
    "graph",
    "vector",
    "policy",
    "threshold",
    "sample",
    "batch",
    "queue",
    "a",
    "an",
    "of",
    "to",
    "in",
    "for",
    "on",
    "with",
    "and",
    "or",
    "but",
    "is",
    "are",
    "was",
    "will",
    "can",
    "should",
    "may",
    "each",
    "every",
    "first",
    "next",
    "last",
    "fast",
    "slow",
    "stable",
    "new",
    "old",
    "clear",
    "simple",
    "precise",
    "robust",
    "careful",
    "quiet",
    "bright",
    "steady",
    "early",
    "late",
)

OutputKind = Literal["text", "json", "tool", "refusal", "empty"]


@dataclass(frozen=True, slots=True)
class Output:
    """One reply: its `pieces` (one per streamed token), what kind it is, and whether `max_tokens` cut it."""

    kind: OutputKind
    pieces: tuple[str, ...]
    truncated: bool = False
    tool_name: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def tokens(self) -> int:
        return len(self.pieces)


def body_seed(body: bytes, seed: int = 0) -> int:
    """Content seed of a request: the same body (and scenario seed) gives the same reply."""
    return zlib.crc32(body) ^ (seed & 0xFFFFFFFF)


def estimate_tokens(body: bytes) -> int:
    """Prompt tokens of a request, about 4 bytes of JSON per token."""
    return max(1, len(body) // 4)


def plan_output(
    *,
    seed: int,
    output_tokens: int,
    max_tokens: int | None = None,
    fault: str | None = None,
    json_mode: bool = False,
    schema: dict[str, Any] | None = None,
    tool: tuple[str, dict[str, Any] | None] | None = None,
) -> Output:
    """The reply to one request. `json_mode` asks for a JSON object, `schema` for one that fits it,
    `tool` for a call of the named tool with arguments that fit its parameter schema."""
    if fault == "empty_output":
        return Output("empty", ())
    if fault == "refusal":
        return _cap(Output("refusal", _words(REFUSAL)), max_tokens)
    if tool is not None:
        name, parameters = tool
        arguments = instance(parameters or {"type": "object"}, random.Random(seed))
        return _cap(Output("tool", _json_pieces(json.dumps(arguments)), tool_name=name), max_tokens)
    if json_mode or schema is not None:
        rng = random.Random(seed)
        value = instance(schema, rng) if schema is not None else {"answer": " ".join(_text(seed, 6)).strip()}
        if fault == "schema_violation":
            value = violate(schema, value)
        text = json.dumps(value)
        if fault == "invalid_json_output":
            text = _broken(text, rng)
        return _cap(Output("json", _json_pieces(text)), max_tokens)
    return _cap(Output("text", _text(seed, output_tokens)), max_tokens)


def _cap(output: Output, max_tokens: int | None) -> Output:
    if max_tokens is None or max_tokens < 0 or len(output.pieces) <= max_tokens:
        return output
    return Output(output.kind, output.pieces[:max_tokens], True, output.tool_name)


@lru_cache(maxsize=1024)
def _text(seed: int, count: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    pieces = []
    for index in range(count):
        if index == count - 1 and count > 1:
            pieces.append(".")
        elif index == 0:
            pieces.append(rng.choice(_WORDS).capitalize())
        else:
            pieces.append(" " + rng.choice(_WORDS))
    return tuple(pieces)


def _words(text: str) -> tuple[str, ...]:
    words = text.split(" ")
    return (words[0], *(" " + w for w in words[1:]))


def _json_pieces(text: str) -> tuple[str, ...]:
    return tuple(text[i : i + 4] for i in range(0, len(text), 4))


def _broken(text: str, rng: random.Random) -> str:
    """JSON the way models break it: prose around it, a cut-off end, or single quotes."""
    mode = rng.randrange(3)
    if mode == 0:
        return f"Sure! Here is the JSON you asked for:\n```json\n{text}\n```"
    if mode == 1:
        return text[: max(1, (2 * len(text)) // 3)]
    return text.replace('"', "'")


def instance(schema: dict[str, Any], rng: random.Random, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A value that satisfies the common subset of JSON Schema (OpenAPI-style upper-case types too):
    `$ref`, `anyOf`/`oneOf`/`allOf`, `enum`, `const`, objects, arrays, strings with common formats,
    numbers within bounds, booleans. Every declared property is filled in."""
    root = schema if root is None else root
    if depth > 8:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return instance(target, rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, ()) if _type(o) != "null"]
        if options:
            return instance(options[0], rng, root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return instance(merged, rng, root, depth + 1)
    kind = _type(schema)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if not props:
            return {"answer": " ".join(_text(rng.randrange(1 << 30), 4)).strip()}
        return {name: instance(sub, rng, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        low = min(int(schema.get("minItems", 1)), 16)
        high = max(low, min(int(schema.get("maxItems", 3)), low + 2))
        items = schema.get("items") or {"type": "string"}
        return [instance(items, rng, root, depth + 1) for _ in range(rng.randint(low, high))]
    if kind == "integer":
        low, high = int(schema.get("minimum", 0)), int(schema.get("maximum", 100))
        return rng.randint(low, max(low, high))
    if kind == "number":
        bottom, top = float(schema.get("minimum", 0)), float(schema.get("maximum", 100))
        return round(rng.uniform(bottom, max(bottom, top)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    return str(kind).lower()


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    fixed = {
        "date-time": "2025-05-01T12:00:00Z",
        "date": "2025-05-01",
        "time": "12:00:00",
        "email": "alex@example.com",
        "uri": "https://example.com/a",
        "uuid": f"00000000-0000-4000-8000-{rng.getrandbits(48):012x}",
    }
    if fmt in fixed:
        return fixed[fmt]
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[: int(high)] if high is not None else text


def violate(schema: dict[str, Any] | None, value: Any) -> Any:
    """A JSON value that breaks `schema`: a required property dropped or of the wrong type; an array
    where the request asked for any JSON object."""
    if not isinstance(value, dict) or not value:
        return [value]
    required = (schema or {}).get("required") or list(value)
    broken = dict(value)
    name = required[0]
    if len(broken) > 1:
        broken.pop(name, None)
    else:
        broken[name] = [] if not isinstance(broken.get(name), list) else 0
    return broken
