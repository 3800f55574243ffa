"""WarmValues: a continuous detector's warm-up values, on a grid of 1/4096 and compressed as they
come: the multiset of their grid values (float32 off the grid's range), in a fraction of the memory."""

from __future__ import annotations

import math
import random
import sys
from array import array

import pytest

from routewatch.drift.detectors import make_detector
from routewatch.drift.detectors._warm import FRESH, STEP, WarmValues, on_grid


@pytest.mark.parametrize("n", [0, 1, FRESH - 1, FRESH, FRESH + 1, 3 * FRESH + 5, 999])
def test_the_values_are_their_grid_values(n: int) -> None:
    rng = random.Random(n)
    pool = [lambda: rng.lognormvariate(0, 1), lambda: -rng.random(), lambda: 0.0, lambda: 7.0, lambda: -745.0,
            lambda: math.inf, lambda: -3.0e38, lambda: 5000.0 + rng.random()]  # fmt: skip
    values = [rng.choice(pool)() for _ in range(n)]
    warm = WarmValues()
    for v in values:
        warm.append(v)
    assert len(warm) == n
    assert sorted(warm) == sorted(on_grid(v) for v in values)  # a multiset: sorted as packed, the newest as they came
    assert sorted(WarmValues(values)) == sorted(warm)
    for v in values:
        kept = on_grid(v)
        if abs(v) < 2048:
            assert abs(kept - v) <= STEP / 2 and kept == array("f", [kept])[0]  # on the grid, a float32 exactly
        else:
            assert kept == array("f", [v])[0]  # off the grid's range: its float32, no coarser than the grid
    if n:
        assert warm[len(warm) - 1] in [on_grid(v) for v in values]


def test_grid_values_stay_where_they_are() -> None:
    for v in (0.0, 1.5, -745.0, math.log(150.0), 2047.99, 5000.25, math.inf):
        assert on_grid(on_grid(v)) == on_grid(v)


def test_latency_like_values_take_a_quarter_of_float32_and_token_counts_a_tenth() -> None:
    rng = random.Random(1)
    latency, tokens = WarmValues(), WarmValues()
    for _ in range(999):
        latency.append(math.log(rng.lognormvariate(-0.5, 0.3)))
        tokens.append(math.log(rng.randint(10, 40)))
    plain = sys.getsizeof(array("f", range(999)))  # 4 bytes a value
    assert latency.nbytes < 0.3 * plain
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


def test_a_snapshot_taken_before_any_value_restores_to_a_buffer_of_its_own() -> None:
    first, second = make_detector("latency"), make_detector("latency")
    first.restore(make_detector("latency").snapshot())
    second.restore(make_detector("latency").snapshot())
    for i in range(5):
        first.update(2.0 + i, float(i))
    assert len(first._warm) == 5 and len(second._warm) == 0  # not one shared buffer
    assert not second._knots  # nor the shared empty table every young detector points at
