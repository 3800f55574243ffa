"""Detection benchmark: routewatch's detectors against an oracle CUSUM, river and a static threshold.

Labelled synthetic streams shaped like provider telemetry, change at request 2,000 (the detectors warm
up before it). Per case: detection rate, median and p90 delay (requests after the change), beside the
oracle (a CUSUM told the exact pre- and post-change distributions, threshold calibrated by simulation
to ARL0 = 100,000, i.e. 1 false alarm per 100,000 requests), river's ADWIN, PageHinkley and KSWIN at
their defaults on raw values (0/1 for rates) and a static threshold (rolling 100-request mean over
1.5x the warm-up mean; rates over 2x). Then false alarms per 100,000 requests on null streams (no
change at all), throughput (signal updates per second on one core) and bytes per stream key. "ours
change point" is the median error of our estimated change point (estimate minus truth, in requests)
at the first alarm after the change: negative is early. (With the change at 2,000, where the rate
detectors' warm-up ends, a rate alarm's estimate is often exactly right by construction; run with a
later change, --change 6000, to see the estimator at work.)

    python bench/detection.py            # default: 20 runs per case, 8 x 100,000 per null; ~7 minutes
    python bench/detection.py --quick    # 5 runs, shorter null streams, < 1 minute
    python bench/detection.py --runs 50 --null 1000000 --seed 7

Needs numpy (stream generation and the oracle's calibration) and river; the detectors are pure Python.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from routewatch.drift.detectors import SIGNALS, make_detector

CHANGE = 2000
WARM = 1000  # static baseline's reference window
ARL0 = 100_000

Gen = Callable[[np.random.Generator, int], np.ndarray]
Llr = Callable[[np.ndarray], np.ndarray]


# --- streams -------------------------------------------------------------------------------------------
def lognormal(median: float, sigma: float, after: float = 1.0) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> np.ndarray:
        x = median * np.exp(sigma * rng.standard_normal(n))
        x[CHANGE:] *= after
        return x

    return gen


def creep(median: float, sigma: float, final: float, over: int) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> np.ndarray:
        x = median * np.exp(sigma * rng.standard_normal(n))
        ramp = np.clip((np.arange(n) - CHANGE + 1) / over, 0.0, 1.0)
        return x * np.exp(math.log(final) * ramp)

    return gen


def tail_only(median: float, sigma: float, share: float, factor: float) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> np.ndarray:
        x = median * np.exp(sigma * rng.standard_normal(n))
        slow = rng.random(n) < share
        slow[:CHANGE] = False
        x[slow] *= factor
        return x

    return gen


def bernoulli(p0: float, p1: float) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> np.ndarray:
        p = np.full(n, p0)
        p[CHANGE:] = p1
        return (rng.random(n) < p).astype(float)

    return gen


def bursts(p0: float, p_burst: float, every: int, length: int) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> np.ndarray:
        p = np.full(n, p0)
        idx = np.arange(n) - CHANGE
        p[(idx >= 0) & (idx % every < length)] = p_burst
        return (rng.random(n) < p).astype(float)

    return gen


def gauss_llr(median: float, sigma: float, ratio: float) -> Llr:
    d, mu = math.log(ratio), math.log(median)
    return lambda x: (d * (np.log(x) - mu) - d * d / 2) / sigma**2


def tail_llr(median: float, sigma: float, share: float, factor: float) -> Llr:
    d, mu = math.log(factor), math.log(median)
    return lambda x: np.log1p(share * (np.exp((d * (np.log(x) - mu) - d * d / 2) / sigma**2) - 1.0))


def bern_llr(p0: float, p1: float) -> Llr:
    a, b = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    return lambda x: np.where(x > 0.5, a, b)


@dataclass
class Case:
    name: str
    signal: str
    gen: Gen
    horizon: int
    llr: Llr | None = None
    null: Gen | None = None  # pre-change distribution for the oracle's calibration
    rate: bool = False
    down: bool = False  # hurting direction is down (static threshold and river use it)
    brief: str = ""  # oracle / ADWIN figures quoted in the issue


CASES = [
    Case("latency x1.2", "latency", lognormal(1.2, 0.6, 1.2), 6000, gauss_llr(1.2, 0.6, 1.2),
         lognormal(1.2, 0.6), brief="210 / 303"),
    Case("latency x1.5", "latency", lognormal(1.2, 0.6, 1.5), 3000, gauss_llr(1.2, 0.6, 1.5),
         lognormal(1.2, 0.6), brief="50 / 63"),
    Case("latency x2", "latency", lognormal(1.2, 0.6, 2.0), 3000, gauss_llr(1.2, 0.6, 2.0), lognormal(1.2, 0.6)),
    Case("latency x1.5 (ms)", "latency", lognormal(1200.0, 0.6, 1.5), 3000, gauss_llr(1200.0, 0.6, 1.5),
         lognormal(1200.0, 0.6)),
    Case("ttft creep to x1.5 over 3000", "ttft", creep(0.4, 0.5, 1.5, 3000), 8000),
    Case("p99 only: 2% of calls x4", "latency", tail_only(1.2, 0.6, 0.02, 4.0), 10000,
         tail_llr(1.2, 0.6, 0.02, 4.0), lognormal(1.2, 0.6)),
    Case("cost USD x1.3 (1e-3)", "cost", lognormal(0.0012, 0.8, 1.3), 6000, gauss_llr(0.0012, 0.8, 1.3),
         lognormal(0.0012, 0.8)),
    Case("tokens/s x0.8 (down)", "tokens_per_s", lognormal(60.0, 0.35, 0.8), 3000, gauss_llr(60.0, 0.35, 0.8),
         lognormal(60.0, 0.35), down=True),
    Case("error 1% -> 3%", "error", bernoulli(0.01, 0.03), 10000, bern_llr(0.01, 0.03), bernoulli(0.01, 0.01),
         rate=True),
    Case("error 2% -> 5%", "error", bernoulli(0.02, 0.05), 10000, bern_llr(0.02, 0.05), bernoulli(0.02, 0.02),
         rate=True, brief="696 / 1063"),
    Case("429 bursts (0.5%; 40 of 500 at 50%)", "rate_limited", bursts(0.005, 0.5, 500, 40), 5000,
         bern_llr(0.005, 0.5), bernoulli(0.005, 0.005), rate=True),
    Case("schema_invalid 0.5% -> 3%", "schema_invalid", bernoulli(0.005, 0.03), 10000, bern_llr(0.005, 0.03),
         bernoulli(0.005, 0.005), rate=True, brief="460 / 855"),
]  # fmt: skip


def diurnal(median: float, sigma: float, amp: float, period: int) -> Gen:
    def gen(rng: np.random.Generator, n: int) -> np.ndarray:
        phase = rng.random() * 2 * math.pi
        day = np.exp(math.log(1 + amp) * np.sin(2 * math.pi * np.arange(n) / period + phase))
        return median * np.exp(sigma * rng.standard_normal(n)) * day

    return gen


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    x = 1.0 * np.exp(0.5 * rng.standard_normal(n))
    slow = rng.random(n) < 0.03
    x[slow] *= 5.0
    return x


def log_t(rng: np.random.Generator, n: int) -> np.ndarray:
    return 0.8 * np.exp(0.35 * rng.standard_t(3, n))


def tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.minimum(np.round(300 * np.exp(0.9 * rng.standard_normal(n))), 1024.0)


NULLS: list[tuple[str, str, Gen]] = [
    ("latency lognormal s=0.6", "latency", lognormal(1.2, 0.6)),
    ("latency bimodal (3% x5)", "latency", bimodal),
    ("latency log-t(3)", "latency", log_t),
    ("latency diurnal +-25%, period 86,400", "latency", diurnal(1.2, 0.6, 0.25, 86_400)),
    ("latency diurnal +-25%, period 14,400", "latency", diurnal(1.2, 0.6, 0.25, 14_400)),
    ("cost USD lognormal s=0.8", "cost", lognormal(0.0012, 0.8)),
    ("output tokens (ints, capped)", "output_tokens", tokens),
    ("error 0.1%", "error", bernoulli(0.001, 0.001)),
    ("error 0.5%", "error", bernoulli(0.005, 0.005)),
    ("error 2%", "error", bernoulli(0.02, 0.02)),
    ("error 5%", "error", bernoulli(0.05, 0.05)),
]
NULL_SEEDS = {name: i for i, (name, _, _) in enumerate(NULLS)}
# The diurnal streams again, each call timestamped so that the period is a day: the detectors' daily
# profile (drift/detectors/_season.py) needs timestamps, and the peers do not read them (same values,
# same false alarms as the rows above). Day one is unprotected by design and counted.
STAMPED: list[tuple[str, str, Gen, float]] = [
    ("  same, timestamped (a day = 86,400 calls)", "latency", diurnal(1.2, 0.6, 0.25, 86_400), 1.0),
    ("  same, timestamped (a day = 14,400 calls)", "latency", diurnal(1.2, 0.6, 0.25, 14_400), 6.0),
]


# --- detectors -----------------------------------------------------------------------------------------
OVERRIDES: dict[str, dict[str, Any]] = {}


def run_ours(signal: str, xs: list[float], stop_after: int | None, changes: list[int] | None = None) -> list[int]:
    """Alarm indices; ``changes`` (if given) receives each alarm's estimated change point."""
    det = make_detector(signal, **OVERRIDES.get(signal, {}))
    alarms = []
    for i, x in enumerate(xs, 1):
        v = det.update(x)
        if v is not None and v.kind == "alarm":
            alarms.append(i)
            if changes is not None:
                changes.append(v.change_index)
            if stop_after is not None and i > stop_after:
                break
    return alarms


