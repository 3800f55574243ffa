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


@pytest.mark.parametrize(
    ("before", "after", "text"),
    [
        (0.00042, 0.0009, "from 0.42 ms to 0.9 ms"),  # a local model's chunks: not "from 0 ms to 1 ms"
        (0.0042, 0.0123, "from 4.2 ms to 12 ms"),
        (0.25, 0.9996, "from 250 ms to 1.00 s"),  # not "1000 ms"
        (1.8, 3.1, "from 1.80 s to 3.10 s"),
    ],
)
def test_durations_read_in_ms_or_s_without_losing_the_value(before: float, after: float, text: str) -> None:
    sentence = explain("alarm", "tpot", "ollama/llama3", "up", stats(2000, p50=before), stats(64, p50=after))
    assert sentence == f"p50 time per output chunk of ollama/llama3 rose {text} over the last 64 calls"


def test_an_alarm_never_says_a_statistic_rose_while_it_fell() -> None:
    """A shift of the body can alarm while the sample's p95 moved the other way (seen re-alarming on
    a young baseline: "rose from 474 ms to 448 ms"): the sentence names one that moved as it says."""
    before = stats(64, mean=0.315, p50=0.286, p95=0.474)
    after = stats(165, mean=0.317, p50=0.306, p95=0.448)
    sentence = explain("alarm", "latency", "openai/gpt-4o-mini", "up", before, after)
    assert sentence == "p50 latency of openai/gpt-4o-mini rose from 286 ms to 306 ms over the last 165 calls"
    fell_too = stats(165, mean=0.317, p50=0.280, p95=0.448)
    sentence = explain("alarm", "latency", "openai/gpt-4o-mini", "up", before, fell_too)
    assert sentence == "latency of openai/gpt-4o-mini rose from 315 ms to 317 ms over the last 165 calls"


def test_a_statistic_that_moved_as_the_alarm_says_is_kept() -> None:
    before, after = stats(1000, mean=0.2, p50=0.18, p95=0.24), stats(10, mean=0.3, p50=0.3, p95=0.43)
    sentence = explain("alarm", "latency", "openai/gpt-4o-mini", "up", before, after)
    assert sentence == "p95 latency of openai/gpt-4o-mini rose from 240 ms to 430 ms over the last 10 calls"
