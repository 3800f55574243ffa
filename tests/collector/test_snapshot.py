"""Detector state survives a restart: written atomically at shutdown (and periodically), restored at
start, so a restarted collector alarms on a regression against the baseline it learnt before."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from ingest_support import export_request, running

from routewatch.collector.snapshot import Snapshots, read_snapshot, write_atomic
from routewatch.drift import DriftMonitor, MonitorConfig

FAST = MonitorConfig(detector_overrides={"latency": {"warm_up": 50}})


def _send(collector, request) -> None:
    response = httpx.post(collector.http_url + "/v1/traces", content=request.SerializeToString(),
                          headers={"content-type": "application/x-protobuf"})  # fmt: skip
    assert response.status_code == 200
    assert collector.flush(10)


def _latency_baseline(collector) -> dict:
    (stream,) = collector.monitor.state().values()
    return stream["signals"]["latency"]


def test_a_restart_keeps_the_baselines_and_alarms_against_them(tmp_path: Path) -> None:
    path = tmp_path / "state" / "snapshot.json"
    with running(snapshot_path=path, monitor=FAST) as first:
        for _ in range(4):
            _send(first, export_request(50, duration_ns=200_000_000, seed=_))
        before = _latency_baseline(first)
        calls_before = {label: s["calls"] for label, s in first.monitor.state().items()}
    assert path.exists() and read_snapshot(path) is not None

    with running(snapshot_path=path, monitor=FAST) as second:
        assert second.snapshots is not None and second.snapshots.restored_streams == 1
        assert {label: s["calls"] for label, s in second.monitor.state().items()} == calls_before
        assert _latency_baseline(second) == before
        alarms = []
        second.monitor.subscribe(alarms.append)
        for _ in range(4):  # 5x slower: an alarm without a second warm-up
            _send(second, export_request(25, duration_ns=1_000_000_000, seed=10 + _))
        assert any(a.kind == "alarm" and a.signal == "latency" for a in alarms)

    with running(monitor=FAST) as amnesiac:  # the same slow calls, without the old baseline: no alarm
        alarms = []
        amnesiac.monitor.subscribe(alarms.append)
        for _ in range(4):
            _send(amnesiac, export_request(25, duration_ns=1_000_000_000, seed=10 + _))
        assert not any(a.kind == "alarm" and a.signal == "latency" for a in alarms)


def test_without_a_snapshot_a_restart_starts_from_scratch(tmp_path: Path) -> None:
    with running(monitor=FAST) as first:
        _send(first, export_request(60))
        assert first.monitor.state()
    with running(monitor=FAST) as second:
        assert second.monitor.state() == {}


def test_periodic_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    with running(snapshot_path=path, snapshot_interval_s=0.1) as collector:
        _send(collector, export_request(10))
        after_send = collector.snapshots.saved
        deadline = time.monotonic() + 5
        while collector.snapshots.saved < after_send + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert collector.snapshots.saved >= after_send + 2  # a full interval after the records went in
        streams = read_snapshot(path)["drift"]["streams"]
        assert streams and streams[0]["n"] == 10


def test_an_unreadable_snapshot_is_moved_aside_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text("{ torn write")
    with running(snapshot_path=path) as collector:
        assert collector.monitor.state() == {}
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("snapshot.json.unreadable-")]
    assert len(aside) == 1 and aside[0].read_text() == "{ torn write"
    assert read_snapshot(path) is not None  # the shutdown snapshot is a fresh, valid one


def test_unreadable_snapshots_set_aside_within_one_second_are_all_kept(tmp_path: Path, monkeypatch) -> None:
    """Each unreadable snapshot gets its own name: a second failure in the same second (a crash loop)
    never overwrites the first one kept, nor a file that happens to hold the name already."""
    import routewatch.collector.snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "time", SimpleNamespace(time=lambda: 1_700_000_000.25))
    path = tmp_path / "snapshot.json"
    (tmp_path / "snapshot.json.unreadable-1700000000.2").write_text("someone else's")
    for i in range(3):
        path.write_text(f"torn write {i}")
        assert not Snapshots(path, DriftMonitor(sinks=[])).restore()
        assert not path.exists()
    kept = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert kept == {
        "snapshot.json.unreadable-1700000000": "torn write 0",
        "snapshot.json.unreadable-1700000000.1": "torn write 1",
        "snapshot.json.unreadable-1700000000.2": "someone else's",
        "snapshot.json.unreadable-1700000000.3": "torn write 2",
    }


def test_a_snapshot_of_another_format_or_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a routewatch collector snapshot"):
        read_snapshot(path)
    path.write_text(json.dumps({"format": "routewatch-collector-snapshot", "version": 99}))
    with pytest.raises(ValueError, match="version"):
        read_snapshot(path)
    assert read_snapshot(tmp_path / "missing.json") is None


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.json"
    write_atomic(path, b"old")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind


def test_failed_save_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    snapshots = Snapshots(blocker / "snapshot.json", DriftMonitor(sinks=[]))  # parent is a file
    assert snapshots.save() is False and snapshots.failures == 1


def test_registered_parts_are_saved_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    first = Snapshots(path, DriftMonitor(sinks=[]))
    first.add_part("fleet", lambda: {"ejected": ["openai/gpt-4o"]}, lambda data: None)
    assert first.save()
    restored = []
    second = Snapshots(path, DriftMonitor(sinks=[]))
    second.add_part("fleet", lambda: None, restored.append)
    assert second.restore() is True
    assert restored == [{"ejected": ["openai/gpt-4o"]}]
