"""Alarm sentences: the signal's own units, readable numbers, the right direction words."""

from __future__ import annotations

import pytest

from routewatch.drift.alarm import SignalStats
from routewatch.drift.explain import explain


def stats(n: int, **values: float) -> SignalStats:
    return SignalStats(n=n, **values)


@pytest.mark.parametrize(
    ("before", "after", "text"),
    [
        (0.00006, 0.000135, "from $0.00006 to $0.000135"),  # a small call to a cheap model
        (0.0000123456, 0.00002, "from $0.00001235 to $0.00002"),
        (0.0123456, 0.03, "from $0.01235 to $0.03"),
        (1.5, 12.3456, "from $1.5 to $12.35"),
        (1234.5, 23456.0, "from $1234 to $23456"),
    ],
)
def test_costs_read_as_dollars_never_in_exponent_notation(before: float, after: float, text: str) -> None:
    sentence = explain("alarm", "cost", "openai/gpt-4o-mini", "up", stats(2000, mean=before), stats(64, mean=after))
    assert sentence == f"cost per call of openai/gpt-4o-mini rose {text} over the last 64 calls"
