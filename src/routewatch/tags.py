"""Per-call tags (tenant, task, route, ...) carried in a context variable and in OTel baggage.

`with routewatch.tags(tenant="acme", task="summarise"):` labels every provider call made inside the
block, in threads and asyncio tasks alike (contextvars), so cost and health can be split per tenant
and per task class. Values are bounded in number and length; they are labels, never prompt text.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry import baggage

__all__ = ["MAX_TAGS", "MAX_VALUE_LENGTH", "current_tags", "tags", "tags_if_room"]

MAX_TAGS = 8
MAX_KEY_LENGTH = 64
MAX_VALUE_LENGTH = 128
# Baggage keys read as tags: the plain well-known names, and anything under `routewatch.`.
_BAGGAGE_KEYS = ("tenant", "task", "route")
_BAGGAGE_PREFIX = "routewatch."

Tags = tuple[tuple[str, str], ...]

_current: contextvars.ContextVar[Tags] = contextvars.ContextVar("routewatch_tags", default=())


def _clean(key: str, value: object) -> tuple[str, str] | None:
    if value is None:
        return None
    text = str(value)
    if not key or len(key) > MAX_KEY_LENGTH or not key.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"tag names are short identifiers, got {key!r}")
    return key, text[:MAX_VALUE_LENGTH]


@contextmanager
def tags(
    tenant: str | None = None, task: str | None = None, route: str | None = None, **extra: object
) -> Iterator[None]:
    """Label provider calls made inside the block; nested blocks add to and override outer ones."""
    merged = _merged((("tenant", tenant), ("task", task), ("route", route), *extra.items()))
    if len(merged) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per call, got {len(merged)}")
    token = _current.set(merged)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def tags_if_room(**values: object) -> Iterator[None]:
    """`tags(**values)` for routewatch's own labels: when the app already uses every tag slot, the
    block labels nothing instead of raising into the app."""
    merged = _merged(values.items())
    token = _current.set(merged) if len(merged) <= MAX_TAGS else None
    try:
        yield
    finally:
        if token is not None:
            _current.reset(token)


def _merged(pairs: Iterable[tuple[str, object]]) -> Tags:
    merged = dict(_current.get())
    for key, value in pairs:
        cleaned = _clean(key, value)
        if cleaned is not None:
            merged[cleaned[0]] = cleaned[1]
    return tuple(sorted(merged.items()))


def current_tags() -> Tags:
    """Tags in effect now: baggage first, then `tags()` blocks (which win on conflicts)."""
    explicit = _current.get()
    entries = baggage.get_all()
    if not entries:
        return explicit
    chosen = dict(explicit)
    from_baggage: dict[str, str] = {}
    for key, value in entries.items():
        name = key[len(_BAGGAGE_PREFIX) :] if key.startswith(_BAGGAGE_PREFIX) else key
        if (key in _BAGGAGE_KEYS or key.startswith(_BAGGAGE_PREFIX)) and name:
            name = name[:MAX_KEY_LENGTH]
            if name not in chosen:
                from_baggage[name] = str(value)[:MAX_VALUE_LENGTH]
    if not from_baggage:
        return explicit
    # explicit tags keep their places; baggage fills what room is left, in name order
    for name in sorted(from_baggage)[: max(0, MAX_TAGS - len(chosen))]:
        chosen[name] = from_baggage[name]
    return tuple(sorted(chosen.items()))
