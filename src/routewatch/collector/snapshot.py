"""Detector state on disk, so a restarted collector keeps its baselines.

The file is JSON: the drift monitor's `snapshot()` plus named parts other components add. It is
written atomically (a temporary file in the same directory, fsync, rename), so a crash mid-write
leaves the previous snapshot intact. A file that cannot be read is moved aside (never silently
overwritten) and the collector starts fresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..drift.monitor import DriftMonitor

__all__ = ["FORMAT", "Snapshots", "read_snapshot", "set_aside", "write_atomic"]

log = logging.getLogger("routewatch.collector")

FORMAT = "routewatch-collector-snapshot"
VERSION = 1


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a torn one."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The snapshot at `path`; None if there is none. Raises ValueError when it is unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a routewatch collector snapshot")
    if data.get("version") != VERSION:
        raise ValueError(f"{path} has unsupported snapshot version {data.get('version')!r}")
    return data


_MAX_ASIDE_TRIES = 1_000


def set_aside(path: Path) -> Path | None:
    """Move `path` to `<name>.unreadable-<unix seconds>` (`.1`, `.2`, ... after it when that is taken),
    never over an existing file: two failures in one second (a crash loop) each keep theirs. The name
    is claimed by creating it exclusively, then the file is renamed onto the claim. None (logged by
    the caller) when it could not be moved."""
    stem = f"{path.name}.unreadable-{int(time.time())}"
    for n in range(_MAX_ASIDE_TRIES):
        aside = path.with_name(stem if n == 0 else f"{stem}.{n}")
        try:
            os.close(os.open(aside, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            continue
        except OSError:
            return None
        try:
            os.replace(path, aside)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(aside)
            return None
        return aside
    return None


Part = tuple[Callable[[], Any], Callable[[Any], None]]


class Snapshots:
    """Saves and restores the monitor (and registered parts) at one path."""

    def __init__(self, path: Path, monitor: DriftMonitor) -> None:
        self.path = path
        self.monitor = monitor
        self.parts: dict[str, Part] = {}
        self.saved = 0
        self.failures = 0
        self.last_saved_at: float | None = None
        self.restored_streams = 0

    def add_part(self, name: str, save: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        """Also keep `save()`'s JSON-able result, and hand it to `restore` at start."""
        self.parts[name] = (save, restore)

    def save(self) -> bool:
        """Write the current state; False (logged, counted) if it could not be written."""
        try:
            drift = self.monitor.snapshot()
            parts = {name: save() for name, (save, _) in self.parts.items()}
            now = time.time()
            body = {"format": FORMAT, "version": VERSION, "saved_at": now, "drift": drift, "parts": parts}
            write_atomic(self.path, json.dumps(body, separators=(",", ":")).encode())
        except Exception:
            self.failures += 1
            log.exception("routewatch collector: could not write the detector snapshot to %s", self.path)
            return False
        self.saved += 1
        self.last_saved_at = now
        return True

    def restore(self) -> bool:
        """Load the snapshot if there is one; a bad one is moved aside. True when state was restored."""
        try:
            data = read_snapshot(self.path)
            if data is None:
                return False
            self.monitor.restore(data["drift"])
        except Exception as exc:
            aside = set_aside(self.path)
            if aside is not None:
                log.error("routewatch collector: ignoring snapshot %s (%s); moved to %s", self.path, exc, aside)
            else:
                log.error("routewatch collector: ignoring snapshot %s (%s); it could not be moved aside",
                          self.path, exc)  # fmt: skip
            return False
        for name, (_, restore) in self.parts.items():
            if name in data.get("parts", {}):
                try:
                    restore(data["parts"][name])
                except Exception:
                    log.exception("routewatch collector: could not restore snapshot part %r", name)
        self.restored_streams = len(data["drift"].get("streams", ()))
        log.info(
            "routewatch collector: restored %d streams from %s (saved %.0f s ago)",
            self.restored_streams, self.path, time.time() - float(data.get("saved_at", time.time())),
        )  # fmt: skip
        return True
