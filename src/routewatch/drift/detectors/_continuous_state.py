"""LogScaleCUSUM's status and persistence: ``state`` for people, ``snapshot``/``restore`` for restarts."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from ._bank import shared
from ._continuous_verdicts import NO_RING, NO_VALUES, WARMUP, baseline_summary
from ._scores import Atoms
from ._season import DailyProfile
from ._warm import WarmValues, on_grid

if TYPE_CHECKING:
    from .continuous import LogScaleCUSUM

__all__ = ["restore", "snapshot", "state"]


def state(det: LogScaleCUSUM) -> dict[str, Any]:
    status: dict[str, Any] = {
        "detector": "LogScaleCUSUM",
        "n": det._n,
        "phase": ("watch", "warm_up", "cooldown")[det._phase],
        "warm_up_progress": min(1.0, det._n / det.warm_up),
        "in_alarm": det._in_alarm,
    }
    if det._phase != WARMUP:
        b = baseline_summary(det, det._off, det._mean, det._n_base)
        det._tail._advance(det._n)
        status["baseline"] = {
            "mean": b.mean, "p50": b.p50, "p95": b.p95, "p99": b.p99, "log_sd": det._scale,
            "tail_rate": det._tail.rate()[0],
        }  # fmt: skip
        season = det._season
        status["daily_profile"] = (
            "off" if season is None else "waiting" if isinstance(season, float)
            else {"ready": season.ready, "offsets": season.offsets()}
        )  # fmt: skip
        status["statistics"] = {
            "shift_up": [det._s1, det._h1], "shift_up_large": [det._s2, det._h2],
            "improve": [det._sd, det._hd], "tail": list(det._tail.member(0)[:2]),
        }  # fmt: skip
    return status


def snapshot(det: LogScaleCUSUM) -> dict[str, Any]:
    return {
        "detector": "LogScaleCUSUM", "params": det.params, "n": det._n, "t": det._t,
        "phase": det._phase, "due": det._due, "warm": list(det._warm), "ring": list(det._ring),
        "ri": det._ri, "anchor": det._anchor, "qs": det._qs, "knots": list(det._knots),
        "atoms": None if det._atoms is None else [[k, v] for k, v in det._atoms.items()],
        "off": det._off, "mean": det._mean, "fast": det._fast,
        "n_base": det._n_base, "s": [det._s1, det._s2, det._sd], "c": [det._c1, det._c2, det._cd],
        "over": det._over, "in_alarm": det._in_alarm,
        # at warm-up, the tail test the fit would start from were the table's edge the clip (as before)
        "tail": (det._new_tail(det.clip) if det._phase == WARMUP else det._tail).snapshot(),
        "ref": None if det._ref is None else list(det._ref), "alarm": [det._alarm_off, det._alarm_tail],
        "fired": det._fired, "change": det._change,
        "season": det._season.snapshot() if isinstance(det._season, DailyProfile) else det._season,
    }  # fmt: skip


def restore(det: LogScaleCUSUM, snap: dict[str, Any]) -> None:
    if snap.get("detector") != "LogScaleCUSUM":
        raise ValueError("not a LogScaleCUSUM snapshot")
    det._n, det._t, det._phase, det._due = int(snap["n"]), snap["t"], int(snap["phase"]), int(snap["due"])
    # a warm-up always gets a buffer of its own, even an empty one (NO_VALUES is shared by every detector)
    det._warm = WarmValues(snap["warm"]) if det._phase == WARMUP else NO_VALUES
    if det._phase == WARMUP:  # its window is made at the fit (older snapshots hold an idle one)
        det._ring, det._ri = NO_RING, 0
    else:
        det._ring, det._ri = array("h", snap["ring"]), int(snap["ri"])
        if len(det._ring) != det.window or not 0 <= det._ri < det.window:
            raise ValueError(f"a window of {det.window} values was expected, got {len(det._ring)} at {det._ri}")
    det._anchor, det._qs = float(snap["anchor"]), float(snap["qs"])
    det._knots = array("f", snap["knots"]) if snap["knots"] else NO_VALUES
    atoms = snap["atoms"]
    # older snapshots keyed atoms by their float32 value: onto the grid the warm-up now keeps
    det._atoms = None if atoms is None else Atoms((on_grid(float(k)), float(v)) for k, v in atoms)
    det._atom_z = 0.0
    if det._knots:
        det._set_scale()
    det._off, det._mean, det._n_base = float(snap["off"]), float(snap["mean"]), int(snap["n_base"])
    # the location's running mean after a (re-)baseline (see `_learn`): its rate, not the half-life's,
    # until it is spent (absent from older snapshots: the half-life's, as they restored before)
    det._fast = int(snap.get("fast", 0))
    if det._fast:
        det._eta_s = 1.0 / det._fast * det._scale
        if det._fast <= det.warm_up and det._phase != WARMUP:
            det._widen_for_young_baseline()
    det._s1, det._s2, det._sd = (float(v) for v in snap["s"])
    det._c1, det._c2, det._cd = (int(v) for v in snap["c"])
    det._over = int(snap["over"])
    if det._phase != WARMUP:
        det._tail = det._new_tail(det._zmax if det._sign > 0 else -det._zmin)  # bands up to the table's edge
        det._tail.restore(snap["tail"])
        det._tail_due = det._tail.due
    det._in_alarm = bool(snap["in_alarm"])
    ref = snap["ref"]
    det._ref = None if ref is None else (float(ref[0]), float(ref[1]), int(ref[2]), float(ref[3]), float(ref[4]))
    det._alarm_off, det._alarm_tail = (shared(float(v)) for v in snap["alarm"])  # mostly 0.0, as when live
    det._fired, det._change = str(snap["fired"]), int(snap["change"])
    season = snap.get("season")  # absent from snapshots taken before daily profiles
    det._season = DailyProfile.from_snapshot(season) if isinstance(season, dict) else (
        None if season is None else float(season))  # fmt: skip
