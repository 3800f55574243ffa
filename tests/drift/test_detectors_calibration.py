"""Thresholds from a false-alarm budget, the registry, and the detectors' doctests."""

from __future__ import annotations

import doctest
import importlib
import itertools
import math
import random

import pytest

from routewatch.drift import detectors
from routewatch.drift.detectors import SIGNALS, BernoulliCUSUM, LogScaleCUSUM, fa_per_stream, make_detector
from routewatch.drift.detectors.calibration import arl0_for, threshold_for


@pytest.mark.parametrize(
    ("kwargs", "exact"),
    [  # exact values from Brook-Evans Markov chains
        ({"k": 0.338}, 13.69), ({"k": 0.152}, 26.60), ({"k": 0.578}, 8.46),
        ({"p0": 0.02, "p1": 0.05}, 6.78), ({"p0": 0.005, "p1": 0.03}, 6.80), ({"p0": 0.01, "p1": 0.03}, 6.46),
    ],
)  # fmt: skip
def test_threshold_matches_markov_chain_values(kwargs: dict[str, float], exact: float) -> None:
    assert threshold_for(1e5, **kwargs) == pytest.approx(exact, abs=0.1)


def test_threshold_grows_with_log_arl0() -> None:
    hs = [threshold_for(a, k=0.25) for a in (1e3, 1e4, 1e5, 1e6)]
    assert hs == sorted(hs)
    steps = [b - a for a, b in itertools.pairwise(hs)]
    assert all(s == pytest.approx(math.log(10) / 0.5, rel=0.1) for s in steps[1:])


def _run_length_gaussian(h: float, k: float, rng: random.Random, n: int) -> float:
    s = 0.0
    alarms = 0
    for _ in range(n):
        s = max(0.0, s + rng.gauss(0.0, 1.0) - k)
        if s > h:
            alarms += 1
            s = 0.0
    return n / max(alarms, 1)


def test_gaussian_threshold_gives_the_asked_false_alarm_rate() -> None:
    arl = _run_length_gaussian(threshold_for(1000, k=0.25), 0.25, random.Random(1), 300_000)
    assert 700 < arl < 1400


def test_bernoulli_threshold_gives_the_asked_false_alarm_rate() -> None:
    rng = random.Random(2)
    p0, p1 = 0.05, 0.10
    h = threshold_for(2000, p0=p0, p1=p1)
    a, b = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    s, alarms, n = 0.0, 0, 300_000
    for _ in range(n):
        s = max(0.0, s + (a if rng.random() < p0 else b))
        if s > h:
            alarms += 1
            s = 0.0
    assert 1400 < n / alarms < 3200  # the approximation errs on the safe side


def test_budget_helpers() -> None:
    assert arl0_for(1.0) == 1e5
    assert fa_per_stream(10.0, 100) == 0.1
    with pytest.raises(ValueError):
        arl0_for(0.0)
    with pytest.raises(ValueError):
        fa_per_stream(1.0, 0)
    with pytest.raises(ValueError):
        threshold_for(1e5)
    with pytest.raises(ValueError):
        threshold_for(1e5, k=0.5, p0=0.1, p1=0.2)
    with pytest.raises(ValueError):
        threshold_for(0.5, k=0.5)


def test_a_tighter_budget_raises_thresholds() -> None:
    loose, tight = LogScaleCUSUM(fa_per_100k=1.0), LogScaleCUSUM(fa_per_100k=0.01)
    assert tight._h1 > loose._h1
    det = LogScaleCUSUM()
    det.set_fa_rate(0.01)
    assert det._h1 == tight._h1


def test_registry_covers_every_signal() -> None:
    assert {"latency", "ttft", "tpot", "tokens_per_s", "output_tokens", "cost", "score"} <= SIGNALS
    assert {"error", "rate_limited", "server_error", "schema_invalid", "refusal", "truncated", "empty"} <= SIGNALS
    for signal in SIGNALS:
        det = make_detector(signal, fa_per_100k=0.5)
        assert det.fa_per_100k == 0.5
    assert isinstance(make_detector("error"), BernoulliCUSUM)
    assert make_detector("tokens_per_s").hurting == "down"
    assert make_detector("score").hurting == "down"
    with pytest.raises(ValueError):
        make_detector("vibes")


def test_public_names_are_sorted_and_exported() -> None:
    assert detectors.__all__ == sorted(detectors.__all__, key=lambda s: (not s.isupper(), s))
    for name in detectors.__all__:
        assert hasattr(detectors, name)


@pytest.mark.parametrize("module", ["base", "calibration", "continuous", "rates", "registry"])
def test_doctests(module: str) -> None:
    mod = importlib.import_module(f"routewatch.drift.detectors.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