def run_river(kind: str, xs: list[float], stop_after: int | None) -> list[int]:
    from river import drift

    det: Any = {"ADWIN": drift.ADWIN, "PageHinkley": drift.PageHinkley, "KSWIN": drift.KSWIN}[kind]()
    alarms = []
    for i, x in enumerate(xs, 1):
        det.update(x)
        if det.drift_detected:
            alarms.append(i)
            if stop_after is not None and i > stop_after:
                break
    return alarms


def run_static(xs: list[float], rate: bool, down: bool, stop_after: int | None) -> list[int]:
    base = statistics.fmean(xs[:WARM])
    alarms: list[int] = []
    window = 0.0
    quiet_until = 0
    for i, x in enumerate(xs, 1):
        window += x
        if i > 100:
            window -= xs[i - 101]
        if i <= WARM or i < quiet_until:
            continue
        mean = window / 100
        bad = mean > 2.0 * max(base, 1e-3) if rate else (mean < base / 1.5 if down else mean > base * 1.5)
        if bad:
            alarms.append(i)
            quiet_until = i + 100
            if stop_after is not None and i > stop_after:
                break
    return alarms


def oracle_threshold(case: Case, seed: int, chains: int = 2000, steps: int = 20_000) -> float:
    """Threshold giving ARL0 = 100,000 for the oracle's LLR CUSUM, by simulation under the null.

    Runs ``chains`` CUSUMs for ``steps`` updates at 13 thresholds at once (restarting at each alarm),
    fits log(false-alarm rate) ~ a + b h where at least 20 alarms were seen, and solves for 1e-5.
    """
    assert case.llr is not None and case.null is not None
    rng = np.random.default_rng(seed)
    hs = np.array([2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0, 16.0])
    s = np.zeros((len(hs), chains))
    alarms = np.zeros(len(hs))
    block = 2000
    for _ in range(steps // block):
        z = case.llr(_null_values(case, rng, block * chains)).reshape(block, chains)
        for t in range(block):
            s += z[t]
            np.maximum(s, 0.0, out=s)
            hit = s > hs[:, None]
            if hit.any():
                alarms += hit.sum(axis=1)
                s[hit] = 0.0
    rates = alarms / (steps // block * block * chains)
    ok = alarms >= 20
    b, a = np.polyfit(hs[ok], np.log(rates[ok]), 1)
    return float((math.log(1.0 / ARL0) - a) / b)


def _null_values(case: Case, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws from the pre-change distribution (the generators change nothing before CHANGE)."""
    assert case.null is not None
    parts = [case.null(rng, CHANGE) for _ in range(n // CHANGE + 1)]
    return np.concatenate(parts)[:n]


def run_oracle(llr: Llr, xs: np.ndarray, h: float) -> list[int]:
    z = llr(xs)
    s = 0.0
    alarms = []
    for i, v in enumerate(z.tolist(), 1):
        s = max(0.0, s + v)
        if s > h:
            alarms.append(i)
            s = 0.0
            if i > CHANGE:
                break
    return alarms


# --- reporting -----------------------------------------------------------------------------------------
@dataclass
class Result:
    delays: list[float] = field(default_factory=list)
    runs: int = 0

    def cell(self) -> str:
        if not self.runs:
            return "n/a"
        if not self.delays:
            return "0% -"
        d = sorted(self.delays)
        med = statistics.median(d)
        p90 = d[min(len(d) - 1, math.ceil(0.9 * len(d)) - 1)]
        rate = 100 * len(d) / self.runs
        return f"{rate:.0f}% {med:.0f}/{p90:.0f}"


def first_after(alarms: list[int], horizon_end: int) -> float | None:
    for a in alarms:
        if CHANGE < a <= horizon_end:
            return a - CHANGE
    return None


def detection(runs: int, seed: int, kswin_runs: int, quick: bool) -> None:
    cols = ["ours", "oracle", "ADWIN", "PageHinkley", "KSWIN", "static"]
    print(f"\n## Detection: change at request {CHANGE}; cells: detected % median/p90 delay (requests)\n")
    print(f"| case | {' | '.join(cols)} | ours/oracle | ours change point | brief oracle/ADWIN |")
    print("|" + "---|" * (len(cols) + 4))
    for ci, case in enumerate(CASES):
        t0 = time.perf_counter()
        res = {c: Result() for c in cols}
        cp_errors: list[int] = []  # estimated minus true change point, first alarm after the change
        sim = {"chains": 500, "steps": 10_000} if quick else {}
        h = oracle_threshold(case, seed + 1000 + ci, **sim) if case.llr else None
        for r in range(runs):
            rng = np.random.default_rng([seed, ci, r])
            arr = case.gen(rng, CHANGE + case.horizon)
            xs = arr.tolist()
            end = CHANGE + case.horizon
            changes: list[int] = []
            outs: dict[str, list[int] | None] = {
                "ours": run_ours(case.signal, xs, CHANGE, changes),
                "oracle": run_oracle(case.llr, arr, h) if case.llr and h is not None else None,
                "ADWIN": run_river("ADWIN", xs, CHANGE),
                "PageHinkley": run_river("PageHinkley", xs, CHANGE),
                "KSWIN": run_river("KSWIN", xs, CHANGE) if (not case.rate and r < kswin_runs) else None,
                "static": run_static(xs, case.rate, case.down, CHANGE),
            }
            for c, alarms in outs.items():
                if alarms is None:
                    continue
                res[c].runs += 1
                d = first_after(alarms, end)
                if d is not None:
                    res[c].delays.append(d)
                    if c == "ours":
                        cp_errors.append(changes[alarms.index(CHANGE + int(d))] - (CHANGE + 1))
        ratio = "n/a"
        if res["oracle"].delays and res["ours"].delays:
            ratio = f"{statistics.median(res['ours'].delays) / statistics.median(res['oracle'].delays):.2f}"
        cells = " | ".join(res[c].cell() for c in cols)
        hs = f" (h={h:.2f})" if h is not None else ""
        cp = f"{statistics.median(cp_errors):+.0f}" if cp_errors else "-"
        print(f"| {case.name}{hs} | {cells} | {ratio} | {cp} | {case.brief or '-'} |", flush=True)
        del t0


def false_alarms(length: int, streams: int, seed: int, kswin_len: int) -> None:
    print(
        f"\n## False alarms per 100,000 requests on null streams ({streams} x {length:,} requests per row, 4x "
        f"for error rates, "
        f"counted after request {CHANGE}; KSWIN, 4k updates/s, on the first {kswin_len:,} of one stream)\n"
    )
    cols = ["ours", "ours recovered", "ADWIN", "PageHinkley", "KSWIN", "static"]
    print(f"| null stream | {cols[0]} | ours: alarms, 95% CI | {' | '.join(cols[1:])} |")
    print("|" + "---|" * (len(cols) + 2))
    # each timestamped row right after the row with its values (run only when that row is selected)
    stamped_as = ["latency diurnal +-25%, period 86,400", "latency diurnal +-25%, period 14,400"]
    stamped_after = dict(zip(stamped_as, STAMPED, strict=True))
    rows: list[tuple[int, str, str, Gen, float | None]] = []
    for name, signal, gen in NULLS:
        ni = NULL_SEEDS[name]  # its place in the full list: a row's streams do not depend on --cases
        rows.append((ni, name, signal, gen, None))
        if name in stamped_after:
            sname, ssignal, sgen, step = stamped_after[name]
            rows.append((ni, sname, ssignal, sgen, step))
    for ni, name, signal, gen, step in rows:
        counts = dict.fromkeys(cols, 0)
        seen = dict.fromkeys(cols, 0)
        rate = signal == "error"
        for s in range(streams * (4 if rate else 1)):  # rates are cheap and their false alarms rarer: 4x data
            rng = np.random.default_rng([seed, 99, ni, s])
            xs = gen(rng, length).tolist()
            det = make_detector(signal, **OVERRIDES.get(signal, {}))
            for i, x in enumerate(xs, 1):
                v = det.update(x, None if step is None else i * step)
                if v is not None and i > CHANGE:
                    counts["ours" if v.kind == "alarm" else "ours recovered"] += 1
            seen["ours"] += length - CHANGE
            seen["ours recovered"] += length - CHANGE
            if step is not None:
                continue  # the same values as the row above: the peers, which take no timestamps, too
            for c in ("ADWIN", "PageHinkley", "static"):
                alarms = run_static(xs, rate, False, None) if c == "static" else run_river(c, xs, None)
                counts[c] += sum(1 for a in alarms if a > CHANGE)
                seen[c] += length - CHANGE
            if s == 0 and not rate:
                counts["KSWIN"] += sum(1 for a in run_river("KSWIN", xs[: CHANGE + kswin_len], None) if a > CHANGE)
                seen["KSWIN"] += kswin_len
        cells = [f"{1e5 * counts[c] / seen[c]:.2f}" if seen[c] else "as above" if step else "n/a" for c in cols]
        low, high = poisson_interval(counts["ours"])
        cells.insert(1, f"{counts['ours']}, {1e5 * low / seen['ours']:.2f}-{1e5 * high / seen['ours']:.2f}")
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def poisson_interval(k: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for the mean of a Poisson count `k`: how far a false-alarm rate read
    from a few alarms may be from the true one (9 alarms: 4.1-17.1)."""
    from scipy.stats import chi2

    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(chi2.ppf(tail, 2 * k)) / 2
    return low, float(chi2.ppf(1 - tail, 2 * k + 2)) / 2


def timed_updates(
    values: dict[str, list[float]], half: int, step: float | None = None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Each signal's detector warmed up on the first ``half`` values, then seconds for the rest;
    with ``step``, every value is timestamped ``step`` s after the one before."""
    dets = {sig: make_detector(sig) for sig in values}
    seconds: dict[str, float] = {}
    for sig, det in dets.items():
        for i, x in enumerate(values[sig][:half], 1):  # warm up and reach steady state
            det.update(x, None if step is None else i * step)
        upd, xs = det.update, values[sig][half:]
        if step is None:
            t0 = time.perf_counter()
            for x in xs:
                upd(x)
        else:
            t, dt = half * step, step
            t0 = time.perf_counter()
            for x in xs:
                t += dt
                upd(x, t)
        seconds[sig] = time.perf_counter() - t0
    return dets, seconds


def key_memory(
    values: dict[str, list[float]], keys: int, count: int, step: float | None = None
) -> tuple[float, list[dict[str, Any]]]:
    """Bytes per stream key (tracemalloc) after ``count`` values per signal, timestamped every ``step`` s."""
    # full collections first and last: they also empty CPython's free lists (freed tuples and floats
    # kept for reuse, bounded per process), which tracemalloc would otherwise count as live
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    sets = []
    for _ in range(keys):
        ds = {sig: make_detector(sig) for sig in values}
        for sig, det in ds.items():
            for i, x in enumerate(values[sig][:count], 1):
                det.update(x, None if step is None else i * step)
        sets.append(ds)
    gc.collect()
    per_key = (tracemalloc.get_traced_memory()[0] - before) / keys
    tracemalloc.stop()
    return per_key, sets


def throughput_and_memory(seed: int, quick: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 6_000 if quick else 20_000  # half to warm up (and reach steady state), half timed
    values: dict[str, list[float]] = {}
    for sig in sorted(SIGNALS):
        if sig in ("latency", "ttft", "tpot"):
            values[sig] = (0.8 * np.exp(0.6 * rng.standard_normal(n))).tolist()
        elif sig == "tokens_per_s":
            values[sig] = (60 * np.exp(0.35 * rng.standard_normal(n))).tolist()
        elif sig == "output_tokens":
            values[sig] = tokens(rng, n).tolist()
        elif sig == "cost":
            values[sig] = (0.0012 * np.exp(0.8 * rng.standard_normal(n))).tolist()
        elif sig == "score":
            values[sig] = np.clip(0.8 + 0.1 * rng.standard_normal(n), 0, 1).tolist()
        else:
            values[sig] = (rng.random(n) < 0.01).astype(float).tolist()
    half = n // 2
    dets, seconds = timed_updates(values, half)
    per_family: dict[str, float] = {}
    total_t = sum(seconds.values())
    for sig, det in dets.items():
        per_family.setdefault(type(det).__name__, 0.0)
        per_family[type(det).__name__] += seconds[sig] / half / sum(1 for d in dets.values() if type(d) is type(det))
    total = half * len(dets)
    print(f"\n## Throughput (one core, steady state, {len(dets)} signals x {half:,} updates)\n")
    print(f"- all signals of a stream key, mixed: {total / total_t:,.0f} updates/s")
    for fam, sec in per_family.items():
        print(f"- {fam}: {1 / sec:,.0f} updates/s ({1e6 * sec:.2f} us/update)")

    # memory: tracemalloc over many stream keys (steady state, after warm-up), and nbytes
    keys = 10 if quick else 100
    per_key, sets = key_memory(values, keys, min(n // 2, 2500))  # past every warm-up (2,000 at most)
    container = sys.getsizeof(sets[0])  # the dict holding a key's detectors (the monitor's, not theirs)
    nb = sum(d.nbytes for d in sets[0].values())
    cont = [d.nbytes for d in sets[0].values() if type(d).__name__ == "LogScaleCUSUM"]
    rates = [d.nbytes for d in sets[0].values() if type(d).__name__ == "BernoulliCUSUM"]
    print(f"\n## Memory per stream key ({len(values)} signals, steady state)\n")
    print(
        f"- tracemalloc over {keys} keys: {per_key:,.0f} B per key ({per_key / 1024:.1f} KiB), of which "
        f"{per_key - container:,.0f} B are the detectors and {container} B the dict holding them"
    )
    print(f"- sum of nbytes: {nb / 1024:.1f} KiB (LogScaleCUSUM {statistics.fmean(cont):,.0f} B each, "
          f"BernoulliCUSUM {statistics.fmean(rates):,.0f} B each)")  # fmt: skip

    # the same with timestamps spanning more than a day and an hour: every daily profile is on
    stamped_t = sum(timed_updates(values, half, 1.1 * 86_400 / half)[1].values())
    stamped, sets = key_memory(values, keys, min(half, 2500), 1.1 * 86_400 / min(half, 2500))
    ready = sum(1 for d in sets[0].values() if isinstance(d.state().get("daily_profile"), dict))
    print(f"\n## With timestamps over a day (the {ready} daily profiles on)\n")
    print(f"- all signals of a stream key, mixed: {total / stamped_t:,.0f} updates/s")
    print(f"- tracemalloc over {keys} keys: {stamped:,.0f} B per key ({stamped / 1024:.1f} KiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=None, help="trials per case (default 20; 5 with --quick)")
    ap.add_argument("--null", type=int, default=None, help="requests per null stream (default 100,000)")
    ap.add_argument("--streams", type=int, default=None, help="null streams per null case (default 8)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--change", type=int, default=2000, help="request where the change starts (default 2,000)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["detection", "null", "speed"], default=None)
    ap.add_argument("--cases", default="", help="comma-separated substrings: run only matching cases / nulls")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SIGNAL.PARAM=VALUE",
        help="override a detector parameter, e.g. --set error.uncertainty=0.5 (repeatable)",
    )
    args = ap.parse_args()
    globals()["CHANGE"] = args.change  # the generators, baselines and the oracle read it at call time
    if args.cases:
        keep = [c.strip() for c in args.cases.split(",")]
        CASES[:] = [c for c in CASES if any(k in c.name for k in keep)]
        NULLS[:] = [c for c in NULLS if any(k in c[0] for k in keep)]
    for item in args.set:
        key, value = item.split("=", 1)
        signal, param = key.split(".", 1)
        OVERRIDES.setdefault(signal, {})[param] = float(value) if "." in value or "e" in value else int(value)
    runs = args.runs or (5 if args.quick else 20)
    length = args.null or (20_000 if args.quick else 100_000)
    streams = args.streams or (1 if args.quick else 8)
    t0 = time.perf_counter()
    if args.only in (None, "detection"):
        detection(runs, args.seed, kswin_runs=2 if args.quick else 5, quick=args.quick)
    if args.only in (None, "null"):
        false_alarms(length, streams, args.seed, kswin_len=2_000 if args.quick else 20_000)
    if args.only in (None, "speed"):
        throughput_and_memory(args.seed, args.quick)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
