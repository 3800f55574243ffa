"""What the drift engine says: `StreamKey` (whose behaviour) and `Alarm` (what changed, how sure).

`Alarm` is a pydantic model because it leaves the process: webhooks, log records, the collector's
API and the router's ledger all carry it as JSON. `StreamKey` stays a frozen dataclass: it is a
dictionary key on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Alarm", "SignalStats", "StreamKey"]


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One stream of calls whose behaviour is tracked: provider, model, operation, plus optional
    extra dimensions (tenant, route, ...) as sorted pairs."""

    provider: str
    model: str
    operation: str = "chat"
    extra: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, key: StreamKey | tuple[str, ...]) -> StreamKey:
        """Accept a StreamKey or a `(provider, model)` / `(provider, model, operation)` tuple."""
        if isinstance(key, StreamKey):
            return key
        if isinstance(key, tuple) and 2 <= len(key) <= 3 and all(isinstance(part, str) for part in key):
            return cls(key[0], key[1], key[2] if len(key) == 3 else "chat")
        raise ValueError(f"a stream key is a StreamKey or a (provider, model[, operation]) tuple, got {key!r}")

    def label(self) -> str:
        """`provider/model`, with the operation when it is not chat, and extra dimensions."""
        text = f"{self.provider}/{self.model}"
        if self.operation != "chat":
            text += f" ({self.operation})"
        if self.extra:
            text += " [" + ", ".join(f"{k}={v}" for k, v in self.extra) + "]"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "operation": self.operation, "extra": dict(self.extra)}


class SignalStats(BaseModel):
    """Summary of one regime of a signal, from routewatch's own sketches."""

    model_config = ConfigDict(frozen=True)

    n: int
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class Alarm(BaseModel):
    """A detected change in one signal of one stream, or its recovery, with the evidence."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["alarm", "recovered", "change"] = "alarm"
    stream_key: dict[str, Any] = Field(description="provider, model, operation, extra")
    signal: str
    direction: Literal["up", "down", "changed"]
    detector: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    detected_at: datetime
    change_index: int | None = Field(default=None, description="Estimated change point, in calls of this stream")
    calls_since_change: int | None = None
    before: SignalStats | None = None
    after: SignalStats | None = None
    effect_size: float | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    traffic_shift: bool = Field(default=False, description="Most streams moved together: a shift, not one provider")
    explanation: str

    @property
    def key(self) -> StreamKey:
        data = self.stream_key
        return StreamKey(data["provider"], data["model"], data.get("operation", "chat"),
                         tuple(sorted(data.get("extra", {}).items())))  # fmt: skip
