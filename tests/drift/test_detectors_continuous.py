"""LogScaleCUSUM: detection, unit invariance, direction, recovery, persistence, bad parameters."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from array import array

import pytest

from routewatch.drift.detectors import Detector, LogScaleCUSUM, Verdict, make_detector
from routewatch.drift.detectors._warm import on_grid


def latency(seed: int, n: int, change: int = 2000, factor: float = 1.0, back: int | None = None) -> list[float]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        f = factor if change < i and (back is None or i <= back) else 1.0
        out.append(f * 1.2 * rng.lognormvariate(0.0, 0.6))
    return out


def verdicts(det: LogScaleCUSUM, xs: list[float]) -> list[Verdict]:
    return [v for v in map(det.update, xs) if v is not None]


def key(v: Verdict) -> tuple[object, ...]:
    return (v.kind, v.direction, v.index, v.change_index, v.detector)


def test_is_a_detector() -> None:
    assert isinstance(LogScaleCUSUM(), Detector)


def test_latency_x1_5_alarms_soon_after_the_change() -> None:
    [v] = verdicts(LogScaleCUSUM(), latency(1, 4000, factor=1.5))[:1]
    assert (v.kind, v.direction) == ("alarm", "up")
    assert 2000 < v.index <= 2150
    assert abs(v.change_index - 2001) <= 60
    assert v.after.p50 > 1.25 * v.before.p50
    assert v.effect_size > 0.4
    assert v.in_alarm and v.reference is not None


def test_false_alarms_stay_rare_on_stationary_streams() -> None:
    # 5 x 30,000 updates at a budget of 1 per 100,000: about 1.5 expected at most
    alarms = [v for seed in range(5) for v in verdicts(LogScaleCUSUM(), latency(seed, 30_000)) if v.kind == "alarm"]
    assert len(alarms) <= 3


@pytest.mark.parametrize("scale", [1e3, 1e-3])
def test_units_do_not_change_verdicts(scale: float) -> None:
    xs = latency(3, 5000, factor=1.3)
    base = [key(v) for v in verdicts(LogScaleCUSUM(), xs)]
    scaled = [key(v) for v in verdicts(LogScaleCUSUM(), [x * scale for x in xs])]
    assert base and scaled == base


def test_cost_in_usd_is_detected() -> None:
    rng = random.Random(4)
    xs = [(1.3 if i > 2000 else 1.0) * 0.0012 * rng.lognormvariate(0, 0.8) for i in range(1, 5001)]
    v = next(v for v in verdicts(make_detector("cost"), xs) if v.kind == "alarm")
    assert 2000 < v.index < 2800


def test_an_improvement_is_recovery_evidence_not_an_alarm() -> None:
    vs = verdicts(LogScaleCUSUM(), latency(5, 4000, factor=0.6))
    assert vs and all(v.kind == "recovered" and v.direction == "down" for v in vs)
    assert not vs[0].in_alarm


def test_hurting_down_alarms_on_a_drop() -> None:
    rng = random.Random(6)
    xs = [(0.7 if i > 2000 else 1.0) * 60 * rng.lognormvariate(0, 0.35) for i in range(1, 4001)]
    v = verdicts(make_detector("tokens_per_s"), xs)[0]
    assert (v.kind, v.direction) == ("alarm", "down")
    assert 2000 < v.index < 2100


def test_alarm_then_recovery_to_the_old_baseline() -> None:
    vs = verdicts(LogScaleCUSUM(), latency(7, 8000, factor=2.0, back=4000))
    kinds = [(v.kind, v.in_alarm) for v in vs]
    assert kinds[0] == ("alarm", True)
    assert ("recovered", False) in kinds
    rec = next(v for v in vs if v.kind == "recovered")
    assert rec.index > 4000 and rec.direction == "down"
    # the new regime did not alarm again while it lasted
    assert all(v.index > 4000 for v in vs[1:])


def test_p99_only_regression_is_caught_by_the_tail_test() -> None:
    rng = random.Random(8)
    xs = [1.2 * rng.lognormvariate(0, 0.6) * (4.0 if i > 2000 and rng.random() < 0.03 else 1.0) for i in range(12_000)]
    v = next(v for v in verdicts(LogScaleCUSUM(), xs) if v.kind == "alarm")
    assert v.index > 2000 and "tail" in v.detector


def test_capped_integer_counts_keep_the_false_alarm_budget() -> None:
    alarms = 0
    for seed in range(3):
        rng = random.Random(seed)
        xs = [float(min(round(300 * rng.lognormvariate(0, 0.9)), 1024)) for _ in range(30_000)]
        alarms += sum(v.kind == "alarm" for v in verdicts(make_detector("output_tokens"), xs))
    assert alarms <= 2


def test_binary_score_drop_alarms_down() -> None:
    rng = random.Random(10)
    xs = [float(rng.random() < (0.6 if i > 2000 else 0.8)) for i in range(1, 5001)]
    v = verdicts(make_detector("score"), xs)[0]
    assert (v.kind, v.direction) == ("alarm", "down") and 2000 < v.index < 2600


def test_persistence_delays_the_alarm() -> None:
    xs = latency(11, 4000, factor=1.5)
    first = verdicts(LogScaleCUSUM(), xs)[0].index
    later = verdicts(LogScaleCUSUM(persistence=5), xs)[0].index
    assert later >= first + 4


def test_snapshot_restore_gives_identical_verdicts() -> None:
    xs = latency(12, 9000, factor=1.4, back=6000)
    a = LogScaleCUSUM()
    verdicts(a, xs[:3000])
    b = LogScaleCUSUM()
    b.restore(json.loads(json.dumps(a.snapshot())))
    assert [key(v) for v in verdicts(a, xs[3000:])] == [key(v) for v in verdicts(b, xs[3000:])]


def test_snapshot_during_warm_up() -> None:
    xs = latency(13, 3000, factor=1.5)
    a = LogScaleCUSUM()
    verdicts(a, xs[:500])
    b = LogScaleCUSUM()
    b.restore(json.loads(json.dumps(a.snapshot())))
    assert [key(v) for v in verdicts(a, xs[500:])] == [key(v) for v in verdicts(b, xs[500:])]


@pytest.mark.parametrize("split", [101, 150, 700])  # just fitted; still learning; learning again after an alarm
def test_a_snapshot_while_the_location_is_still_a_running_mean_restores_to_the_same_verdicts(split: int) -> None:
    """After a fit (or a re-baseline) the location is learnt as a running mean for a while (``_learn``);
    a detector restored then learns at that rate too, so it says what the original says, update for update."""
    xs = latency(12, 2000, change=400, factor=1.25)
    a = LogScaleCUSUM(warm_up=100, cooldown=50)
    verdicts(a, xs[:split])
    assert a._fast > 0  # the running mean is under way
    b = LogScaleCUSUM(warm_up=100, cooldown=50)
    b.restore(json.loads(json.dumps(a.snapshot())))
    assert [key(v) for v in verdicts(a, xs[split:])] == [key(v) for v in verdicts(b, xs[split:])]
    assert a.snapshot() == b.snapshot()


def test_a_warm_up_snapshot_from_before_windows_were_made_lazily_still_restores() -> None:
    xs = latency(13, 3000, factor=1.5)
    a = LogScaleCUSUM()
    verdicts(a, xs[:500])
    snap = json.loads(json.dumps(a.snapshot()))
    assert snap["ring"] == []  # a detector at warm-up keeps no window
    snap["ring"] = [0] * a.window  # as older versions wrote it
    b = LogScaleCUSUM()
    b.restore(snap)
    assert [key(v) for v in verdicts(a, xs[500:])] == [key(v) for v in verdicts(b, xs[500:])]


def test_a_snapshot_with_atoms_keyed_by_float32_from_older_versions_still_finds_them() -> None:
    rng = random.Random(21)
    tokens = [
        float(rng.choice([64, 128, 128, 256]) if rng.random() < 0.6 else rng.randint(20, 300)) for _ in range(4000)
    ]
    a = make_detector("output_tokens")
    verdicts(a, tokens[:2000])
    snap = json.loads(json.dumps(a.snapshot()))
    assert len(snap["atoms"]) == 3
    # older versions keyed an atom by the float32 of the value's log, not by its grid value
    snap["atoms"] = [[array("f", [math.log(round(math.exp(k)))])[0], z] for k, z in snap["atoms"]]
    assert all(k != on_grid(k) for k, _ in snap["atoms"])
    b = make_detector("output_tokens")
    b.restore(snap)
    assert [key(v) for v in verdicts(a, tokens[2000:])] == [key(v) for v in verdicts(b, tokens[2000:])]
    assert a.state() == b.state()


def test_a_snapshot_whose_window_does_not_fit_is_refused() -> None:
    a = LogScaleCUSUM()
    verdicts(a, latency(16, 1500))
    snap = a.snapshot()
    assert len(snap["ring"]) == a.window
    with pytest.raises(ValueError, match="window"):
        LogScaleCUSUM().restore({**snap, "ring": snap["ring"][:-1]})


def test_state_is_json_and_reports_warm_up() -> None:
    det = LogScaleCUSUM()
    verdicts(det, latency(14, 500))
    assert det.state()["warm_up_progress"] == 0.5
    verdicts(det, latency(15, 1500))
    state = json.loads(json.dumps(det.state()))
    assert state["phase"] == "watch" and 0.8 < state["baseline"]["p50"] < 1.6 and not state["in_alarm"]


def test_nan_and_non_positive_values() -> None:
    det = LogScaleCUSUM()
    assert det.update(float("nan")) is None
    assert det.update(0.0) is None and det.update(-1.0) is None
    assert det.state()["n"] == 2


@pytest.mark.parametrize("huge", [math.inf, 1e308])
def test_infinite_and_huge_values_tie_at_the_top_without_breaking_the_detector(huge: float) -> None:
    """With the log transform such values rank above all others, as the identity transform clamps them:
    at warm-up two of them overflowed the fit's sum (every later update raised, the stream was lost),
    one infinity made the baseline mean NaN for good, and one after the fit raised from `update`."""
    xs = latency(17, 1500)
    xs[10] = xs[20] = xs[1200] = huge
    det = LogScaleCUSUM()
    verdicts(det, xs)
    state = det.state()
    assert state["phase"] == "watch" and math.isfinite(state["baseline"]["mean"])
    assert 0.8 < state["baseline"]["p50"] < 1.6
    snap = json.loads(json.dumps(det.snapshot(), allow_nan=False))  # strict JSON: nothing infinite in it
    assert math.isfinite(snap["mean"])


def test_memory_is_small() -> None:
    det = LogScaleCUSUM()
    verdicts(det, latency(16, 1500))
    assert det.nbytes < 4000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hurting": "sideways"}, {"transform": "sqrt"}, {"shifts": ()}, {"shifts": (0.3, 0.5, 0.7)},
        {"shifts": (-1.0,)}, {"recovery_shift": 0.0}, {"tail_quantile": 1.0}, {"tail_share": 0.0}, {"tail_share": 1.0},
            {"tail_shift": 0.0},
        {"fa_per_100k": 0.0}, {"warm_up": 5}, {"persistence": 0}, {"cooldown": -1}, {"window": 2},
        {"halflife": 0.0}, {"clip": 3.1},
    ],
)  # fmt: skip
def test_bad_parameters_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LogScaleCUSUM(**kwargs)  # type: ignore[arg-type]


def test_a_tail_alarm_dates_a_step_where_it_happened() -> None:
    # a fifth of calls x3 from update 301, after a short warm-up: the tail test can cross first, and its
    # own restart (often the warm-up's end) is no estimate. Within the ring of recent values the shift
    # tests' restarts are candidates too: the typical estimate is the step
    dated = []
    for seed in range(20):
        rng = random.Random(seed)
        slow = [i >= 300 and rng.random() < 0.2 for i in range(600)]
        xs = [0.2 * rng.lognormvariate(0.0, 0.2) * (3.0 if s else 1.0) for s in slow]
        v = next(v for v in verdicts(LogScaleCUSUM(warm_up=100), xs) if v.kind == "alarm")
        if 300 < v.index <= 300 + 64 and "tail" in v.detector:
            dated.append(v.change_index)
    assert len(dated) >= 5 and abs(statistics.median(dated) - 301) <= 25


def test_tail_events_weigh_more_the_further_out_they_are() -> None:
    det = LogScaleCUSUM()
    for x in latency(2, 1000):
        det.update(x)
    tail = det._tail
    steps = tail.steps()  # the tail test's log-likelihood ratio of an event in each band
    assert len(steps) >= 3 and tail.bands.edges[0] == pytest.approx(2.054, abs=1e-3)
    assert all(a < b for a, b in itertools.pairwise(steps)) and steps[0] > 0.0
    assert tail.v[2 * tail.size] < 0.0  # a value below the bands is evidence against a tail regression


def test_a_tail_verdict_keeps_what_was_learnt_about_each_band() -> None:
    # the outer bands' rates are learnt over many updates; a false tail alarm must not reset them to
    # nominal (the test would start over from a wrong rate and alarm again, and again)
    det = LogScaleCUSUM()
    for x in latency(3, 1000):
        det.update(x)
    tail = det._tail
    top = 6 * tail.size + len(tail.counts()) - 1  # where the bank keeps the outermost band's count
    tail.v[top] *= 3.0  # the outermost band turned out three times as frequent as the warm-up said
    tail.base_e = sum(tail.counts())
    share = tail.counts()[-1] / tail.base_e
    tail.rebase(1.0, 64.0, 1000.0, det._n)  # one event in the 64 values after the verdict
    assert tail.counts()[-1] / tail.base_e == pytest.approx(share, rel=0.2)
    assert tail.base_n == 1064.0


def test_the_warm_up_counts_the_outer_band_at_the_rate_its_quantiles_leave() -> None:
    # a sample of m values leaves 1 / (m + 1) more than nominal past its outermost quantile: counted
    # at nominal, the band past 3 sd would look 1.7x rarer than it is and the young tail test alarm
    det = LogScaleCUSUM()
    for x in latency(4, 1000):
        det.update(x)
    top = det._tail.counts()[-1] / det._tail.base_n
    assert top == pytest.approx(0.00135 + 1 / 1001, rel=0.05)


@pytest.mark.parametrize("sd", [0.6, 0.02])
def test_the_warm_up_grid_leaves_the_baseline_where_the_exact_values_put_it(sd: float) -> None:
    """Warm-up values are kept to 1/4096 in log units: the baseline's quantiles move by at most half
    of that (0.012 %), far below their sampling error, even for a stream with a 2 % spread."""
    rng = random.Random(3)
    det = make_detector("latency", warm_up=999)
    xs = [rng.lognormvariate(0.2, sd) for _ in range(det.warm_up)]
    for i, x in enumerate(xs):
        det.update(x, float(i))
    ys = sorted(map(math.log, xs))
    exact_p50 = math.exp(ys[499])  # the knot at score 0: the middle order statistic of 999
    assert det.state()["baseline"]["p50"] == pytest.approx(exact_p50, rel=1.3e-4)


def test_a_young_baseline_widens_the_hurting_references_until_it_is_a_warm_up_s() -> None:
    """After an alarm the baseline rests on the cooldown's values (64), whose error (~1/8 sd) the
    small-shift CUSUM would read as a change: its reference value is widened by that error, and
    back at the design value once the baseline has seen a warm-up's worth of values."""
    det = LogScaleCUSUM()
    xs = latency(1, 2400, factor=2.0)
    for x in xs:
        det.update(x)
    designed = LogScaleCUSUM()
    k1, k2 = designed._k1, designed._k2
    assert det.in_alarm and 0 < det._fast <= det.warm_up
    assert det._k2 == pytest.approx(k2 + 1 / math.sqrt(det._fast)) and det._k1 > k1
    copy = LogScaleCUSUM()
    copy.restore(json.loads(json.dumps(det.snapshot())))
    assert (copy._k1, copy._k2) == (det._k1, det._k2)  # a restart keeps the widening
    rng = random.Random(9)
    for _ in range(det.warm_up):
        det.update(2.0 * 1.2 * rng.lognormvariate(0.0, 0.6))
    assert (det._k1, det._k2) == (k1, k2)


def test_a_young_baseline_raises_few_second_alarms_on_a_step() -> None:
    """x2 steps that stay, on a narrow lognormal (sigma 0.3: the step is 2.3 sd): one alarm each, and
    on the cooldown's baseline seldom a second (100 fixed seeds: 2, where 8 before the widening)."""
    seconds = 0
    for seed in range(100):
        rng = random.Random(seed)
        det = LogScaleCUSUM()
        xs = [(2.0 if i >= 3000 else 1.0) * 0.15 * rng.lognormvariate(0.0, 0.3) for i in range(3600)]
        alarms = [v for v in verdicts(det, xs) if v.kind == "alarm" and v.index > 3000]
        assert alarms and alarms[0].index < 3100
        seconds += len(alarms) - 1
    assert seconds <= 3
