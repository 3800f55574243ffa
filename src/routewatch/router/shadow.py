"""Shadow traffic: a sample of requests is replayed to a candidate target in the background and the
two answers compared, without touching the caller's response or latency.

The shadow call runs in a daemon thread (sync) or a task on the caller's loop (async), at most
`max_concurrent` at once per task class (over that, the sample is skipped and counted). Its outcome
feeds the candidate's health and statistics like any other call; the comparison becomes a
`routewatch.shadow <task>` span linked to the request's routing span, and a bounded log.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Comparison", "ShadowLedger", "compare_results", "output_text"]

Comparator = Callable[[Any, Any], Mapping[str, Any]]


def output_text(result: Any) -> str | None:
    """The text of an SDK response (openai chat/responses, anthropic messages, google-genai), if found."""
    try:
        choices = getattr(result, "choices", None)
        if choices:
            content = getattr(getattr(choices[0], "message", None), "content", None)
            if isinstance(content, str):
                return content
        text = getattr(result, "output_text", None)  # OpenAI Responses
        if isinstance(text, str):
            return text
        blocks = getattr(result, "content", None)  # Anthropic
        if isinstance(blocks, list):
            parts = [getattr(b, "text", None) for b in blocks]
            if any(isinstance(p, str) for p in parts):
                return "".join(p for p in parts if isinstance(p, str))
        text = getattr(result, "text", None)  # google-genai
        if isinstance(text, str):
            return text
        if isinstance(result, str):
            return result
    except Exception:  # a property that raises (e.g. genai .text on a blocked answer) is no text
        return None
    return None


def compare_results(primary: Any, shadow: Any) -> dict[str, Any]:
    """Default comparison: exact text match and length ratio, when both answers have text."""
    a, b = output_text(primary), output_text(shadow)
    if a is None or b is None:
        return {}
    return {"same_output": a == b, "length_ratio": round(len(b) / len(a), 4) if a else None}


@dataclass(frozen=True)
class Comparison:
    """One shadowed request: how the primary and the candidate fared."""

    task: str
    primary: str
    shadow: str
    primary_ok: bool
    shadow_ok: bool
    primary_latency_s: float | None
    shadow_latency_s: float | None
    shadow_error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def latency_ratio(self) -> float | None:
        if not self.primary_latency_s or self.shadow_latency_s is None:
            return None
        return self.shadow_latency_s / self.primary_latency_s

    def as_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "routewatch.router.task": self.task,
            "routewatch.shadow.primary": self.primary,
            "routewatch.shadow.target": self.shadow,
            "routewatch.shadow.primary_ok": self.primary_ok,
            "routewatch.shadow.ok": self.shadow_ok,
        }
        for key, value in (("routewatch.shadow.primary_latency_s", self.primary_latency_s),
                           ("routewatch.shadow.latency_s", self.shadow_latency_s),
                           ("routewatch.shadow.latency_ratio", self.latency_ratio),
                           ("error.type", self.shadow_error)):  # fmt: skip
            if value is not None:
                out[key] = value
        for key, value in self.details.items():
            if isinstance(value, (str, bool, int, float)):
                out[f"routewatch.shadow.{key}"] = value
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "primary": self.primary, "shadow": self.shadow, "primary_ok": self.primary_ok,
                "shadow_ok": self.shadow_ok, "primary_latency_s": self.primary_latency_s,
                "shadow_latency_s": self.shadow_latency_s, "latency_ratio": self.latency_ratio,
                "shadow_error": self.shadow_error, "details": dict(self.details)}  # fmt: skip


class ShadowLedger:
    """Counts and the last comparisons; slots limit concurrent shadow calls."""

    def __init__(self, keep: int = 100) -> None:
        self._lock = threading.Lock()
        self.recent: deque[Comparison] = deque(maxlen=keep)
        self._in_flight: dict[str, int] = {}
        self.skipped_busy = 0
        self._per_target: dict[str, dict[str, float]] = {}

    def acquire(self, task: str, limit: int) -> bool:
        with self._lock:
            if self._in_flight.get(task, 0) >= limit:
                self.skipped_busy += 1
                return False
            self._in_flight[task] = self._in_flight.get(task, 0) + 1
            return True

    def release(self, task: str) -> None:
        with self._lock:
            self._in_flight[task] = max(0, self._in_flight.get(task, 0) - 1)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(self._in_flight.values())

    def add(self, comparison: Comparison) -> None:
        with self._lock:
            self.recent.append(comparison)
            row = self._per_target.setdefault(comparison.shadow, {"compared": 0, "shadow_errors": 0,
                                                                  "same_output": 0, "latency_ratio_sum": 0.0,
                                                                  "latency_ratio_n": 0})  # fmt: skip
            row["compared"] += 1
            row["shadow_errors"] += int(not comparison.shadow_ok)
            row["same_output"] += int(comparison.details.get("same_output") is True)
            ratio = comparison.latency_ratio
            if ratio is not None and math.isfinite(ratio):
                row["latency_ratio_sum"] += ratio
                row["latency_ratio_n"] += 1

    def summary(self, target: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._per_target.get(target)
            if row is None:
                return None
            n = row["latency_ratio_n"]
            return {"compared": int(row["compared"]), "shadow_errors": int(row["shadow_errors"]),
                    "same_output": int(row["same_output"]),
                    "mean_latency_ratio": row["latency_ratio_sum"] / n if n else None}  # fmt: skip
