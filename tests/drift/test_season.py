"""The daily profile: a quiet stream's day is not a regression, once a day has been seen."""

from __future__ import annotations

import json
import math
import random

import pytest

from routewatch.drift.detectors import LogScaleCUSUM, Verdict, make_detector
from routewatch.drift.detectors._season import BINS, DAY, DailyProfile

PERIOD = 14_400  # calls per day: one every 6 s, too slow for a 1,000-update half-life to follow the day
STEP = DAY / PERIOD


def cycle(i: int, phase: float) -> float:
    """The day's +-25 % swing of latency, in log units, at call ``i``."""
    return math.log(1.25) * math.sin(2 * math.pi * i / PERIOD + phase)


def latencies(seed: int, n: int, *, regress_at: int | None = None) -> list[float]:
    rng = random.Random(seed)
    phase = rng.random() * 2 * math.pi
    xs = [1.2 * math.exp(0.6 * rng.gauss(0.0, 1.0) + cycle(i, phase)) for i in range(1, n + 1)]
    if regress_at is not None:
        xs[regress_at:] = [1.5 * x for x in xs[regress_at:]]
    return xs


def alarms(det: LogScaleCUSUM, xs: list[float], stamps: bool, start: int = 0) -> list[Verdict]:
    out = []
    for i, x in enumerate(xs, 1):
        v = det.update(x, i * STEP if stamps else None)
        if v is not None and v.kind == "alarm" and i > start:
            out.append(v)
    return out


def test_after_a_day_the_daily_cycle_of_a_quiet_stream_does_not_alarm() -> None:
    after_day_one = PERIOD + 5_000  # day one is unprotected: a first rise at some hour may be a regression
    with_stamps = without = 0
    for seed in range(6):
        xs = latencies(seed, 5 * PERIOD)
        with_stamps += len(alarms(make_detector("latency"), xs, True, after_day_one))
        without += len(alarms(make_detector("latency"), xs, False, after_day_one))
    # over these 6 x 53,000 calls: 46 without timestamps, the half-life lagging the day; 3 with them,
    # 0.9 per 100,000, the budget of a stream with no cycle at all
    assert without >= 20
    assert with_stamps <= 5


def test_the_profile_learns_the_day_and_only_after_a_full_one() -> None:
    rng = random.Random(4)
    phase = 1.0
    det = make_detector("latency")
    assert isinstance(det, LogScaleCUSUM)
    for i in range(1, 2 * PERIOD + 1):
        det.update(1.2 * math.exp(0.6 * rng.gauss(0.0, 1.0) + cycle(i, phase)), i * STEP)
        if i == 1_500:
            assert det.state()["daily_profile"] == "waiting"  # an hour into the watch it starts
        if i == PERIOD // 2:
            assert det.state()["daily_profile"]["ready"] is False  # collecting: nothing applied on day one
    profile = det.state()["daily_profile"]
    assert profile["ready"] is True
    truth = [cycle(round((b + 0.5) * PERIOD / BINS), phase) for b in range(BINS)]
    offsets = profile["offsets"]
    err = max(abs(o - t) for o, t in zip(offsets, truth, strict=True))
    assert err < 0.08  # log units; the swing is +-0.22


def test_a_regression_on_a_cyclic_stream_is_still_caught() -> None:
    change = 4 * PERIOD + 3_000  # day five: the profile has learnt four days
    delays = []
    for seed in range(5):
        xs = latencies(seed, change + 2_000, regress_at=change)
        found = alarms(make_detector("latency"), xs, True, change)
        assert found, f"seed {seed}: x1.5 on day five not caught"
        delays.append(found[0].index - change)
    assert sorted(delays)[2] < 150  # measured median: 50 (flat stream, no timestamps: 50)


def test_no_timestamps_or_seasonal_off_means_no_profile() -> None:
    xs = latencies(5, 2 * PERIOD)
    plain, off, cost = make_detector("latency"), make_detector("latency", seasonal=False), make_detector("cost")
    for i, x in enumerate(xs, 1):
        plain.update(x)
        off.update(x, i * STEP)
        cost.update(x / 1000, i * STEP)  # cost follows what the app asks for, not the day: no profile
    assert {d.state()["daily_profile"] for d in (plain, off, cost)} == {"off"}


def test_snapshot_restore_keeps_the_profile_and_gives_identical_verdicts() -> None:
    xs = latencies(6, 2 * PERIOD + 8_000, regress_at=2 * PERIOD + 4_000)
    det = make_detector("latency")
    cut = PERIOD + 3_000
    for i, x in enumerate(xs[:cut], 1):
        det.update(x, i * STEP)
    twin = make_detector("latency")
    twin.restore(json.loads(json.dumps(det.snapshot())))
    assert twin.state()["daily_profile"] == det.state()["daily_profile"]
    rest = list(enumerate(xs[cut:], cut + 1))
    a = [(v.kind, v.index, v.detector) for i, x in rest if (v := det.update(x, i * STEP)) is not None]
    b = [(v.kind, v.index, v.detector) for i, x in rest if (v := twin.update(x, i * STEP)) is not None]
    assert a == b and any(k == "alarm" for k, _, _ in a)


def test_a_bad_profile_snapshot_is_refused() -> None:
    snap = DailyProfile(0.0).snapshot()
    snap["v"] = snap["v"][:-1]
    with pytest.raises(ValueError, match="26 values"):
        DailyProfile.from_snapshot(snap)
