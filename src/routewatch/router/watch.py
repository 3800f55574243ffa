"""Config file watching: poll a router config's modification time, apply a valid new version, log
and ignore an invalid one (the running config stays). Polling, not inotify: it works the same on
every platform and in containers with bind mounts, and costs one stat() per interval.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any

from .config import load_config

__all__ = ["ConfigWatcher"]

log = logging.getLogger("routewatch.router")


class ConfigWatcher:
    """Polls a config file's modification time; loads and applies it when it changes."""

    def __init__(self, router: Any, path: str, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.path, self.interval_s = path, interval_s
        self._router = weakref.ref(router)
        self._stop = threading.Event()
        self._seen = self._stamp()
        self.reloads = 0
        self.errors = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="routewatch-router-config", daemon=True)
        self._thread.start()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def check(self) -> bool:
        """Reload now if the file changed; True when a new config was applied."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        router = self._router()
        if router is None:
            self._stop.set()
            return False
        try:
            router.update(load_config(self.path))
        except Exception as exc:
            self.errors += 1
            self.last_error = str(exc)
            log.warning("routewatch router: ignoring the new config (keeping the current one): %s", exc)
            return False
        self.reloads += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:
                log.warning("routewatch router: config watcher error", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
