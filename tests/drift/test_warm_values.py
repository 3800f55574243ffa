"""WarmValues: a continuous detector's warm-up values, compressed as they come; the same float32
multiset an array("f") would hold, in less memory."""

from __future__ import annotations

import math
import random
import sys
from array import array

import pytest

from routewatch.drift.detectors import make_detector
from routewatch.drift.detectors._warm import FRESH, WarmValues


@pytest.mark.parametrize("n", [0, 1, FRESH - 1, FRESH, FRESH + 1, 3 * FRESH + 5, 999])
def test_the_values_are_those_an_array_of_float32_holds(n: int) -> None:
    rng = random.Random(n)
    values = [rng.choice([rng.lognormvariate(0, 1), -rng.random(), 0.0, -0.0, 7.0, math.inf, -745.0]) for _ in range(n)]
    warm = WarmValues()
    for v in values:
        warm.append(v)
    held = array("f", values)
    assert len(warm) == n
    assert sorted(warm) == sorted(held)  # a multiset: sorted as packed, the newest as they came
    assert [math.copysign(1.0, v) for v in sorted(warm)] == [math.copysign(1.0, v) for v in sorted(held)]
    assert sorted(WarmValues(values)) == sorted(held)
    if n:
        assert warm[len(warm) - 1] in held


def test_latency_like_values_take_a_quarter_less_and_token_counts_a_tenth() -> None:
    rng = random.Random(1)
    latency, tokens = WarmValues(), WarmValues()
    for _ in range(999):
        latency.append(math.log(rng.lognormvariate(-0.5, 0.3)))
        tokens.append(math.log(rng.randint(10, 40)))
    plain = sys.getsizeof(array("f", range(999)))  # 4 bytes a value
    assert latency.nbytes < 0.8 * plain
    assert tokens.nbytes < 0.15 * plain


def test_a_detector_restored_mid_warm_up_fits_the_baseline_of_one_that_ran_through() -> None:
    rng = random.Random(2)
    xs = [rng.lognormvariate(0, 0.5) for _ in range(3000)]
    straight, restored = make_detector("latency"), make_detector("latency")
    for i, x in enumerate(xs):
        if i == 700:
            snap = restored.snapshot()
            restored = make_detector("latency")
            restored.restore(snap)
        assert straight.update(x, float(i)) == restored.update(x, float(i))
    assert straight.state() == restored.state()
