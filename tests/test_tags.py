"""Tags label calls per tenant and task, in threads and tasks, bounded and validated."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import baggage, context

from routewatch.tags import MAX_VALUE_LENGTH, current_tags, tags


def test_no_tags_outside_a_block() -> None:
    assert current_tags() == ()


def test_nested_blocks_merge_and_restore() -> None:
    with tags(tenant="acme", task="summarise"):
        with tags(task="classify", route="eu"):
            assert current_tags() == (("route", "eu"), ("task", "classify"), ("tenant", "acme"))
        assert current_tags() == (("task", "summarise"), ("tenant", "acme"))
    assert current_tags() == ()


def test_values_are_truncated() -> None:
    with tags(tenant="x" * 1000):
        assert len(dict(current_tags())["tenant"]) == MAX_VALUE_LENGTH


def test_bad_names_and_too_many_tags_are_rejected() -> None:
    with pytest.raises(ValueError, match="short identifiers"), tags(**{"bad name!": "v"}):
        pass
    with pytest.raises(ValueError, match="at most"), tags(**{f"k{i}": "v" for i in range(9)}):
        pass


async def test_asyncio_tasks_do_not_see_each_others_tags() -> None:
    async def tagged(name: str) -> tuple[tuple[str, str], ...]:
        with tags(tenant=name):
            await asyncio.sleep(0.01)
            return current_tags()

    a, b = await asyncio.gather(tagged("a"), tagged("b"))
    assert a == (("tenant", "a"),) and b == (("tenant", "b"),)


def test_baggage_is_read_and_explicit_tags_win() -> None:
    ctx = baggage.set_baggage("tenant", "from-baggage")
    ctx = baggage.set_baggage("routewatch.route", "us", ctx)
    ctx = baggage.set_baggage("user.email", "never@example.com", ctx)
    token = context.attach(ctx)
    try:
        assert current_tags() == (("route", "us"), ("tenant", "from-baggage"))
        with tags(tenant="explicit"):
            assert dict(current_tags())["tenant"] == "explicit"
    finally:
        context.detach(token)


def test_baggage_fills_only_the_room_explicit_tags_leave() -> None:
    from routewatch.tags import MAX_TAGS

    ctx = None
    for name in ("a", "b", "c"):  # names that sort before every explicit one
        ctx = baggage.set_baggage(f"routewatch.{name}", "from-baggage", ctx)
    token = context.attach(ctx)  # type: ignore[arg-type]
    try:
        explicit = {f"t{i}": "v" for i in range(MAX_TAGS - 1)}
        with tags(**explicit):
            got = dict(current_tags())
        assert len(got) == MAX_TAGS and explicit.items() <= got.items() and got["a"] == "from-baggage"
    finally:
        context.detach(token)


def test_tags_if_room_labels_like_tags_and_gives_way_when_the_app_used_every_slot() -> None:
    from routewatch.tags import MAX_TAGS, tags_if_room

    with tags_if_room(route="r1"):
        assert dict(current_tags()) == {"route": "r1"}
    full = {f"k{i}": "v" for i in range(MAX_TAGS)}
    with tags(**full):
        with tags_if_room(route="r1"):  # a ninth tag: nothing added, nothing raised
            assert dict(current_tags()) == full
        assert dict(current_tags()) == full
    assert current_tags() == ()
