"""`fast_new`: the records built on a call's path are the very values their classes build."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from factories import make_record
from routewatch.records import (
    CallRecord,
    RateLimits,
    RequestFacts,
    ResponseFacts,
    Usage,
    fast_new,
    new_call_record,
    new_rate_limits,
    new_request_facts,
    new_response_facts,
    new_usage,
)

PAIRS = [
    (Usage, new_usage),
    (RequestFacts, new_request_facts),
    (ResponseFacts, new_response_facts),
    (RateLimits, new_rate_limits),
    (CallRecord, new_call_record),
]


def _fields(record: object) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]


@pytest.mark.parametrize("cls,new", PAIRS, ids=[cls.__name__ for cls, _ in PAIRS])
def test_fast_new_builds_the_same_frozen_value(cls: type, new: type) -> None:
    sample = make_record() if cls is CallRecord else cls()
    if cls is CallRecord:
        sample = dataclasses.replace(sample, tags=(("tenant", "acme"),), trace_id=7)
    built = new(**_fields(sample))
    assert type(built) is cls
    assert built == sample and hash(built) == hash(sample) and repr(built) == repr(sample)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.__setattr__(dataclasses.fields(cls)[0].name, None)
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.copy(built) == built
    assert dataclasses.replace(built) == sample


def test_defaults_and_default_factories_are_the_classes() -> None:
    assert new_response_facts() == ResponseFacts()
    assert new_response_facts().usage is not new_response_facts().usage  # a fresh default_factory value
    assert new_usage(1, 2) == Usage(1, 2)  # positional, in field order
    assert new_request_facts(model="m", stream=True) == RequestFacts(model="m", stream=True)


def test_missing_and_unknown_arguments_fail_as_the_class_does() -> None:
    with pytest.raises(TypeError):
        new_call_record(provider="openai")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        new_usage(tokens=1)  # type: ignore[call-arg]


def test_only_slotted_dataclasses_without_post_init() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int = 0

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int = 0

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, PostInit):
        with pytest.raises(TypeError):
            fast_new(cls)


@pytest.mark.parametrize(
    "error_type", ["UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "overloaded_error", "server_error"]
)
def test_a_server_failure_named_after_a_200_is_a_server_error(error_type: str) -> None:
    record = dataclasses.replace(make_record(), status_code=200, error_type=error_type)
    assert record.server_error and not record.rate_limited


@pytest.mark.parametrize("error_type", ["RESOURCE_EXHAUSTED", "rate_limit_error", "rate_limit_exceeded"])
def test_a_rate_limit_named_after_a_200_is_a_rate_limit(error_type: str) -> None:
    record = dataclasses.replace(make_record(), status_code=200, error_type=error_type)
    assert record.rate_limited and not record.server_error


@pytest.mark.parametrize("error_type", ["INVALID_ARGUMENT", "invalid_request_error", "ReadTimeout"])
def test_a_client_side_error_type_is_neither(error_type: str) -> None:
    record = dataclasses.replace(make_record(), status_code=200, error_type=error_type)
    assert not record.server_error and not record.rate_limited
